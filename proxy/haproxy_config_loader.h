// HaproxyConfigLoader: reads the haproxy.cfg subset conf/README.md lists (global, defaults,
// listen, frontend+backend, tcp mode, HTTP/pgsql/TCP checks, server parameters, timeouts)
// into a ProxyConfig, following HAProxy's inheritance rules (defaults → later sections,
// default-server → later server lines). Keywords it cannot honour produce a warning when
// ignoring them is harmless (logging, stats, tuning) and a ConfigError when ignoring them would
// change routing (ACL routing, mode http, TLS on forwarded connections, unknown server
// parameters). TLS health checks (check-ssl) are supported.
// One loader per file; not thread-safe, use it from the thread that loads the config.
#pragma once

#include <string>
#include <string_view>

#include "proxy/config.h"

namespace pgha::proxy {

class HaproxyConfigLoader {
 public:
  // FILE is used in messages and as ProxyConfig::source_file.
  explicit HaproxyConfigLoader(std::string file) : file_(std::move(file)) {}

  // Parses TEXT, the content of the file. Throws ConfigError.
  LoadedConfig parse(std::string_view text) const;

 private:
  std::string file_;
};

}  // namespace pgha::proxy
