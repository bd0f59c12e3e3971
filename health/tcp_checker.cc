// See tcp_checker.h.
#include "health/tcp_checker.h"

namespace pgha::health {

TcpChecker::TcpChecker(boost::asio::any_io_executor executor, CheckSpec spec)
    : ProbeChecker(std::move(executor), std::move(spec), "tcp") {}

boost::asio::awaitable<CheckResult> TcpChecker::converse(ProbeSocket& socket) {
  socket.close();
  co_return CheckResult{true, spec().tls.enabled ? "TLS handshake ok" : "TCP connect ok"};
}

}  // namespace pgha::health
