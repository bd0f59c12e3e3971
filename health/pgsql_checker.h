// PgsqlChecker: HAProxy's "option pgsql-check user U": connect, send a protocol 3.0
// StartupMessage for U, healthy on any authentication request 'R', unhealthy on 'E', garbage
// or a short reply. Optionally sends an SSLRequest instead ('S' or 'N' → healthy) for servers
// that only accept TLS. Ends every connection so that PostgreSQL logs nothing: Terminate after
// AuthenticationOk only (during a password exchange it would log "expected password
// response"), then shutdown(send) and a drain to EOF, so the close is a FIN and never an RST.
// Used from one executor at a time.
#pragma once

#include <string>

#include "health/probe_checker.h"

namespace pgha::health {

class PgsqlChecker final : public ProbeChecker {
 public:
  PgsqlChecker(boost::asio::any_io_executor executor, CheckSpec spec);

 private:
  boost::asio::awaitable<CheckResult> converse(ProbeSocket& socket) override;

  std::string probe_;  // StartupMessage or SSLRequest, built once
};

}  // namespace pgha::health
