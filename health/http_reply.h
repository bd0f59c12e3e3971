// The HTTP check's wire format: the request HttpChecker sends and the pure verdict over the
// reply bytes it reads (Boost.Beast's response parser, header only). No I/O, no state:
// callable from any thread.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

#include "health/check_spec.h"
#include "health/reply_verdict.h"

namespace pgha::health {

// Largest reply header the check accepts; the checker reads at most this many bytes.
inline constexpr std::size_t kMaxHttpReplyHeader = 8192;

// "METHOD PATH VERSION\r\n" [+ "Host: H\r\n"] + "Connection: close\r\n\r\n".
std::string build_http_request(const HttpCheckSpec& spec);

// Judges the reply bytes received so far. `complete` means no more bytes will come (the
// server closed, or the reader's buffer is full): an undecided reply then becomes unhealthy.
// Healthy iff the status line parses and status == expect_status (any 2xx/3xx when
// expect_status is 0, HAProxy's default). verdict.code is the status when one was parsed.
ReplyVerdict judge_http_reply(std::string_view received, bool complete, int expect_status);

}  // namespace pgha::health
