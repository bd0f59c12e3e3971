// What both of pgha-proxy's config loaders promise, checked on whatever they load or refuse:
// a ConfigError names the file, a line of it and a key; a loaded ProxyConfig has listeners with
// servers, usable addresses, and checks whose requests say exactly what the config said (no
// header or parameter smuggled in through a value). For the fuzz targets of tests/fuzz; header
// only.
#pragma once

#include <set>
#include <string>
#include <string_view>

#include "health/http_reply.h"
#include "health/pgsql_reply.h"
#include "proxy/config.h"
#include "tests/fuzz/fuzz_input.h"

namespace pgha::fuzz {

inline void check_config_error(const proxy::ConfigError& error, const std::string& file, std::string_view text) {
  require(error.file() == file);
  require(error.line() >= 0 && error.line() <= line_count(text));
  require(!error.key().empty());
  require(!error.message().empty());
}

// A host the proxy will resolve or bind: no blanks or control bytes (a NUL would cut the name
// short in getaddrinfo and leave the rest in every message).
inline bool plain_host(const std::string& host) {
  if (host.empty()) return false;
  for (char c : host) {
    if (static_cast<unsigned char>(c) <= ' ' || c == 0x7f) return false;
  }
  return true;
}

// The HTTP check request is a request line, an optional Host header and Connection: close.
inline void check_http_request(const health::HttpCheckSpec& spec) {
  const std::string request = health::build_http_request(spec);
  require(request.find("\r\n\r\n") == request.size() - 4);
  std::size_t lines = 0;
  for (std::size_t at = request.find("\r\n"); at != std::string::npos; at = request.find("\r\n", at + 2)) ++lines;
  require(lines == (spec.host_header.empty() ? 3u : 4u));
  std::size_t carriage_returns = 0, line_feeds = 0, nuls = 0;
  for (char c : request) {
    carriage_returns += c == '\r' ? 1 : 0;
    line_feeds += c == '\n' ? 1 : 0;
    nuls += c == '\0' ? 1 : 0;
  }
  require(carriage_returns == lines && line_feeds == lines && nuls == 0);
}

// The pgsql check's StartupMessage carries one parameter, "user", with the configured value.
inline void check_pgsql_startup(const health::PgsqlCheckSpec& spec) {
  require(!spec.user.empty());
  const std::string packet = health::build_pgsql_startup_packet(spec.user);
  std::string_view params = std::string_view(packet).substr(8);
  std::set<std::string> names;
  std::string user;
  while (!params.empty() && params.front() != '\0') {
    const std::size_t name_end = params.find('\0');
    require(name_end != std::string_view::npos);
    const std::string name(params.substr(0, name_end));
    params.remove_prefix(name_end + 1);
    const std::size_t value_end = params.find('\0');
    require(value_end != std::string_view::npos);
    if (name == "user") user = params.substr(0, value_end);
    names.insert(name);
    params.remove_prefix(value_end + 1);
  }
  require(params == std::string_view("\0", 1));
  require(names == std::set<std::string>{"user"});
  require(user == spec.user);
}

inline void check_proxy_config(const proxy::ProxyConfig& config) {
  require(!config.listeners.empty());
  require(plain_host(config.admin.bind_host) && config.admin.bind_port != 0);
  std::set<std::string> listener_names;
  for (const proxy::ListenerConfig& listener : config.listeners) {
    require(listener_names.insert(listener.name).second);
    require(plain_host(listener.bind_host) && listener.bind_port != 0);
    require(!listener.servers.empty());
    require(listener.timeout_connect.count() > 0);
    std::set<std::string> server_names;
    for (const proxy::ServerConfig& server : listener.servers) {
      require(server_names.insert(server.name).second);
      require(plain_host(server.host) && server.port != 0);
      require(server.weight >= 0 && server.weight <= 256 && server.maxconn >= 0);
      const health::CheckSpec& check = server.check;
      if (check.type == health::CheckType::kNone) continue;
      require(plain_host(check.host) && check.port != 0);
      require(check.timing.inter.count() > 0 && check.timing.rise >= 1 && check.timing.fall >= 1);
      if (check.type == health::CheckType::kHttp) check_http_request(check.http);
      if (check.type == health::CheckType::kPgsql) check_pgsql_startup(check.pgsql);
    }
  }
}

}  // namespace pgha::fuzz
