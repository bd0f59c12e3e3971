// request_body_length(): what the head of an HTTP request (request line and headers, through the
// blank line) says of its body, as HttpRequestGate reads it before any worker sees the request:
// the Content-Length, or the refusal the head earns (a Transfer-Encoding: 411; a Content-Length
// that is not a plain decimal of at most 18 digits, or two that disagree: 400). The bytes come
// from any client. Pure function; thread-safe.
#pragma once

#include <cstddef>
#include <string_view>

namespace pgha::election {

struct RequestBodyLength {
  std::size_t bytes = 0;
  const char* refusal = nullptr;  // the status line to refuse the request with, or null
};

RequestBodyLength request_body_length(std::string_view head);

}  // namespace pgha::election
