// See haproxy_server_params.h.
#include "proxy/haproxy_server_params.h"

#include <limits>
#include <set>

#include "proxy/check_tls_contexts.h"

namespace pgha::proxy::config_detail {

namespace {

constexpr int64_t kIntMax = std::numeric_limits<int>::max();

const std::set<std::string, std::less<>> kKeywords = {
    "check", "no-check", "port", "addr", "inter", "fastinter", "downinter", "rise", "fall",
    "on-marked-down", "on-marked-up", "maxconn", "weight", "backup", "no-backup", "init-state",
    "check-ssl", "no-check-ssl", "ca-file", "crt", "verify", "check-sni", "verifyhost", "no-verifyhost", "ssl",
    "no-ssl"};

// HAProxy's ca-base / crt-base: a directory for relative ca-file / crt paths, applied when the
// keyword is read. Absolute paths and "@..." names are kept.
std::string with_base(const std::string& path, const std::string& base) {
  if (base.empty() || path.empty() || path.front() == '/' || path.front() == '@') return path;
  return base + "/" + path;
}

}  // namespace

bool is_server_param_keyword(std::string_view word) { return kKeywords.count(word) != 0; }

void parse_server_params(const std::vector<std::string>& t, std::size_t first, HaproxyServerParams& p,
                         const Location& line_at, const ServerParamBases& bases, std::vector<ConfigWarning>& warnings) {
  const std::string& file = line_at.file;
  const int line = line_at.line;
  auto at = [&](const std::string& key) { return Location{file, line, key}; };
  for (std::size_t i = first; i < t.size(); ++i) {
    const std::string& kw = t[i];
    auto value = [&]() -> const std::string& {
      if (i + 1 >= t.size()) throw ConfigError(file, line, kw, "'" + kw + "' needs a value");
      return t[++i];
    };
    auto positive_duration = [&]() {
      Millis d = parse_duration(value(), at(kw));
      if (d.count() == 0) throw ConfigError(file, line, kw, "must be greater than 0");
      return d;
    };
    if (kw == "check") {
      p.check = true;
    } else if (kw == "no-check") {
      p.check = false;
    } else if (kw == "port") {
      p.check_port = parse_port(value(), at(kw));
    } else if (kw == "addr") {
      const std::string& addr = value();
      if (!is_valid_host(addr)) {
        throw ConfigError(file, line, kw, "'" + addr + "' is neither an IP address nor a valid host name");
      }
      p.check_addr = addr;
    } else if (kw == "inter") {
      p.timing.inter = positive_duration();
    } else if (kw == "fastinter") {
      p.timing.fastinter = positive_duration();
    } else if (kw == "downinter") {
      p.timing.downinter = positive_duration();
    } else if (kw == "rise") {
      p.timing.rise = static_cast<int>(parse_integer(value(), 1, 1'000'000, at(kw)));
    } else if (kw == "fall") {
      p.timing.fall = static_cast<int>(parse_integer(value(), 1, 1'000'000, at(kw)));
    } else if (kw == "on-marked-down") {
      const std::string& action = value();
      if (action != "shutdown-sessions") {
        throw ConfigError(file, line, kw, "unsupported action '" + action + "' (only shutdown-sessions)");
      }
      p.shutdown_sessions = true;
    } else if (kw == "maxconn") {
      p.maxconn = static_cast<int>(parse_integer(value(), 0, kIntMax, at(kw)));
    } else if (kw == "weight") {
      p.weight = static_cast<int>(parse_integer(value(), 0, 256, at(kw)));
    } else if (kw == "backup") {
      p.backup = true;
    } else if (kw == "no-backup") {
      p.backup = false;
    } else if (kw == "init-state") {
      p.initial_state = parse_init_state(value(), at(kw));
    } else if (kw == "observe") {
      p.observe.layer4 = parse_observe(value(), at(kw));
      p.observe_line = line;
    } else if (kw == "error-limit") {
      p.observe.error_limit = static_cast<int>(parse_integer(value(), 1, 1'000'000, at(kw)));
    } else if (kw == "on-error") {
      p.observe.on_error = parse_on_error(value(), at(kw));
    } else if (kw == "check-ssl") {
      p.tls.enabled = true;
    } else if (kw == "no-check-ssl") {
      p.tls.enabled = false;
    } else if (kw == "ca-file") {
      p.tls.ca_file = with_base(value(), bases.ca_base);
      if (p.tls.ca_file.empty()) throw ConfigError(file, line, kw, "'" + kw + "' needs a file");
      if (p.tls.ca_file.front() == '@' && p.tls.ca_file != kSystemCa) {
        throw ConfigError(file, line, kw, "'" + p.tls.ca_file + "': the only special CA file is @system-ca");
      }
      p.ca_file_line = line;
    } else if (kw == "crt") {
      p.tls.cert_file = with_base(value(), bases.crt_base);
      if (p.tls.cert_file.empty()) throw ConfigError(file, line, kw, "'" + kw + "' needs a file");
      p.crt_line = line;
    } else if (kw == "verify") {
      p.verify = parse_verify(value(), at(kw));
    } else if (kw == "check-sni") {
      p.tls.sni = value();
      check_tls_name(p.tls.sni, at(kw));
    } else if (kw == "verifyhost") {
      p.tls.verify_host = value();
      check_tls_name(p.tls.verify_host, at(kw));
    } else if (kw == "no-verifyhost") {
      p.tls.verify_host.clear();
    } else if (kw == "ssl") {
      throw ConfigError(file, line, kw, "TLS on the forwarded connections is not supported: pgha-proxy relays "
                                         "the client's bytes as they are (PostgreSQL clients negotiate TLS "
                                         "with the server themselves); for TLS health checks use 'check-ssl'");
    } else if (kw == "no-ssl") {
      // Plain forwarded connections: what pgha-proxy always does.
    } else if (kw == "pgha-shutdown-grace") {
      p.shutdown_grace = parse_duration(value(), at(kw));
    } else if (kw == "id" || kw == "cookie") {
      value();
      warnings.push_back(make_warning(at(kw), "server parameter '" + kw + "' is ignored by pgha-proxy"));
    } else {
      throw ConfigError(file, line, kw, "unsupported server parameter '" + kw +
                                             "': ignoring it could change how pgha-proxy routes to or "
                                             "talks to this server");
    }
  }
}

}  // namespace pgha::proxy::config_detail
