// HTTP check request and reply verdict; see http_reply.h.
#include "health/http_reply.h"

#include <algorithm>
#include <cstdint>
#include <string>

#include <boost/asio/buffer.hpp>
#include <boost/beast/http/empty_body.hpp>
#include <boost/beast/http/error.hpp>
#include <boost/beast/http/parser.hpp>

#include "printable/printable_excerpt.h"

namespace pgha::health {
namespace {

namespace http = boost::beast::http;

bool status_passes(int status, int expect_status) {
  if (expect_status != 0) return status == expect_status;
  return status >= 200 && status < 400;
}

}  // namespace

std::string build_http_request(const HttpCheckSpec& spec) {
  std::string request;
  request.reserve(64 + spec.method.size() + spec.path.size() + spec.host_header.size());
  request += spec.method.empty() ? std::string_view("OPTIONS") : std::string_view(spec.method);
  request += ' ';
  request += spec.path.empty() ? std::string_view("/") : std::string_view(spec.path);
  request += ' ';
  request += spec.version.empty() ? std::string_view("HTTP/1.0") : std::string_view(spec.version);
  request += "\r\n";
  if (!spec.host_header.empty()) {
    request += "Host: ";
    request += spec.host_header;
    request += "\r\n";
  }
  request += "Connection: close\r\n\r\n";
  return request;
}

ReplyVerdict judge_http_reply(std::string_view received, bool complete, int expect_status) {
  // Beast waits for the whole header before looking at the status line; reject a reply that
  // cannot be HTTP as soon as its first bytes show it, so garbage does not wait for EOF.
  constexpr std::string_view kPrefix = "HTTP/";
  const std::size_t prefix_len = std::min(received.size(), kPrefix.size());
  if (received.substr(0, prefix_len) != kPrefix.substr(0, prefix_len)) {
    return ReplyVerdict::unhealthy_because("HTTP: garbage reply \"" + printable_excerpt(received) + "\"");
  }

  // A fresh parser over all the bytes so far keeps this a pure function; the header is at most
  // kMaxHttpReplyHeader bytes, so re-parsing after each read costs little.
  http::response_parser<http::empty_body> parser;
  parser.header_limit(static_cast<std::uint32_t>(kMaxHttpReplyHeader));
  parser.eager(false);
  parser.skip(true);  // judge the header only, whatever body follows
  boost::system::error_code ec;
  parser.put(boost::asio::buffer(received.data(), received.size()), ec);

  if (ec == http::error::need_more || (!ec && !parser.is_header_done())) {
    if (!complete) return ReplyVerdict::need_more();
    if (received.empty()) return ReplyVerdict::unhealthy_because("HTTP: connection closed without a reply");
    if (received.size() >= kMaxHttpReplyHeader) {
      return ReplyVerdict::unhealthy_because("HTTP: reply header larger than " +
                                             std::to_string(kMaxHttpReplyHeader) + " bytes");
    }
    return ReplyVerdict::unhealthy_because("HTTP: short reply, closed after " +
                                           std::to_string(received.size()) +
                                           " bytes before the end of the header");
  }
  if (ec == http::error::header_limit) {
    return ReplyVerdict::unhealthy_because("HTTP: reply header larger than " +
                                           std::to_string(kMaxHttpReplyHeader) + " bytes");
  }
  if (ec) {
    return ReplyVerdict::unhealthy_because("HTTP: garbage reply (" + ec.message() + ") \"" +
                                           printable_excerpt(received) + "\"");
  }

  const int status = static_cast<int>(parser.get().result_int());
  if (status_passes(status, expect_status)) {
    return ReplyVerdict::healthy_because("HTTP " + std::to_string(status), status);
  }
  std::string why = "HTTP " + std::to_string(status);
  if (expect_status != 0) why += " (expected " + std::to_string(expect_status) + ")";
  return ReplyVerdict::unhealthy_because(std::move(why), status);
}

}  // namespace pgha::health
