// HttpChecker: HAProxy's "option httpchk": connect (with check-ssl: and a TLS handshake, done by
// ProbeChecker), send "METHOD PATH VERSION" (+ Host) with
// "Connection: close", parse the reply header with Boost.Beast and compare the status with
// "http-check expect status" (any 2xx/3xx by default). Owned by the server's health monitor;
// used from one executor at a time.
#pragma once

#include <string>

#include "health/probe_checker.h"

namespace pgha::health {

class HttpChecker final : public ProbeChecker {
 public:
  HttpChecker(boost::asio::any_io_executor executor, CheckSpec spec);

 private:
  boost::asio::awaitable<CheckResult> converse(ProbeSocket& socket) override;

  std::string request_;  // built once: the spec does not change
};

}  // namespace pgha::health
