// See pgsql_checker.h.
#include "health/pgsql_checker.h"

#include <boost/asio/buffer.hpp>

#include "health/pgsql_reply.h"

namespace pgha::health {

PgsqlChecker::PgsqlChecker(boost::asio::any_io_executor executor, CheckSpec spec)
    : ProbeChecker(std::move(executor), std::move(spec), "pgsql"),
      probe_(this->spec().pgsql.ssl_request ? build_pgsql_ssl_request()
                                            : build_pgsql_startup_packet(this->spec().pgsql.user)) {}

boost::asio::awaitable<CheckResult> PgsqlChecker::converse(ProbeSocket& socket) {
  if (const auto ec = co_await socket.write_all(boost::asio::buffer(probe_))) {
    co_return CheckResult{false, socket.describe_failure("send", ec)};
  }
  const bool ssl = spec().pgsql.ssl_request;
  const ReplyVerdict verdict = co_await read_reply(socket, ssl ? judge_pgsql_ssl_reply : judge_pgsql_startup_reply);

  if (!verdict.decided() || socket.timed_out()) co_return CheckResult{false, verdict.detail};
  const bool postgres_answered = verdict.healthy() || verdict.detail.rfind("pgsql: E", 0) == 0;
  if (postgres_answered) {
    // After AuthenticationOk the backend waits for queries: Terminate is the clean goodbye.
    // After 'S' the server expects a TLS handshake and logs our EOF whatever we do.
    if (!ssl && verdict.healthy() && verdict.code == 0) {
      const std::string terminate = build_pgsql_terminate();
      co_await socket.write_all(boost::asio::buffer(terminate));
    }
    co_await socket.close_gracefully();
  }
  co_return CheckResult{verdict.healthy(), verdict.detail};
}

}  // namespace pgha::health
