// ProxyConfig: pgha-proxy's configuration as plain validated structs, produced once at start
// (and at SIGHUP) by load_config() from native YAML or from an haproxy.cfg subset.
// Value types; shared read-only across threads after loading.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

#include "health/check_spec.h"

namespace pgha::proxy {

using Millis = std::chrono::milliseconds;

enum class Balance { kFirst, kRoundRobin, kLeastConn };

struct ServerConfig {
  std::string name;
  std::string host;           // IPv4/IPv6 literal or host name (resolved at load time)
  uint16_t port = 0;
  int weight = 1;             // 0..256, HAProxy's range
  int maxconn = 0;            // 0 → unlimited
  bool backup = false;
  bool shutdown_sessions_on_down = false;  // on-marked-down shutdown-sessions
  // With shutdown_sessions_on_down: when the check that marked the server DOWN got an answer
  // that said no (an HTTP 503 from an agent stepping down), its sessions keep running up to
  // this long, so that transactions in flight can finish; a server that is refused, silent or
  // marked down by failed connects is cut at once. 0: cut at once (HAProxy).
  Millis shutdown_grace{0};
  health::CheckSpec check;    // check.type == kNone when the server line has no "check"
};

struct ListenerConfig {
  std::string name;
  // The backend section's name when loaded from an haproxy.cfg frontend + backend (HAProxy's
  // exporter labels backend and server metrics with it); empty: the same as `name`.
  std::string backend_name;
  std::string bind_host = "0.0.0.0";
  uint16_t bind_port = 0;
  Balance balance = Balance::kRoundRobin;
  int maxconn = 0;            // 0 → unlimited (HAProxy's per-frontend default is global maxconn)
  Millis timeout_connect{5000};
  Millis timeout_client{0};   // 0 → no timeout
  Millis timeout_server{0};
  Millis timeout_tunnel{0};   // when set, replaces client/server as the idle timeout
  // Idle limit once one side has closed its half ("timeout client-fin"/"server-fin"): a peer
  // that never finishes a half-closed session must not hold it (and two descriptors) forever.
  Millis timeout_fin{30000};
  // Move bulk streams (a read that fills the relay buffer) socket → pipe → socket with
  // splice(2) instead of through user space (HAProxy: option splice-auto). Off by default: on
  // loopback it cut proxy CPU per MB of COPY by half but also cut throughput (bench/PROFILE.md).
  bool splice = false;
  // While no server of the listener is UP, a new client is held (accepted; nothing read, no
  // buffer) up to hold_timeout and connected the moment a server comes UP, oldest first; at
  // most hold_max clients at once (all workers). 0: closed at once (HAProxy's behaviour).
  Millis hold_timeout{0};
  int hold_max = 10000;
  std::vector<ServerConfig> servers;
};

struct AdminConfig {
  bool enabled = true;
  std::string bind_host = "127.0.0.1";
  uint16_t bind_port = 8404;
  // The bearer token that server commands must carry ("Authorization: Bearer TOKEN"): from
  // admin.token, or read at load from admin.token_file or the variable named by admin.token_env,
  // so that it need not be in the command line. Empty: commands are taken without credentials on
  // a loopback bind only, and refused (403) on any other address.
  std::string token;
};

struct ProxyConfig {
  std::string source_file;    // the file it was loaded from
  int workers = 0;            // 0 → one per usable CPU (proxy_service.cc)
  int maxconn = 0;            // global; 0 → derived from the fd limit
  std::string log_level = "info";
  AdminConfig admin;
  std::vector<ListenerConfig> listeners;
};

// A configuration error with its location. what() is "FILE:LINE: KEY: MESSAGE".
class ConfigError : public std::runtime_error {
 public:
  ConfigError(std::string file, int line, std::string key, std::string message);
  const std::string& file() const { return file_; }
  int line() const { return line_; }
  const std::string& key() const { return key_; }
  const std::string& message() const { return message_; }

 private:
  std::string file_;
  int line_;
  std::string key_;
  std::string message_;
};

// A warning the loader wants logged (unknown but harmless keyword, defaulted timeout...).
struct ConfigWarning {
  std::string file;
  int line = 0;
  std::string key;
  std::string message;
  std::string to_string() const;
};

struct LoadedConfig {
  ProxyConfig config;
  std::vector<ConfigWarning> warnings;
};

// Loads FILE, auto-detecting the format: ".yaml"/".yml" → YAML, ".cfg" → haproxy.cfg; otherwise
// sniffs the content (a line starting with listen/frontend/backend/global/defaults → haproxy).
// Throws ConfigError on any problem; never binds or connects anything.
LoadedConfig load_config(const std::string& path);
LoadedConfig load_yaml_config(const std::string& path);
LoadedConfig load_haproxy_config(const std::string& path);

}  // namespace pgha::proxy
