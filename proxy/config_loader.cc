#include "proxy/config_loader.h"

#include "config_file/config_file_reader.h"

#include <arpa/inet.h>

#include <limits>
#include <map>

namespace pgha::proxy::config_detail {

void fail(const Location& at, const std::string& message) {
  // A top-level key that is not a plain string, or is empty, has no path of its own.
  throw ConfigError(at.file, at.line, at.key.empty() ? "document" : at.key, message);
}

ConfigWarning make_warning(const Location& at, std::string message) {
  return ConfigWarning{at.file, at.line, at.key, std::move(message)};
}

std::string read_config_file(const std::string& path) {
  config_file::ConfigFileText read = config_file::read_config_file(path);
  if (!read.ok()) fail({path, 0, "file"}, read.error);
  return std::move(read.text);
}

namespace {

bool all_digits(std::string_view text) {
  if (text.empty()) return false;
  for (char c : text) {
    if (c < '0' || c > '9') return false;
  }
  return true;
}

// Parses leading digits into *value; returns the number of digits, 0 on none or overflow.
size_t parse_leading_digits(std::string_view text, uint64_t* value) {
  uint64_t v = 0;
  size_t i = 0;
  for (; i < text.size() && text[i] >= '0' && text[i] <= '9'; ++i) {
    if (v > (std::numeric_limits<uint64_t>::max() - 9) / 10) return 0;
    v = v * 10 + static_cast<uint64_t>(text[i] - '0');
  }
  *value = v;
  return i;
}

bool is_valid_hostname(std::string_view host) {
  if (host.empty() || host.size() > 253) return false;
  if (host.back() == '.') host.remove_suffix(1);  // fully qualified "db1.example."
  size_t start = 0;
  while (start <= host.size()) {
    size_t end = host.find('.', start);
    if (end == std::string_view::npos) end = host.size();
    std::string_view label = host.substr(start, end - start);
    if (label.empty() || label.size() > 63) return false;
    if (label.front() == '-' || label.back() == '-') return false;
    for (char c : label) {
      bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                c == '-' || c == '_';
      if (!ok) return false;
    }
    start = end + 1;
  }
  return true;
}

bool looks_like_ipv4(std::string_view host) {
  for (char c : host) {
    if (c != '.' && (c < '0' || c > '9')) return false;
  }
  return !host.empty();
}

HostPort split_host_port(std::string_view text, const Location& at) {
  if (text.find('@') != std::string_view::npos) {
    fail(at, "address '" + std::string(text) +
                 "': address family prefixes (ipv4@, unix@, fd@...) are not supported");
  }
  if (text.find(',') != std::string_view::npos) {
    fail(at, "address '" + std::string(text) + "': address lists are not supported, use one per listener");
  }
  std::string_view host;
  std::string_view port;
  if (!text.empty() && text.front() == '[') {
    size_t close = text.find(']');
    if (close == std::string_view::npos) fail(at, "address '" + std::string(text) + "': missing ']'");
    host = text.substr(1, close - 1);
    std::string_view rest = text.substr(close + 1);
    if (rest.empty() || rest.front() != ':') {
      fail(at, "address '" + std::string(text) + "': missing ':PORT'");
    }
    port = rest.substr(1);
    if (host.empty()) fail(at, "address '" + std::string(text) + "': empty IPv6 address");
  } else {
    size_t colon = text.rfind(':');
    if (colon == std::string_view::npos) {
      fail(at, "address '" + std::string(text) + "': missing ':PORT'");
    }
    host = text.substr(0, colon);
    port = text.substr(colon + 1);
  }
  if (port.empty()) fail(at, "address '" + std::string(text) + "': missing port");
  if (port.find_first_of("-+") != std::string_view::npos && !all_digits(port)) {
    fail(at, "address '" + std::string(text) + "': port ranges and offsets are not supported");
  }
  HostPort result;
  result.host = std::string(host);
  result.port = parse_port(port, at);
  return result;
}

void check_host(const HostPort& hp, std::string_view text, const Location& at) {
  if (!is_valid_host(hp.host)) {
    fail(at, "address '" + std::string(text) + "': '" + hp.host +
                 "' is neither an IPv4/IPv6 address nor a valid host name");
  }
}

}  // namespace

Millis parse_duration(std::string_view text, const Location& at) {
  const std::string shown(text);
  if (text.empty()) fail(at, "empty duration");
  if (text.front() == '-') fail(at, "negative duration '" + shown + "'");
  uint64_t value = 0;
  size_t digits = parse_leading_digits(text, &value);
  if (digits == 0) {
    fail(at, "'" + shown + "' is not a duration (expected an integer with an optional unit: "
                           "us, ms, s, m, h, d; default ms)");
  }
  std::string_view unit = text.substr(digits);
  uint64_t ms = 0;
  constexpr uint64_t kMax = std::numeric_limits<int32_t>::max();  // HAProxy's timer limit
  auto scaled = [&](uint64_t factor) {
    if (value > kMax / factor) fail(at, "duration '" + shown + "' is too large (max ~24 days)");
    return value * factor;
  };
  if (unit.empty() || unit == "ms") {
    ms = scaled(1);
  } else if (unit == "us") {
    ms = value / 1000 + (value % 1000 != 0 ? 1 : 0);
  } else if (unit == "s") {
    ms = scaled(1000);
  } else if (unit == "m") {
    ms = scaled(60'000);
  } else if (unit == "h") {
    ms = scaled(3'600'000);
  } else if (unit == "d") {
    ms = scaled(86'400'000);
  } else {
    fail(at, "duration '" + shown + "' has an unknown unit '" + std::string(unit) +
                 "' (expected us, ms, s, m, h or d)");
  }
  if (ms > kMax) fail(at, "duration '" + shown + "' is too large (max ~24 days)");
  return Millis(static_cast<int64_t>(ms));
}

int64_t parse_integer(std::string_view text, int64_t min, int64_t max, const Location& at) {
  const std::string shown(text);
  bool negative = false;
  std::string_view digits = text;
  if (!digits.empty() && (digits.front() == '-' || digits.front() == '+')) {
    negative = digits.front() == '-';
    digits.remove_prefix(1);
  }
  uint64_t value = 0;
  if (!all_digits(digits) || parse_leading_digits(digits, &value) != digits.size() ||
      value > static_cast<uint64_t>(std::numeric_limits<int64_t>::max())) {
    fail(at, "'" + shown + "' is not an integer");
  }
  int64_t signed_value = negative ? -static_cast<int64_t>(value) : static_cast<int64_t>(value);
  if (signed_value < min || signed_value > max) {
    fail(at, "value " + shown + " is out of range " + std::to_string(min) + ".." + std::to_string(max));
  }
  return signed_value;
}

uint16_t parse_port(std::string_view text, const Location& at) {
  // Built with std::string::append rather than "'" + ... : GCC 12 -O2 raises a false
  // -Wrestrict on that operator+ chain (GCC bug 105329).
  if (!all_digits(text)) fail(at, std::string("'").append(text).append("' is not a port number"));
  uint64_t value = 0;
  if (parse_leading_digits(text, &value) != text.size() || value < 1 || value > 65535) {
    fail(at, "port " + std::string(text) + " is out of range 1..65535");
  }
  return static_cast<uint16_t>(value);
}

bool is_valid_host(std::string_view host) {
  const std::string h(host);
  if (h.find(':') != std::string::npos) {
    in6_addr addr6{};
    return inet_pton(AF_INET6, h.c_str(), &addr6) == 1;
  }
  if (looks_like_ipv4(h)) {
    in_addr addr4{};
    return inet_pton(AF_INET, h.c_str(), &addr4) == 1;
  }
  return is_valid_hostname(h);
}

HostPort parse_bind_address(std::string_view text, const Location& at) {
  HostPort hp = split_host_port(text, at);
  if (hp.host.empty() || hp.host == "*") hp.host = "0.0.0.0";
  check_host(hp, text, at);
  return hp;
}

HostPort parse_server_address(std::string_view text, const Location& at) {
  HostPort hp = split_host_port(text, at);
  if (hp.host.empty() || hp.host == "*") {
    fail(at, "address '" + std::string(text) + "': the server address is missing");
  }
  check_host(hp, text, at);
  return hp;
}

void check_http_method(const std::string& method, const Location& at) {
  if (method.empty() || method.find_first_not_of("ABCDEFGHIJKLMNOPQRSTUVWXYZ") != std::string::npos) {
    fail(at, "invalid HTTP method '" + method + "' (an upper-case token such as GET or OPTIONS)");
  }
}

namespace {

// A byte that would end or split the request line or a header: CR, LF, any other control
// character, DEL.
bool is_control(char c) {
  const auto byte = static_cast<unsigned char>(c);
  return byte < 0x20 || byte == 0x7f;
}

// The text with its control characters shown as \r, \n, \t or \xNN, for an error message.
std::string printable(const std::string& text) {
  static const char kHex[] = "0123456789abcdef";
  std::string out;
  for (char c : text) {
    const auto byte = static_cast<unsigned char>(c);
    if (c == '\r') out += "\\r";
    else if (c == '\n') out += "\\n";
    else if (c == '\t') out += "\\t";
    else if (is_control(c)) out += std::string("\\x") + kHex[byte >> 4] + kHex[byte & 0xf];
    else out += c;
  }
  return out;
}

}  // namespace

void check_http_path(const std::string& path, const Location& at) {
  if (path.empty() || path.front() != '/') {
    fail(at, "the check path must start with '/', got '" + printable(path) + "'");
  }
  for (char c : path) {
    if (is_control(c) || c == ' ') {
      fail(at, "the check path must not contain spaces or control characters, got '" + printable(path) + "'");
    }
  }
}

void check_http_host_header(const std::string& host, const Location& at) {
  for (char c : host) {
    if (is_control(c)) {
      fail(at, "the check's Host header must not contain control characters, got '" + printable(host) + "'");
    }
  }
}

void check_http_version(const std::string& version, const Location& at) {
  if (version != "HTTP/1.0" && version != "HTTP/1.1") {
    fail(at, "unsupported HTTP version '" + version + "' (HTTP/1.0 or HTTP/1.1)");
  }
}

Balance parse_balance(std::string_view text, const Location& at) {
  if (text == "roundrobin") return Balance::kRoundRobin;
  if (text == "leastconn") return Balance::kLeastConn;
  if (text == "first") return Balance::kFirst;
  fail(at, "unsupported balance algorithm '" + std::string(text) +
               "' (supported: roundrobin, leastconn, first)");
}

const char* balance_name(Balance balance) {
  switch (balance) {
    case Balance::kFirst: return "first";
    case Balance::kRoundRobin: return "roundrobin";
    case Balance::kLeastConn: return "leastconn";
  }
  return "?";
}

health::InitialState parse_init_state(std::string_view text, const Location& at) {
  if (text == "up") return health::InitialState::kUpUntilFirstFailure;
  if (text == "fully-up") return health::InitialState::kUp;
  if (text == "down") return health::InitialState::kDownUntilFirstCheck;
  if (text == "fully-down") return health::InitialState::kDown;
  fail(at, "unknown init-state '" + std::string(text) + "' (expected up, fully-up, down or fully-down)");
}

bool parse_observe(std::string_view text, const Location& at) {
  if (text == "layer4") return true;
  if (text == "none") return false;
  if (text == "layer7") fail(at, "'observe layer7' needs HTTP traffic; pgha-proxy relays TCP (use layer4)");
  fail(at, "unknown observe mode '" + std::string(text) + "' (expected layer4 or none)");
}

health::OnError parse_on_error(std::string_view text, const Location& at) {
  if (text == "fastinter") return health::OnError::kFastinter;
  if (text == "fail-check") return health::OnError::kFailCheck;
  if (text == "sudden-death") return health::OnError::kSuddenDeath;
  if (text == "mark-down") return health::OnError::kMarkDown;
  fail(at, "unknown on-error action '" + std::string(text) +
               "' (expected fastinter, fail-check, sudden-death or mark-down)");
}

bool parse_verify(std::string_view text, const Location& at) {
  if (text == "required") return true;
  if (text == "none") return false;
  fail(at, "unknown verify '" + std::string(text) + "' (none or required)");
}

namespace {

bool is_wildcard(const std::string& host) { return host == "0.0.0.0" || host == "::"; }

bool binds_overlap(const std::string& host_a, uint16_t port_a, const std::string& host_b, uint16_t port_b) {
  if (port_a != port_b) return false;
  return host_a == host_b || is_wildcard(host_a) || is_wildcard(host_b);
}

}  // namespace

void validate_config(const ProxyConfig& config, const ConfigSource& source,
                     std::vector<ConfigWarning>& warnings) {
  if (config.listeners.empty()) fail(source.listeners, "no listeners defined");
  std::map<std::string, size_t> listener_by_name;
  for (size_t i = 0; i < config.listeners.size(); ++i) {
    const ListenerConfig& listener = config.listeners[i];
    const ListenerSource& src = source.listeners_src.at(i);
    auto [it, inserted] = listener_by_name.emplace(listener.name, i);
    if (!inserted) {
      fail(src.self, "duplicate listener name '" + listener.name + "' (first defined on line " +
                         std::to_string(source.listeners_src[it->second].self.line) + ")");
    }
    for (size_t j = 0; j < i; ++j) {
      const ListenerConfig& other = config.listeners[j];
      if (binds_overlap(listener.bind_host, listener.bind_port, other.bind_host, other.bind_port)) {
        fail(src.bind, "port " + std::to_string(listener.bind_port) + " of listener '" + listener.name +
                           "' is already bound by listener '" + other.name + "' (line " +
                           std::to_string(source.listeners_src[j].bind.line) + ")");
      }
    }
    if (config.admin.enabled &&
        binds_overlap(listener.bind_host, listener.bind_port, config.admin.bind_host, config.admin.bind_port)) {
      fail(src.bind, "port " + std::to_string(listener.bind_port) + " of listener '" + listener.name +
                         "' is also the admin server's port");
    }
    if (listener.servers.empty()) fail(src.self, "listener '" + listener.name + "' has no servers");
    std::map<std::string, size_t> server_by_name;
    bool any_checked = false;
    for (size_t s = 0; s < listener.servers.size(); ++s) {
      const ServerConfig& server = listener.servers[s];
      auto [sit, sinserted] = server_by_name.emplace(server.name, s);
      if (!sinserted) {
        fail(src.servers.at(s), "duplicate server name '" + server.name + "' in listener '" + listener.name +
                                    "' (first defined on line " +
                                    std::to_string(src.servers.at(sit->second).line) + ")");
      }
      if (server.check.type != health::CheckType::kNone) any_checked = true;
    }
    if (!any_checked) {
      warnings.push_back(make_warning(
          src.self, "no server of listener '" + listener.name +
                        "' is health-checked: every server is always considered UP and clients "
                        "may be sent to a server that is down or has the wrong role"));
    }
  }
}

}  // namespace pgha::proxy::config_detail
