// config_loader: what the YAML and haproxy.cfg loaders share — parsing of single values
// (durations with HAProxy's units, ports, addresses, bounded integers, enums) that throws a
// ConfigError at a given location, and the cross-entity validation both formats run on the
// finished ProxyConfig (duplicate names and ports, empty listeners, unchecked servers).
// Internal to proxy/; stateless free functions, callable from any thread.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "proxy/config.h"

namespace pgha::proxy::config_detail {

// Where a value came from: file, 1-based line (0 when the problem has no line) and key.
struct Location {
  std::string file;
  int line = 0;
  std::string key;
};

[[noreturn]] void fail(const Location& at, const std::string& message);
ConfigWarning make_warning(const Location& at, std::string message);

// Reads the whole file (a regular file of at most 4 MiB); ConfigError(path, 0, "file", ...) when it
// cannot.
std::string read_config_file(const std::string& path);

// HAProxy time syntax: an unsigned integer with an optional unit us, ms (default), s, m, h, d.
// Microseconds round up to the next millisecond so that "500us" is not "no timeout".
Millis parse_duration(std::string_view text, const Location& at);
// A decimal integer in [min, max]; anything else (sign where min >= 0, junk, overflow) fails.
int64_t parse_integer(std::string_view text, int64_t min, int64_t max, const Location& at);
uint16_t parse_port(std::string_view text, const Location& at);

struct HostPort {
  std::string host;
  uint16_t port = 0;
};
// "ADDR:PORT" for a listener: "*:5432", ":5432", "0.0.0.0:5432", "[::]:5432", "host:5432".
// A missing or "*" address means 0.0.0.0.
HostPort parse_bind_address(std::string_view text, const Location& at);
// "ADDR:PORT" for a server; the address is required.
HostPort parse_server_address(std::string_view text, const Location& at);
// An IPv4/IPv6 literal or a plausible DNS name (labels of [A-Za-z0-9_-], not starting or
// ending with '-'). Names are kept as given; resolution happens later.
bool is_valid_host(std::string_view host);

// Pieces of an HTTP check request: an upper-case method token, a path starting with '/' without
// spaces or control characters, a Host header value without control characters (a CR or LF
// would let the value add headers or end the request), HTTP/1.0 or HTTP/1.1.
void check_http_method(const std::string& method, const Location& at);
void check_http_path(const std::string& path, const Location& at);
void check_http_host_header(const std::string& host, const Location& at);
void check_http_version(const std::string& version, const Location& at);

Balance parse_balance(std::string_view text, const Location& at);
const char* balance_name(Balance balance);
// HAProxy 3.1's init-state vocabulary: up → kUpUntilFirstFailure, fully-up → kUp,
// down → kDownUntilFirstCheck (one success brings it up; pgha's default), fully-down → kDown.
health::InitialState parse_init_state(std::string_view text, const Location& at);
// HAProxy's "observe layer4|layer7|none": layer4 → true, none → false; layer7 is refused
// (pgha-proxy relays TCP and never sees an HTTP response).
bool parse_observe(std::string_view text, const Location& at);
// HAProxy's "on-error fastinter|fail-check|sudden-death|mark-down".
health::OnError parse_on_error(std::string_view text, const Location& at);
// HAProxy's "verify" / "ssl-server-verify" for a TLS check: required → true, none → false.
bool parse_verify(std::string_view text, const Location& at);

// Source locations of the entities of a loaded config, for cross-entity error messages.
struct ListenerSource {
  Location self;                  // the listener's header (listen line / list item)
  Location bind;
  std::vector<Location> servers;  // parallel to ListenerConfig::servers
};
struct ConfigSource {
  Location listeners;             // where "no listeners" is reported
  Location admin_bind;
  std::vector<ListenerSource> listeners_src;  // parallel to ProxyConfig::listeners
};

// Checks what no single value can: at least one listener, unique listener names, no two
// listeners (or the admin server) on overlapping address:port, at least one server per
// listener, unique server names per listener. Throws the first ConfigError; appends a
// warning for every listener none of whose servers is health-checked.
void validate_config(const ProxyConfig& config, const ConfigSource& source,
                     std::vector<ConfigWarning>& warnings);

}  // namespace pgha::proxy::config_detail
