// See etcd_codec.h.
#include "election/etcd_codec.h"

#include <array>
#include <charconv>
#include <limits>

#include <nlohmann/json.hpp>

#include "election/json_integer.h"
#include "election/bounded_json.h"
#include "printable/printable_excerpt.h"

namespace pgha::election {

using nlohmann::json;

Compare Compare::create_revision_equals(std::string key, std::int64_t revision) {
  Compare compare;
  compare.key = std::move(key);
  compare.target = Target::kCreateRevision;
  compare.number = revision;
  return compare;
}

Compare Compare::mod_revision_equals(std::string key, std::int64_t revision) {
  Compare compare;
  compare.key = std::move(key);
  compare.target = Target::kModRevision;
  compare.number = revision;
  return compare;
}

Compare Compare::value_equals(std::string key, std::string value) {
  Compare compare;
  compare.key = std::move(key);
  compare.target = Target::kValue;
  compare.value = std::move(value);
  return compare;
}

TxnOp TxnOp::put(std::string key, std::string value, std::int64_t lease) {
  TxnOp op;
  op.kind = Kind::kPut;
  op.key = std::move(key);
  op.value = std::move(value);
  op.lease = lease;
  return op;
}

TxnOp TxnOp::range(std::string key) {
  TxnOp op;
  op.kind = Kind::kRange;
  op.key = std::move(key);
  return op;
}

TxnOp TxnOp::delete_key(std::string key) {
  TxnOp op;
  op.kind = Kind::kDeleteRange;
  op.key = std::move(key);
  return op;
}

namespace etcd_codec {
namespace {

// How much of an etcd error text or unexpected body a status message quotes.
constexpr std::size_t kMaxQuotedBytes = 200;

constexpr char kAlphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

int base64_value(char c) {
  if (c >= 'A' && c <= 'Z') return c - 'A';
  if (c >= 'a' && c <= 'z') return c - 'a' + 26;
  if (c >= '0' && c <= '9') return c - '0' + 52;
  if (c == '+') return 62;
  if (c == '/') return 63;
  return -1;
}

EtcdStatus bad_response(std::string_view what) {
  return {EtcdStatus::Code::kBadResponse, std::string(what)};
}

// Parses `body` as a JSON object; discarded (not an object) on anything else.
json parse_object(std::string_view body) {
  json parsed = parse_bounded_json(body);
  if (!parsed.is_object()) return json(json::value_t::discarded);
  return parsed;
}

// "malformed range response: 'count' is -1, not an integer in 0..9223372036854775807".
std::string malformed(std::string_view what, const std::string& why) {
  return "malformed " + std::string(what) + (why.empty() ? std::string() : ": " + why);
}

constexpr std::int64_t kInt64Max = std::numeric_limits<std::int64_t>::max();

// proto3 JSON writes int64 as a string, but a number is accepted too; missing means 0. A value
// outside [min, max] (revisions and counts are never negative), a fraction or an exponent
// (1e300), or a number past int64 is refused: nullopt, and `why` names the field (first only).
std::optional<std::int64_t> int64_field(const json& object, const char* name, std::string& why,
                                        std::int64_t min = 0, std::int64_t max = kInt64Max) {
  auto it = object.find(name);
  if (it == object.end() || it->is_null()) return 0;
  if (auto value = integer_in_range(*it, min, max, /*strings_too=*/true)) return value;
  if (why.empty()) why = integer_refusal(name, *it, min, max);
  return std::nullopt;
}

bool bool_field(const json& object, const char* name) {
  auto it = object.find(name);
  return it != object.end() && it->is_boolean() && it->get<bool>();
}

std::string string_field(const json& object, const char* name) {
  auto it = object.find(name);
  if (it == object.end() || !it->is_string()) return {};
  return it->get<std::string>();
}

std::optional<std::string> bytes_field(const json& object, const char* name) {
  auto it = object.find(name);
  if (it == object.end() || it->is_null()) return std::string();
  if (!it->is_string()) return std::nullopt;
  return base64_decode(it->get_ref<const std::string&>());
}

std::optional<std::int64_t> header_revision(const json& object, std::string& why) {
  auto it = object.find("header");
  if (it == object.end()) return 0;
  if (!it->is_object()) return std::nullopt;
  return int64_field(*it, "revision", why);
}

std::optional<KeyValue> parse_kv(const json& object, std::string& why) {
  if (!object.is_object()) return std::nullopt;
  KeyValue kv;
  auto key = bytes_field(object, "key");
  auto value = bytes_field(object, "value");
  auto create_revision = int64_field(object, "create_revision", why);
  auto mod_revision = int64_field(object, "mod_revision", why);
  auto version = int64_field(object, "version", why);
  auto lease = int64_field(object, "lease", why);
  if (!key || !value || !create_revision || !mod_revision || !version || !lease) return std::nullopt;
  kv.key = std::move(*key);
  kv.value = std::move(*value);
  kv.create_revision = *create_revision;
  kv.mod_revision = *mod_revision;
  kv.version = *version;
  kv.lease = *lease;
  return kv;
}

bool parse_kvs(const json& object, std::vector<KeyValue>& out, std::string& why) {
  auto it = object.find("kvs");
  if (it == object.end() || it->is_null()) return true;
  if (!it->is_array()) return false;
  for (const auto& item : *it) {
    auto kv = parse_kv(item, why);
    if (!kv) return false;
    out.push_back(std::move(*kv));
  }
  return true;
}

// The gateway's error bodies: {"error":"text","code":N,"message":"text"} for unary calls and
// {"error":{"grpc_code":N,"http_code":N,"message":"text","http_status":"text"}} in a stream.
bool is_error_body(const json& object) {
  return object.contains("error") && !object.contains("result") && !object.contains("header");
}

EtcdStatus status_from_error(int http_status, const json& object) {
  int grpc_code = 0;
  std::string message;
  std::string ignored;  // a code out of range stays 0: the message still tells what happened
  const json& error = object.at("error");
  if (error.is_object()) {
    if (auto code = int64_field(error, "grpc_code", ignored, 0, 999)) grpc_code = static_cast<int>(*code);
    if (http_status == 0) {
      if (auto http = int64_field(error, "http_code", ignored, 0, 999)) http_status = static_cast<int>(*http);
    }
    message = string_field(error, "message");
  } else {
    if (auto code = int64_field(object, "code", ignored, 0, 999)) grpc_code = static_cast<int>(*code);
    message = string_field(object, "message");
    if (message.empty()) message = string_field(object, "error");
  }
  if (message.empty()) message = "etcd error (grpc code " + std::to_string(grpc_code) + ")";

  using Code = EtcdStatus::Code;
  Code code = Code::kEtcdError;
  if (message.find("lease not found") != std::string::npos) {
    code = Code::kLeaseNotFound;
  } else if (grpc_code == 16 || message.find("invalid auth token") != std::string::npos ||
             message.find("authentication failed") != std::string::npos ||
             message.find("user name is empty") != std::string::npos) {
    code = Code::kAuthFailed;
  } else if (grpc_code == 14 || grpc_code == 4 || http_status >= 500) {
    // Unavailable ("no leader", "leader changed") and DeadlineExceeded ("request timed out"):
    // this member could not serve the call; another one may.
    code = Code::kUnavailable;
  }
  // The text ends up in log lines and REST replies: no raw control bytes (ESC, NUL, newlines).
  return {code, printable_excerpt(message, kMaxQuotedBytes), grpc_code};
}

// Common prologue of every parser: the body is an object and not an error body.
EtcdResult<json> parse_reply(std::string_view body) {
  json object = parse_object(body);
  if (object.is_discarded()) return bad_response("not a JSON object: " + printable_excerpt(body, kMaxQuotedBytes));
  if (is_error_body(object)) return status_from_error(0, object);
  return object;
}

const char* compare_target_name(Compare::Target target) {
  switch (target) {
    case Compare::Target::kVersion: return "VERSION";
    case Compare::Target::kCreateRevision: return "CREATE";
    case Compare::Target::kModRevision: return "MOD";
    case Compare::Target::kValue: return "VALUE";
    case Compare::Target::kLease: return "LEASE";
  }
  return "VERSION";
}

const char* compare_op_name(Compare::Op op) {
  switch (op) {
    case Compare::Op::kEqual: return "EQUAL";
    case Compare::Op::kNotEqual: return "NOT_EQUAL";
    case Compare::Op::kGreater: return "GREATER";
    case Compare::Op::kLess: return "LESS";
  }
  return "EQUAL";
}

json compare_json(const Compare& compare) {
  json out = {{"key", base64_encode(compare.key)},
              {"target", compare_target_name(compare.target)},
              {"result", compare_op_name(compare.op)}};
  switch (compare.target) {
    case Compare::Target::kVersion: out["version"] = std::to_string(compare.number); break;
    case Compare::Target::kCreateRevision: out["create_revision"] = std::to_string(compare.number); break;
    case Compare::Target::kModRevision: out["mod_revision"] = std::to_string(compare.number); break;
    case Compare::Target::kValue: out["value"] = base64_encode(compare.value); break;
    case Compare::Target::kLease: out["lease"] = std::to_string(compare.number); break;
  }
  return out;
}

json range_json(std::string_view key, std::string_view range_end) {
  json out = {{"key", base64_encode(key)}};
  if (!range_end.empty()) out["range_end"] = base64_encode(range_end);
  return out;
}

json put_json(std::string_view key, std::string_view value, std::int64_t lease) {
  json out = {{"key", base64_encode(key)}, {"value", base64_encode(value)}};
  if (lease != 0) out["lease"] = std::to_string(lease);
  return out;
}

json txn_op_json(const TxnOp& op) {
  switch (op.kind) {
    case TxnOp::Kind::kPut: return {{"request_put", put_json(op.key, op.value, op.lease)}};
    case TxnOp::Kind::kRange: return {{"request_range", range_json(op.key, op.range_end)}};
    case TxnOp::Kind::kDeleteRange: return {{"request_delete_range", range_json(op.key, op.range_end)}};
  }
  return json::object();
}

std::optional<WatchEvent> parse_event(const json& object, std::string& why) {
  if (!object.is_object()) return std::nullopt;
  WatchEvent event;
  const std::string type = string_field(object, "type");
  if (type == "DELETE") {
    event.type = WatchEvent::Type::kDelete;
  } else if (type.empty() || type == "PUT") {
    event.type = WatchEvent::Type::kPut;
  } else {
    return std::nullopt;
  }
  auto kv_it = object.find("kv");
  if (kv_it == object.end()) return std::nullopt;
  auto kv = parse_kv(*kv_it, why);
  if (!kv) return std::nullopt;
  event.kv = std::move(*kv);
  return event;
}

}  // namespace

std::string base64_encode(std::string_view bytes) {
  std::string out;
  out.reserve((bytes.size() + 2) / 3 * 4);
  std::size_t i = 0;
  for (; i + 3 <= bytes.size(); i += 3) {
    const std::uint32_t n = static_cast<std::uint8_t>(bytes[i]) << 16 |
                            static_cast<std::uint8_t>(bytes[i + 1]) << 8 |
                            static_cast<std::uint8_t>(bytes[i + 2]);
    out += kAlphabet[n >> 18 & 63];
    out += kAlphabet[n >> 12 & 63];
    out += kAlphabet[n >> 6 & 63];
    out += kAlphabet[n & 63];
  }
  const std::size_t rest = bytes.size() - i;
  if (rest == 1) {
    const std::uint32_t n = static_cast<std::uint8_t>(bytes[i]) << 16;
    out += kAlphabet[n >> 18 & 63];
    out += kAlphabet[n >> 12 & 63];
    out += "==";
  } else if (rest == 2) {
    const std::uint32_t n = static_cast<std::uint8_t>(bytes[i]) << 16 | static_cast<std::uint8_t>(bytes[i + 1]) << 8;
    out += kAlphabet[n >> 18 & 63];
    out += kAlphabet[n >> 12 & 63];
    out += kAlphabet[n >> 6 & 63];
    out += '=';
  }
  return out;
}

std::optional<std::string> base64_decode(std::string_view text) {
  std::size_t padding = 0;
  while (!text.empty() && text.back() == '=' && padding < 2) {
    text.remove_suffix(1);
    ++padding;
  }
  // Padding, when present, must complete the last group; one leftover character is never valid.
  if (text.size() % 4 == 1) return std::nullopt;
  if (padding != 0 && (text.size() + padding) % 4 != 0) return std::nullopt;
  std::string out;
  out.reserve(text.size() * 3 / 4);
  std::uint32_t accumulator = 0;
  int bits = 0;
  for (char c : text) {
    const int value = base64_value(c);
    if (value < 0) return std::nullopt;
    accumulator = (accumulator << 6) | static_cast<std::uint32_t>(value);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out += static_cast<char>((accumulator >> bits) & 0xff);
    }
  }
  return out;
}

std::string prefix_range_end(std::string_view prefix) {
  std::string end(prefix);
  while (!end.empty()) {
    auto& last = reinterpret_cast<unsigned char&>(end.back());
    if (last < 0xff) {
      ++last;
      return end;
    }
    end.pop_back();
  }
  // Every byte was 0xff (or the prefix was empty): etcd reads "\0" as "to the end of the keyspace".
  return std::string(1, '\0');
}

std::optional<std::int64_t> parse_int64(std::string_view text) {
  if (text.empty()) return std::nullopt;
  std::int64_t value = 0;
  const char* begin = text.data();
  const char* end = text.data() + text.size();
  if (*begin == '+') return std::nullopt;
  auto [ptr, ec] = std::from_chars(begin, end, value);
  if (ec != std::errc() || ptr != end) return std::nullopt;
  return value;
}

std::string range_request(std::string_view key, std::string_view range_end) {
  return range_json(key, range_end).dump();
}

std::string put_request(std::string_view key, std::string_view value, std::int64_t lease) {
  return put_json(key, value, lease).dump();
}

std::string txn_request(const std::vector<Compare>& compare, const std::vector<TxnOp>& success,
                        const std::vector<TxnOp>& failure) {
  json out = json::object();
  json compares = json::array();
  for (const auto& c : compare) compares.push_back(compare_json(c));
  json on_success = json::array();
  for (const auto& op : success) on_success.push_back(txn_op_json(op));
  json on_failure = json::array();
  for (const auto& op : failure) on_failure.push_back(txn_op_json(op));
  out["compare"] = std::move(compares);
  out["success"] = std::move(on_success);
  out["failure"] = std::move(on_failure);
  return out.dump();
}

std::string delete_range_request(std::string_view key, std::string_view range_end) {
  return range_json(key, range_end).dump();
}

std::string lease_grant_request(std::int64_t ttl_seconds) {
  return json{{"TTL", std::to_string(ttl_seconds)}}.dump();
}

std::string lease_keepalive_request(std::int64_t lease_id) {
  return json{{"ID", std::to_string(lease_id)}}.dump();
}

std::string lease_revoke_request(std::int64_t lease_id) {
  return json{{"ID", std::to_string(lease_id)}}.dump();
}

std::string watch_create_request(std::string_view key, std::string_view range_end,
                                 std::int64_t start_revision, bool progress_notify) {
  json create = range_json(key, range_end);
  if (start_revision != 0) create["start_revision"] = std::to_string(start_revision);
  if (progress_notify) create["progress_notify"] = true;
  return json{{"create_request", std::move(create)}}.dump();
}

std::string authenticate_request(std::string_view name, std::string_view password) {
  return json_text(json{{"name", std::string(name)}, {"password", std::string(password)}});
}

EtcdResult<RangeResponse> parse_range_response(std::string_view body) {
  auto reply = parse_reply(body);
  if (!reply) return reply.status();
  std::string why;
  RangeResponse out;
  auto revision = header_revision(*reply, why);
  auto count = int64_field(*reply, "count", why);
  if (!revision || !count || !parse_kvs(*reply, out.kvs, why)) return bad_response(malformed("range response", why));
  out.revision = *revision;
  out.count = *count;
  return out;
}

EtcdResult<std::int64_t> parse_put_response(std::string_view body) {
  auto reply = parse_reply(body);
  if (!reply) return reply.status();
  std::string why;
  auto revision = header_revision(*reply, why);
  if (!revision) return bad_response(malformed("put response", why));
  return *revision;
}

EtcdResult<TxnResponse> parse_txn_response(std::string_view body) {
  auto reply = parse_reply(body);
  if (!reply) return reply.status();
  std::string why;
  TxnResponse out;
  auto revision = header_revision(*reply, why);
  if (!revision) return bad_response(malformed("txn response", why));
  out.revision = *revision;
  out.succeeded = bool_field(*reply, "succeeded");
  auto responses = reply->find("responses");
  if (responses != reply->end() && !responses->is_null()) {
    if (!responses->is_array()) return bad_response(malformed("txn responses", why));
    for (const auto& item : *responses) {
      auto range = item.find("response_range");
      if (range == item.end()) continue;
      if (!range->is_object() || !parse_kvs(*range, out.kvs, why)) return bad_response(malformed("txn range", why));
    }
  }
  return out;
}

EtcdResult<DeleteRangeResponse> parse_delete_range_response(std::string_view body) {
  auto reply = parse_reply(body);
  if (!reply) return reply.status();
  std::string why;
  auto revision = header_revision(*reply, why);
  auto deleted = int64_field(*reply, "deleted", why);
  if (!revision || !deleted) return bad_response(malformed("deleterange response", why));
  return DeleteRangeResponse{*revision, *deleted};
}

EtcdResult<LeaseGrant> parse_lease_grant_response(std::string_view body) {
  auto reply = parse_reply(body);
  if (!reply) return reply.status();
  std::string why;
  auto id = int64_field(*reply, "ID", why);
  auto ttl = int64_field(*reply, "TTL", why);
  if (!id || !ttl) return bad_response(malformed("lease grant response", why));
  // etcd reports refusals to grant in "error" (a string field of LeaseGrantResponse).
  if (const std::string error = string_field(*reply, "error"); !error.empty()) {
    return EtcdStatus{EtcdStatus::Code::kEtcdError, printable_excerpt(error, kMaxQuotedBytes)};
  }
  if (*id == 0) return bad_response("lease grant response without an ID");
  return LeaseGrant{*id, *ttl};
}

EtcdResult<LeaseKeepAlive> parse_lease_keepalive_response(std::string_view body) {
  auto reply = parse_reply(body);
  if (!reply) return reply.status();
  std::string why;
  auto result = reply->find("result");
  if (result == reply->end() || !result->is_object()) return bad_response("keepalive response without result");
  auto id = int64_field(*result, "ID", why);
  auto ttl = int64_field(*result, "TTL", why);
  if (!id || !ttl) return bad_response(malformed("keepalive response", why));
  return LeaseKeepAlive{*id, *ttl};
}

EtcdResult<std::int64_t> parse_lease_revoke_response(std::string_view body) {
  auto reply = parse_reply(body);
  if (!reply) return reply.status();
  std::string why;
  auto revision = header_revision(*reply, why);
  if (!revision) return bad_response(malformed("lease revoke response", why));
  return *revision;
}

EtcdResult<std::string> parse_authenticate_response(std::string_view body) {
  auto reply = parse_reply(body);
  if (!reply) return reply.status();
  std::string token = string_field(*reply, "token");
  if (token.empty()) return bad_response("authenticate response without a token");
  return token;
}

EtcdResult<WatchResponse> parse_watch_message(std::string_view message) {
  auto reply = parse_reply(message);
  if (!reply) return reply.status();
  std::string why;
  auto result = reply->find("result");
  if (result == reply->end() || !result->is_object()) return bad_response("watch message without result");
  WatchResponse out;
  auto revision = header_revision(*result, why);
  auto watch_id = int64_field(*result, "watch_id", why, -1);
  auto compact_revision = int64_field(*result, "compact_revision", why);
  if (!revision || !watch_id || !compact_revision) return bad_response(malformed("watch message", why));
  out.revision = *revision;
  out.watch_id = *watch_id;
  out.compact_revision = *compact_revision;
  out.created = bool_field(*result, "created");
  out.canceled = bool_field(*result, "canceled");
  out.cancel_reason = string_field(*result, "cancel_reason");
  auto events = result->find("events");
  if (events != result->end() && !events->is_null()) {
    if (!events->is_array()) return bad_response(malformed("watch events", why));
    for (const auto& item : *events) {
      auto event = parse_event(item, why);
      if (!event) return bad_response(malformed("watch event", why));
      out.events.push_back(std::move(*event));
    }
  }
  return out;
}

EtcdStatus parse_error_body(int http_status, std::string_view body) {
  json object = parse_object(body);
  if (!object.is_discarded() && object.contains("error")) return status_from_error(http_status, object);
  std::string message = "HTTP " + std::to_string(http_status);
  if (!body.empty()) message += ": " + printable_excerpt(body, kMaxQuotedBytes);
  if (http_status >= 500) return {EtcdStatus::Code::kUnavailable, message};
  return {EtcdStatus::Code::kEtcdError, message};
}

}  // namespace etcd_codec
}  // namespace pgha::election
