// See http_checker.h.
#include "health/http_checker.h"

#include <boost/asio/buffer.hpp>

#include "health/http_reply.h"

namespace pgha::health {

HttpChecker::HttpChecker(boost::asio::any_io_executor executor, CheckSpec spec)
    : ProbeChecker(std::move(executor), std::move(spec), "http"), request_(build_http_request(this->spec().http)) {}

boost::asio::awaitable<CheckResult> HttpChecker::converse(ProbeSocket& socket) {
  if (const auto ec = co_await socket.write_all(boost::asio::buffer(request_))) {
    co_return CheckResult{false, socket.describe_failure("send", ec)};
  }
  const int expect_status = spec().http.expect_status;
  const ReplyVerdict verdict = co_await read_reply(
      socket, [expect_status](std::string_view received, bool complete) {
        return judge_http_reply(received, complete, expect_status);
      });
  // The reply's body is of no interest; closing with it unread costs the server an RST at most.
  socket.close();
  co_return CheckResult{verdict.healthy(), verdict.detail, Millis{0}, !verdict.healthy() && verdict.code >= 0};
}

}  // namespace pgha::health
