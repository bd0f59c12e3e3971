// Fuzz target: the etcd v3 gateway codec (election/etcd_codec.h) over any reply body: every
// response parser and the error-body classifier give a value or a non-ok status whose message
// has no control bytes (it reaches log lines and REST replies), and never crash. Round trips
// that must hold for any bytes: base64 decode(encode(x)) == x, parse_int64 of what to_string
// wrote, prefix_range_end covering every key under the prefix, and a put request's key and
// value read back by the range parser. Input: one byte that picks the HTTP status for
// parse_error_body, then the body.
#include <cstddef>
#include <cstdint>
#include <string>

#include "election/etcd_codec.h"
#include "tests/fuzz/fuzz_input.h"

namespace {

using pgha::fuzz::require;
namespace codec = pgha::election::etcd_codec;

void check_status(const pgha::election::EtcdStatus& status) {
  require(!status.ok());
  require(!status.message().empty() && pgha::fuzz::free_of_control_bytes(status.message()));
}

template <typename T>
void check_result(const pgha::election::EtcdResult<T>& result) {
  if (!result) check_status(result.status());
}

void check_base64(std::string_view bytes) {
  const std::string encoded = codec::base64_encode(bytes);
  require(codec::base64_decode(encoded) == std::string(bytes));
  if (const auto decoded = codec::base64_decode(bytes)) require(codec::base64_decode(codec::base64_encode(*decoded)) == decoded);
}

void check_prefix_range_end(std::string_view prefix) {
  const std::string end = codec::prefix_range_end(prefix);
  if (end == std::string(1, '\0')) return;  // to the end of the keyspace
  // Every key that starts with the prefix sorts (bytewise, as etcd compares) before the end.
  require(std::string(prefix) + std::string(8, '\xff') < end);
  require(std::string(prefix) < end);
}

void check_put_read_back(std::string_view body) {
  const std::string key(body.substr(0, body.size() / 2));
  const std::string value(body.substr(body.size() / 2));
  const std::int64_t lease = static_cast<std::int64_t>(body.size());
  const auto range = codec::parse_range_response("{\"kvs\":[" + codec::put_request(key, value, lease) + "]}");
  require(range.ok() && range->kvs.size() == 1);
  require(range->kvs[0].key == key && range->kvs[0].value == value && range->kvs[0].lease == lease);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) return 0;
  constexpr int kHttpStatus[] = {0, 200, 400, 401, 404, 429, 500, 503};
  const int http_status = kHttpStatus[data[0] % std::size(kHttpStatus)];
  const std::string_view body = pgha::fuzz::as_text(data + 1, size - 1);

  check_result(codec::parse_range_response(body));
  check_result(codec::parse_put_response(body));
  check_result(codec::parse_txn_response(body));
  check_result(codec::parse_delete_range_response(body));
  check_result(codec::parse_lease_grant_response(body));
  check_result(codec::parse_lease_keepalive_response(body));
  check_result(codec::parse_lease_revoke_response(body));
  check_result(codec::parse_authenticate_response(body));
  check_result(codec::parse_watch_message(body));
  check_status(codec::parse_error_body(http_status, body));

  check_base64(body);
  if (const auto number = codec::parse_int64(body)) require(codec::parse_int64(std::to_string(*number)) == number);
  check_prefix_range_end(body);
  check_put_read_back(body);
  return 0;
}
