// Config builders for the ProxyService tests: loopback servers, a fast HTTP check against a
// test health endpoint, and a one-listener service ("write", balance first, 2 workers, no admin).
#pragma once

#include <chrono>
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "proxy/config.h"

namespace pgha::proxy::testing {

inline ServerConfig backend(std::string name, std::uint16_t port) {
  ServerConfig s;
  s.name = std::move(name);
  s.host = "127.0.0.1";
  s.port = port;
  return s;
}

// Fast HTTP check against `health_port`, HAProxy-style thresholds scaled down for tests.
inline ServerConfig checked_backend(std::string name, std::uint16_t port, std::uint16_t health_port,
                                    bool shutdown = true) {
  using namespace std::chrono_literals;
  ServerConfig s = backend(std::move(name), port);
  s.check.type = health::CheckType::kHttp;
  s.check.host = "127.0.0.1";
  s.check.port = health_port;
  s.check.http.method = "GET";
  s.check.http.path = "/primary";
  s.check.http.expect_status = 200;
  s.check.timing.inter = 50ms;
  s.check.timing.rise = 1;
  s.check.timing.fall = 1;
  s.check.timing.timeout = 500ms;
  s.shutdown_sessions_on_down = shutdown;
  return s;
}

inline ProxyConfig config_with(std::vector<ServerConfig> servers, Balance balance = Balance::kFirst,
                               std::uint16_t port = 0) {
  using namespace std::chrono_literals;
  ProxyConfig c;
  c.workers = 2;
  c.admin.enabled = false;
  ListenerConfig l;
  l.name = "write";
  l.bind_host = "127.0.0.1";
  l.bind_port = port;
  l.balance = balance;
  l.timeout_connect = 1000ms;
  l.servers = std::move(servers);
  c.listeners.push_back(std::move(l));
  return c;
}

}  // namespace pgha::proxy::testing
