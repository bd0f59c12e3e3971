// Fuzz target: what pgha-agent's REST API parses of a request itself, before and besides
// cpp-httplib: the head's body length (request_body_length, HttpRequestGate's front door) and
// the ?lag= value of the health endpoints (parse_patroni_lag) and the body of POST /restart
// (parse_restart_request), over anything a client sends within the gate's 16 KiB head limit.
// Checks: a head that names no Content-Length has no body, an accepted one is at most 18 digits
// long; a plain decimal lag is read as itself; a restart body is accepted or refused with 400 or
// 422, an accepted schedule is not in the past, and a timestamp reads back as it is written.
#include <cctype>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <string>

#include "election/http_request_head.h"
#include "election/patroni_parsing.h"
#include "election/restart_request.h"
#include "tests/fuzz/fuzz_input.h"

namespace {

using pgha::fuzz::require;

bool mentions_content_length(std::string_view head) {
  std::string lower(head);
  for (char& c : lower) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return lower.find("content-length") != std::string::npos;
}

void check_head(std::string_view head) {
  const pgha::election::RequestBodyLength body = pgha::election::request_body_length(head);
  if (body.refusal != nullptr) return;
  if (!mentions_content_length(head)) require(body.bytes == 0);
  require(body.bytes < 1'000'000'000'000'000'000ULL);
}

void check_lag(std::string_view text) {
  const auto lag = pgha::election::parse_patroni_lag(text);
  const bool plain_decimal = !text.empty() && text.size() <= 18 && text.front() != '0' &&
                             text.find_first_not_of("0123456789") == std::string_view::npos;
  if (plain_decimal) require(lag == std::stoll(std::string(text)));
}

void check_restart_body(std::string_view text) {
  const auto now = std::chrono::system_clock::now();
  const pgha::election::RestartRequestParse parsed = pgha::election::parse_restart_request(text, now);
  require(parsed.http_status == 0 || parsed.http_status == 400 || parsed.http_status == 422);
  require((parsed.http_status == 0) == parsed.error.empty());
  if (parsed.http_status == 0 && parsed.request.schedule) require(*parsed.request.schedule >= now);
  bool zone = false;
  if (const auto at = pgha::election::parse_iso8601(text, &zone); at && zone) {
    bool again = false;
    require(pgha::election::parse_iso8601(pgha::election::format_iso8601(*at), &again) == at && again);
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  constexpr std::size_t kMaxHeadBytes = 16 * 1024;  // HttpRequestGateOptions::max_head_bytes
  if (size > kMaxHeadBytes) return 0;
  const std::string_view text = pgha::fuzz::as_text(data, size);
  check_head(text);
  check_lag(text);
  check_restart_body(text);
  return 0;
}
