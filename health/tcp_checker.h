// TcpChecker: HAProxy's plain "check": healthy when a TCP connection to the server completes
// within the deadline (with check-ssl: a TLS handshake too, HAProxy's SSL connect check); the
// connection is closed at once. Used from one executor at a time.
#pragma once

#include "health/probe_checker.h"

namespace pgha::health {

class TcpChecker final : public ProbeChecker {
 public:
  TcpChecker(boost::asio::any_io_executor executor, CheckSpec spec);

 private:
  boost::asio::awaitable<CheckResult> converse(ProbeSocket& socket) override;
};

}  // namespace pgha::health
