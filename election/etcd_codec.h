// The one place that knows the JSON of etcd v3's gRPC gateway (etcd 3.4 paths /v3/kv/*,
// /v3/lease/*, /v3/watch, /v3/auth/authenticate): base64 for keys and values, int64 fields as
// JSON strings, proto3's omitted defaults (a missing field is 0, false or empty), request bodies
// and response parsers, and the error bodies {"error":..,"code":..,"message":..} (unary) and
// {"error":{"grpc_code":..,"message":..}} (inside a stream). Pure functions, no I/O; any thread.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "election/etcd_status.h"

namespace pgha::election {

struct KeyValue {
  std::string key;
  std::string value;
  std::int64_t create_revision = 0;
  std::int64_t mod_revision = 0;
  std::int64_t version = 0;
  std::int64_t lease = 0;
};

struct RangeResponse {
  std::int64_t revision = 0;  // the store revision the read saw (header.revision)
  std::vector<KeyValue> kvs;
  std::int64_t count = 0;
};

struct TxnResponse {
  std::int64_t revision = 0;
  bool succeeded = false;
  std::vector<KeyValue> kvs;  // from the range operations of the branch taken, in order
};

struct DeleteRangeResponse {
  std::int64_t revision = 0;
  std::int64_t deleted = 0;
};

struct LeaseGrant {
  std::int64_t id = 0;
  std::int64_t ttl = 0;  // seconds, as granted
};

struct LeaseKeepAlive {
  std::int64_t id = 0;
  std::int64_t ttl = 0;  // remaining seconds; 0 when the lease expired or never existed
};

struct WatchEvent {
  enum class Type { kPut, kDelete };
  Type type = Type::kPut;
  KeyValue kv;  // a delete carries the key and its mod_revision only
};

// One message of the watch stream.
struct WatchResponse {
  std::int64_t revision = 0;  // header.revision
  std::int64_t watch_id = 0;
  bool created = false;
  bool canceled = false;
  std::int64_t compact_revision = 0;  // set when the start revision was compacted away
  std::string cancel_reason;
  std::vector<WatchEvent> events;
};

// One comparison of a txn: `target(key) op number/value`.
struct Compare {
  enum class Target { kVersion, kCreateRevision, kModRevision, kValue, kLease };
  enum class Op { kEqual, kNotEqual, kGreater, kLess };
  std::string key;
  Target target = Target::kVersion;
  Op op = Op::kEqual;
  std::int64_t number = 0;  // for every target but kValue
  std::string value;        // for kValue

  static Compare create_revision_equals(std::string key, std::int64_t revision);
  static Compare mod_revision_equals(std::string key, std::int64_t revision);
  static Compare value_equals(std::string key, std::string value);
};

// One operation of a txn branch.
struct TxnOp {
  enum class Kind { kPut, kRange, kDeleteRange };
  Kind kind = Kind::kRange;
  std::string key;
  std::string value;      // kPut
  std::int64_t lease = 0; // kPut; 0 = no lease
  std::string range_end;  // kRange, kDeleteRange; empty = the key alone

  static TxnOp put(std::string key, std::string value, std::int64_t lease = 0);
  static TxnOp range(std::string key);
  static TxnOp delete_key(std::string key);
};

namespace etcd_codec {

// Standard base64 with padding (what the gateway's proto3 JSON uses for bytes).
std::string base64_encode(std::string_view bytes);
// Accepts padded or unpadded standard base64; nullopt on any other character or a bad length.
std::optional<std::string> base64_decode(std::string_view text);

// The range_end that makes a range cover every key starting with `prefix`: the prefix with its
// last byte incremented, bytes 0xff dropped first; "\0" (all keys) when nothing is left.
std::string prefix_range_end(std::string_view prefix);

// A decimal int64 as proto3 JSON writes it; nullopt on anything else (sign, space, overflow).
std::optional<std::int64_t> parse_int64(std::string_view text);

// Request bodies.
std::string range_request(std::string_view key, std::string_view range_end = {});
std::string put_request(std::string_view key, std::string_view value, std::int64_t lease = 0);
std::string txn_request(const std::vector<Compare>& compare, const std::vector<TxnOp>& success,
                        const std::vector<TxnOp>& failure);
std::string delete_range_request(std::string_view key, std::string_view range_end = {});
std::string lease_grant_request(std::int64_t ttl_seconds);
std::string lease_keepalive_request(std::int64_t lease_id);
std::string lease_revoke_request(std::int64_t lease_id);
// start_revision 0 = from the next change; range_end empty = the key alone.
std::string watch_create_request(std::string_view key, std::string_view range_end,
                                 std::int64_t start_revision, bool progress_notify);
std::string authenticate_request(std::string_view name, std::string_view password);

// Response parsers. Each accepts an error body as well and returns its status.
EtcdResult<RangeResponse> parse_range_response(std::string_view body);
EtcdResult<std::int64_t> parse_put_response(std::string_view body);  // header.revision
EtcdResult<TxnResponse> parse_txn_response(std::string_view body);
EtcdResult<DeleteRangeResponse> parse_delete_range_response(std::string_view body);
EtcdResult<LeaseGrant> parse_lease_grant_response(std::string_view body);
// The gateway answers keepalive stream-style: {"result":{"ID":..,"TTL":..}}.
EtcdResult<LeaseKeepAlive> parse_lease_keepalive_response(std::string_view body);
EtcdResult<std::int64_t> parse_lease_revoke_response(std::string_view body);  // header.revision
EtcdResult<std::string> parse_authenticate_response(std::string_view body);   // the token
// One message of the watch stream: {"result":{...}} or {"error":{...}}.
EtcdResult<WatchResponse> parse_watch_message(std::string_view message);

// The status an error body stands for. `http_status` classifies bodies that are not etcd's
// (a proxy's HTML page, say): 5xx = unavailable. Never returns an ok status.
EtcdStatus parse_error_body(int http_status, std::string_view body);

}  // namespace etcd_codec
}  // namespace pgha::election
