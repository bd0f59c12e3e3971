// See probe_checker.h.
#include "health/probe_checker.h"

#include <cerrno>
#include <exception>
#include <string>

#include <boost/asio/buffer.hpp>
#include <boost/asio/error.hpp>

#include "health/logger.h"

namespace pgha::health {

namespace asio = boost::asio;
using boost::system::error_code;

namespace {
// Errors that come from this process or host running short, not from the server.
bool is_local_resource_shortage(const error_code& ec) {
  if (ec.category() != boost::system::system_category()) return false;
  const int e = ec.value();
  return e == EMFILE || e == ENFILE || e == ENOBUFS || e == ENOMEM;
}
}  // namespace

ProbeChecker::ProbeChecker(asio::any_io_executor executor, CheckSpec spec, const char* kind)
    : executor_(std::move(executor)), spec_(std::move(spec)), kind_(kind) {}

asio::awaitable<CheckResult> ProbeChecker::check() {
  const auto start = ProbeSocket::Clock::now();
  CheckResult result;
  // The coroutine's top: nothing may escape to the caller's co_spawn.
  try {
    result = co_await connect_and_converse();
  } catch (const std::exception& e) {
    result = CheckResult{false, std::string("internal error: ") + e.what()};
  } catch (...) {
    result = CheckResult{false, "internal error: unknown exception"};
  }
  result.duration = std::chrono::duration_cast<Millis>(ProbeSocket::Clock::now() - start);
  try {
    health_logger()->debug("{} check {}:{}: {} ({} ms, {})", kind_, spec_.host, spec_.port,
                           result.healthy ? "healthy" : "unhealthy", result.duration.count(), result.detail);
  } catch (...) {
    // Logging must not turn a result into an exception.
  }
  co_return result;
}

asio::awaitable<CheckResult> ProbeChecker::connect_and_converse() {
  ProbeSocket socket(executor_, check_deadline(spec_.timing), spec_.timing.connect_timeout);
  const error_code ec = co_await socket.connect(spec_.host, spec_.port);
  if (ec && is_local_resource_shortage(ec)) {
    CheckResult not_run{false, "check not run: no socket (" + ec.message() + ")"};
    not_run.not_run = true;
    co_return not_run;
  }
  if (ec) co_return CheckResult{false, socket.describe_failure("connect", ec)};
  if (spec_.tls.enabled) {
    if (!spec_.tls.context) co_return CheckResult{false, "internal error: TLS check without a TLS context"};
    const std::string& name = check_tls_server_name(spec_.tls, spec_.host);
    if (const error_code tls_ec = co_await socket.handshake(*spec_.tls.context, name)) {
      co_return CheckResult{false, socket.describe_failure("TLS handshake", tls_ec)};
    }
  }
  CheckResult result = co_await converse(socket);
  socket.close();
  co_return result;
}

asio::awaitable<ReplyVerdict> ProbeChecker::read_reply(ProbeSocket& socket, const Judge& judge) {
  std::size_t used = 0;
  for (;;) {
    error_code ec;
    used += co_await socket.read_some(asio::buffer(reply_buffer_.data() + used, reply_buffer_.size() - used), ec);
    const std::string_view received(reply_buffer_.data(), used);
    if (ec && ec != asio::error::eof) {
      // Timeout or reset: the bytes so far may still decide (e.g. a complete 'E' followed by RST).
      ReplyVerdict verdict = judge(received, false);
      if (verdict.decided()) co_return verdict;
      co_return ReplyVerdict::unhealthy_because(socket.describe_failure("read", ec) + " (" +
                                                std::to_string(used) + " reply bytes received)");
    }
    const bool complete = ec == asio::error::eof || used == reply_buffer_.size();
    ReplyVerdict verdict = judge(received, complete);
    if (verdict.decided()) co_return verdict;
    if (complete) co_return ReplyVerdict::unhealthy_because("undecided reply of " + std::to_string(used) + " bytes");
  }
}

}  // namespace pgha::health
