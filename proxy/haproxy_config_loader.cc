#include "proxy/haproxy_config_loader.h"

#include <cctype>
#include <limits>
#include <map>
#include <optional>
#include <set>
#include <vector>

#include "proxy/check_tls_contexts.h"
#include "proxy/config_loader.h"
#include "proxy/haproxy_server_params.h"

namespace pgha::proxy {

namespace {

using config_detail::ConfigSource;
using config_detail::HaproxyServerParams;
using config_detail::HostPort;
using config_detail::ListenerSource;
using config_detail::Location;
using Tokens = std::vector<std::string>;

constexpr int64_t kIntMax = std::numeric_limits<int>::max();
constexpr Millis kDefaultConnectTimeout{5000};

enum class SectionKind { kNone, kGlobal, kDefaults, kListen, kFrontend, kBackend, kIgnored };
enum class CheckKind { kTcp, kHttp, kPgsql };

const char* kind_name(SectionKind kind) {
  switch (kind) {
    case SectionKind::kGlobal: return "global";
    case SectionKind::kDefaults: return "defaults";
    case SectionKind::kListen: return "listen";
    case SectionKind::kFrontend: return "frontend";
    case SectionKind::kBackend: return "backend";
    default: return "(none)";
  }
}

struct ParsedServer {
  std::string name;
  HostPort address;
  HaproxyServerParams params;
  int line = 0;
};

// One defaults/listen/frontend/backend section, starting from what "defaults" gave it.
struct Section {
  SectionKind kind = SectionKind::kNone;
  std::string name;
  int line = 0;
  // Frontend side.
  std::optional<HostPort> bind;
  int bind_line = 0;
  int maxconn = 0;
  std::string default_backend;
  int default_backend_line = 0;
  bool has_use_backend = false;
  // Both sides.
  bool mode_http = false;
  int mode_line = 0;
  int stats_line = 0;  // first "stats" directive, 0 if none
  std::optional<Millis> timeout_connect, timeout_client, timeout_server, timeout_check, timeout_tunnel;
  // "timeout client-fin" / "server-fin": pgha has one half-closed idle limit; the last one set wins.
  std::optional<Millis> timeout_fin;
  std::optional<bool> splice;  // option splice-auto / splice-request / splice-response
  // pgha-hold-clients TIMEOUT [max-clients N]: hold clients while no server is UP (a pgha
  // extension; HAProxy closes them).
  std::optional<Millis> hold_timeout;
  std::optional<int> hold_max;
  // Backend side.
  Balance balance = Balance::kRoundRobin;
  CheckKind check_kind = CheckKind::kTcp;
  int check_option_line = 0;
  std::string check_option;  // "option httpchk" / "option pgsql-check", for messages
  health::HttpCheckSpec http;
  std::string pgsql_user;
  HaproxyServerParams server_defaults;
  std::vector<ParsedServer> servers;
};

std::string lowercase(std::string text) {
  for (char& c : text) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return text;
}

bool has_frontend_side(SectionKind k) {
  return k == SectionKind::kDefaults || k == SectionKind::kListen || k == SectionKind::kFrontend;
}
bool has_backend_side(SectionKind k) {
  return k == SectionKind::kDefaults || k == SectionKind::kListen || k == SectionKind::kBackend;
}

// Directives that only affect logging: ignored without a word.
const std::set<std::string, std::less<>> kSilentKeywords = {
    "log", "log-format", "log-format-sd", "log-tag", "error-log-format"};
const std::set<std::string, std::less<>> kSilentOptions = {
    "tcplog", "httplog", "dontlognull", "dontlog-normal", "log-health-checks", "log-separate-errors",
    "logasap"};
// Directives whose absence does not change where a connection goes: ignored with a warning.
const std::set<std::string, std::less<>> kHarmlessKeywords = {
    "retries", "description", "id", "errorfile", "errorfiles", "fullconn", "backlog", "rate-limit",
    "email-alert", "monitor-uri", "acl", "unique-id-format", "unique-id-header", "compression",
    "http-reuse", "grace", "enabled"};
const std::set<std::string, std::less<>> kHarmlessOptions = {
    "redispatch", "tcpka", "clitcpka", "srvtcpka",
    "abortonclose", "http-server-close", "httpclose", "http-keep-alive", "forwardfor", "contstats",
    "independent-streams", "nolinger", "socket-stats", "http-buffer-request"};
const std::set<std::string, std::less<>> kHarmlessTimeouts = {
    "queue", "http-request", "http-keep-alive", "tarpit"};
// Top-level sections that route nothing by themselves.
const std::set<std::string, std::less<>> kIgnoredSections = {
    "userlist", "peers", "resolvers", "mailers", "program", "http-errors", "ring", "cache",
    "log-forward", "crt-store", "traces", "acme"};
class Parser {
 public:
  explicit Parser(const std::string& file) : file_(file) {}

  LoadedConfig parse(std::string_view text) {
    result_.config.source_file = file_;
    int line_number = 0;
    size_t pos = 0;
    while (pos <= text.size()) {
      size_t end = text.find('\n', pos);
      if (end == std::string_view::npos) end = text.size();
      ++line_number;
      Tokens tokens = tokenize(text.substr(pos, end - pos), line_number);
      if (!tokens.empty()) parse_line(tokens, line_number);
      pos = end + 1;
    }
    finish_section();
    build_listeners();
    return std::move(result_);
  }

 private:
  Location at(int line, std::string key) const { return Location{file_, line, std::move(key)}; }
  void warn(int line, std::string key, std::string message) {
    result_.warnings.push_back(config_detail::make_warning(at(line, std::move(key)), std::move(message)));
  }

  // HAProxy's word splitting: blanks separate words, '#' starts a comment, backslash escapes
  // (\ , \#, \\, \", \', \r, \n, \t), double quotes (with escapes) and single quotes group.
  Tokens tokenize(std::string_view line, int line_number) const {
    Tokens tokens;
    std::string word;
    bool in_word = false;
    char quote = 0;
    for (size_t i = 0; i < line.size(); ++i) {
      char c = line[i];
      // HAProxy reads C strings; here a NUL would also read as the "no quote" below.
      if (c == '\0') throw ConfigError(file_, line_number, "syntax", "a NUL byte (is this a text file?)");
      if (quote == 0 && c == '#') break;
      if (quote == 0 && (c == ' ' || c == '\t' || c == '\r')) {
        if (in_word) tokens.push_back(std::move(word));
        word.clear();
        in_word = false;
        continue;
      }
      in_word = true;
      if (quote != 0 && c == quote) {
        quote = 0;
      } else if (quote == 0 && (c == '"' || c == '\'')) {
        quote = c;
      } else if (c == '\\' && quote != '\'' && i + 1 < line.size()) {
        char next = line[++i];
        switch (next) {
          case 'r': word += '\r'; break;
          case 'n': word += '\n'; break;
          case 't': word += '\t'; break;
          case ' ': case '#': case '\\': case '"': case '\'': word += next; break;
          default: word += '\\'; word += next; break;
        }
      } else {
        word += c;
      }
    }
    if (quote != 0) throw ConfigError(file_, line_number, "syntax", "unterminated quote");
    if (in_word) tokens.push_back(std::move(word));
    return tokens;
  }

  void parse_line(const Tokens& t, int line) {
    const std::string& kw = t[0];
    if (kw.empty()) throw ConfigError(file_, line, "syntax", "a line cannot start with an empty word ('' or \"\")");
    if (kw == "global" || kw == "defaults" || kw == "listen" || kw == "frontend" || kw == "backend" ||
        kIgnoredSections.count(kw) != 0) {
      start_section(t, line);
      return;
    }
    switch (current_.kind) {
      case SectionKind::kNone:
        throw ConfigError(file_, line, kw, "'" + kw + "' appears outside of any section "
                                           "(expected global, defaults, listen, frontend or backend)");
      case SectionKind::kIgnored: return;
      case SectionKind::kGlobal: parse_global(t, line); return;
      default: parse_proxy_keyword(t, line); return;
    }
  }

  void start_section(const Tokens& t, int line) {
    finish_section();
    const std::string& kw = t[0];
    if (kIgnoredSections.count(kw) != 0) {
      warn(line, kw, "section '" + kw + "' is ignored by pgha-proxy");
      current_ = Section{};
      current_.kind = SectionKind::kIgnored;
      return;
    }
    if (kw == "global") {
      current_ = Section{};
      current_.kind = SectionKind::kGlobal;
      current_.line = line;
      return;
    }
    if (t.size() >= 3 && t[t.size() - 2] == "from") {
      throw ConfigError(file_, line, kw, "named defaults ('from " + t.back() + "') are not supported");
    }
    if (kw == "defaults") {
      // Each defaults section starts again from HAProxy's built-in values.
      current_ = Section{};
      current_.kind = SectionKind::kDefaults;
      current_.name = t.size() > 1 ? t[1] : "";
      current_.line = line;
      return;
    }
    if (t.size() < 2) throw ConfigError(file_, line, kw, "'" + kw + "' needs a name");
    current_ = defaults_;
    current_.kind = kw == "listen" ? SectionKind::kListen
                    : kw == "frontend" ? SectionKind::kFrontend
                                       : SectionKind::kBackend;
    current_.name = t[1];
    current_.line = line;
    if (t.size() > 2) {
      // Old syntax: "listen NAME ADDR:PORT".
      if (kw == "backend") throw ConfigError(file_, line, kw, "unexpected '" + t[2] + "' after the name");
      if (t.size() > 3) throw ConfigError(file_, line, kw, "unexpected '" + t[3] + "'");
      current_.bind = config_detail::parse_bind_address(t[2], at(line, kw));
      current_.bind_line = line;
    }
  }

  void finish_section() {
    Section section = std::move(current_);
    current_ = Section{};
    switch (section.kind) {
      case SectionKind::kDefaults: defaults_ = std::move(section); return;
      case SectionKind::kListen:
      case SectionKind::kFrontend:
      case SectionKind::kBackend: break;
      default: return;
    }
    if (section.mode_http) {
      if (section.kind == SectionKind::kListen && section.stats_line != 0 && section.servers.empty()) {
        warn(section.line, "listen", "HTTP stats listener '" + section.name +
                                         "' is ignored: pgha-proxy serves /status and /metrics on its "
                                         "admin address");
        return;
      }
      throw ConfigError(file_, section.mode_line, "mode",
                        "mode http is not supported (in " + std::string(kind_name(section.kind)) + " '" +
                            section.name + "'): pgha-proxy is a TCP proxy; use mode tcp");
    }
    if (section.stats_line != 0) {
      warn(section.stats_line, "stats", "stats directives are ignored: pgha-proxy serves /status and "
                                        "/metrics on its admin address");
    }
    if (section.kind != SectionKind::kBackend && !section.bind) {
      throw ConfigError(file_, section.line, kind_name(section.kind),
                        std::string(kind_name(section.kind)) + " '" + section.name + "' has no bind line");
    }
    if (section.kind == SectionKind::kFrontend && section.default_backend.empty()) {
      throw ConfigError(file_, section.line, "frontend",
                        "frontend '" + section.name + "' has no default_backend");
    }
    if (section.kind == SectionKind::kBackend) {
      auto [it, inserted] = backends_.emplace(section.name, section);
      if (!inserted) {
        throw ConfigError(file_, section.line, "backend",
                          "duplicate backend name '" + section.name + "' (first defined on line " +
                              std::to_string(it->second.line) + ")");
      }
      return;
    }
    proxies_.push_back(std::move(section));
  }

  void parse_global(const Tokens& t, int line) {
    const std::string& kw = t[0];
    if (kSilentKeywords.count(kw) != 0 || kw == "log-send-hostname") return;
    if (kw == "maxconn" || kw == "nbthread") {
      if (t.size() != 2) throw ConfigError(file_, line, kw, "'" + kw + "' needs one value");
      if (kw == "maxconn") {
        result_.config.maxconn = static_cast<int>(config_detail::parse_integer(t[1], 0, kIntMax, at(line, kw)));
      } else {
        result_.config.workers = static_cast<int>(config_detail::parse_integer(t[1], 1, 1024, at(line, kw)));
      }
      return;
    }
    if (kw == "ssl-server-verify") {
      if (t.size() != 2) throw ConfigError(file_, line, kw, "'" + kw + "' needs one value (none or required)");
      server_verify_ = config_detail::parse_verify(t[1], at(line, kw));
      return;
    }
    if (kw == "ca-base" || kw == "crt-base") {
      if (t.size() != 2 || t[1].empty()) throw ConfigError(file_, line, kw, "'" + kw + "' needs a directory");
      std::string& base = kw == "ca-base" ? bases_.ca_base : bases_.crt_base;
      if (!base.empty()) throw ConfigError(file_, line, kw, "'" + kw + "' is already set");
      base = t[1];
      return;
    }
    if (kw == "stats") {
      warn(line, kw, "'stats " + (t.size() > 1 ? t[1] : std::string()) +
                         "' is not supported; pgha-proxy serves /status, /metrics and server "
                         "commands on its admin address");
      return;
    }
    if (kw == "daemon") {
      warn(line, kw, "'daemon' is ignored: pgha-proxy runs in the foreground (use systemd)");
      return;
    }
    warn(line, kw, "global keyword '" + kw + "' is ignored by pgha-proxy");
  }

  void parse_proxy_keyword(const Tokens& t, int line) {
    const std::string& kw = t[0];
    const SectionKind kind = current_.kind;
    const std::string where = std::string(kind_name(kind)) + " section";
    auto need_args = [&](size_t count) {
      if (t.size() < count + 1) throw ConfigError(file_, line, kw, "'" + kw + "' needs a value");
    };
    if (kSilentKeywords.count(kw) != 0) return;
    if (kw == "bind") {
      if (kind != SectionKind::kListen && kind != SectionKind::kFrontend) {
        throw ConfigError(file_, line, kw, "'bind' is not allowed in a " + where);
      }
      if (current_.bind) {
        throw ConfigError(file_, line, kw, "only one bind per section is supported (first on line " +
                                               std::to_string(current_.bind_line) + ")");
      }
      need_args(1);
      current_.bind = config_detail::parse_bind_address(t[1], at(line, kw));
      current_.bind_line = line;
      for (size_t i = 2; i < t.size(); ++i) {
        if (t[i] == "name" && i + 1 < t.size()) {
          ++i;
          continue;
        }
        throw ConfigError(file_, line, kw, "bind option '" + t[i] + "' is not supported" +
                                               (t[i] == "ssl" ? " (pgha-proxy does not terminate TLS)" : ""));
      }
    } else if (kw == "mode") {
      need_args(1);
      if (t[1] == "tcp") {
        current_.mode_http = false;
      } else if (t[1] == "http") {
        current_.mode_http = true;
        current_.mode_line = line;
      } else {
        throw ConfigError(file_, line, kw, "unsupported mode '" + t[1] + "' (pgha-proxy supports mode tcp)");
      }
    } else if (kw == "balance") {
      need_args(1);
      if (!has_backend_side(kind)) {
        warn(line, kw, "'balance' is ignored in a frontend section");
        return;
      }
      current_.balance = config_detail::parse_balance(t[1], at(line, kw));
      if (t.size() > 2) throw ConfigError(file_, line, kw, "unexpected '" + t[2] + "' after '" + t[1] + "'");
    } else if (kw == "maxconn") {
      need_args(1);
      if (!has_frontend_side(kind)) {
        warn(line, kw, "'maxconn' is ignored in a backend section (set it on the frontend or on servers)");
        return;
      }
      current_.maxconn = static_cast<int>(config_detail::parse_integer(t[1], 0, kIntMax, at(line, kw)));
    } else if (kw == "timeout") {
      parse_timeout(t, line);
    } else if (kw == "pgha-hold-clients") {
      if (!has_frontend_side(kind)) throw ConfigError(file_, line, kw, "'" + kw + "' is not allowed in a " + where);
      if (t.size() != 2 && !(t.size() == 4 && t[2] == "max-clients")) {
        throw ConfigError(file_, line, kw, "expected 'pgha-hold-clients TIMEOUT [max-clients N]'");
      }
      current_.hold_timeout = config_detail::parse_duration(t[1], at(line, kw));
      if (t.size() == 4) {
        current_.hold_max = static_cast<int>(config_detail::parse_integer(t[3], 1, kIntMax, at(line, kw)));
      }
    } else if (kw == "option") {
      parse_option(t, 1, line, false);
    } else if (kw == "no" && t.size() >= 2 && t[1] == "option") {
      parse_option(t, 2, line, true);
    } else if (kw == "no" && t.size() >= 2 && t[1] == "log") {
      return;
    } else if (kw == "http-check") {
      parse_http_check(t, line);
    } else if (kw == "tcp-check") {
      throw ConfigError(file_, line, kw, "tcp-check rules are not supported (a server with 'check' and no "
                                         "check option gets a plain TCP connect check)");
    } else if (kw == "default-server") {
      if (!has_backend_side(kind)) throw ConfigError(file_, line, kw, "'default-server' is not allowed in a " + where);
      config_detail::parse_server_params(t, 1, current_.server_defaults, at(line, "default-server"), bases_,
                                         result_.warnings);
    } else if (kw == "server") {
      if (kind != SectionKind::kListen && kind != SectionKind::kBackend) {
        throw ConfigError(file_, line, kw, "'server' is not allowed in a " + where);
      }
      parse_server(t, line);
    } else if (kw == "default_backend" || kw == "use_backend") {
      if (kind == SectionKind::kBackend || kind == SectionKind::kListen) {
        throw ConfigError(file_, line, kw, "'" + kw + "' is not supported in a " + where +
                                               " (use a frontend with a backend)");
      }
      need_args(1);
      if (kw == "use_backend" && t.size() > 2) {
        throw ConfigError(file_, line, kw, "conditional use_backend (ACL routing) is not supported; only "
                                           "'default_backend NAME' or an unconditional 'use_backend NAME'");
      }
      if (kw == "default_backend" && t.size() > 2) {
        throw ConfigError(file_, line, kw, "unexpected '" + t[2] + "' after the backend name");
      }
      // An unconditional use_backend wins over default_backend, as in HAProxy.
      if (kw == "use_backend" || !current_.has_use_backend) {
        current_.default_backend = t[1];
        current_.default_backend_line = line;
      }
      if (kw == "use_backend") current_.has_use_backend = true;
    } else if (kw == "stats") {
      if (current_.stats_line == 0) current_.stats_line = line;
    } else if (kHarmlessKeywords.count(kw) != 0) {
      warn(line, kw, "'" + kw + "' is ignored by pgha-proxy");
    } else if (kw == "load-server-state-from-file" || kw == "server-state-file-name") {
      // HAProxy's way to carry server states across its own reloads; pgha-proxy's reload keeps
      // them itself, and a start never trusts a stale state (servers are DOWN until checked).
      warn(line, kw, "'" + kw + "' is ignored: pgha-proxy keeps server states across its reloads itself and "
                         "starts each server DOWN until its first check");
    } else {
      throw ConfigError(file_, line, kw, "unsupported keyword '" + kw + "' in a " + where +
                                             ": ignoring it could change routing (see conf/README.md "
                                             "for the supported haproxy.cfg subset)");
    }
  }

  void parse_timeout(const Tokens& t, int line) {
    if (t.size() < 2) throw ConfigError(file_, line, "timeout", "'timeout' needs a name and a value");
    const std::string key = "timeout " + t[1];
    if (kHarmlessTimeouts.count(t[1]) != 0) {
      warn(line, key, "'" + key + "' is ignored by pgha-proxy");
      return;
    }
    std::optional<Millis>* slot = t[1] == "connect" ? &current_.timeout_connect
                                  : t[1] == "client" ? &current_.timeout_client
                                  : t[1] == "server" ? &current_.timeout_server
                                  : t[1] == "check"  ? &current_.timeout_check
                                  : t[1] == "tunnel" ? &current_.timeout_tunnel
                                  : (t[1] == "client-fin" || t[1] == "server-fin") ? &current_.timeout_fin
                                                     : nullptr;
    if (slot == nullptr) throw ConfigError(file_, line, key, "unsupported timeout '" + t[1] + "'");
    if (t.size() != 3) throw ConfigError(file_, line, key, "'" + key + "' needs one value");
    Millis value = config_detail::parse_duration(t[2], at(line, key));
    if (value.count() == 0 && (t[1] == "connect" || t[1] == "check")) {
      throw ConfigError(file_, line, key, "must be greater than 0 (every wait needs a deadline)");
    }
    *slot = value;
  }

  void parse_option(const Tokens& t, size_t name_index, int line, bool negated) {
    if (t.size() <= name_index) throw ConfigError(file_, line, "option", "'option' needs a name");
    const std::string& name = t[name_index];
    const std::string key = "option " + name;
    const size_t first_arg = name_index + 1;
    const size_t arg_count = t.size() - first_arg;
    if (kSilentOptions.count(name) != 0) return;
    if (kHarmlessOptions.count(name) != 0) {
      warn(line, key, "'" + key + "' is ignored by pgha-proxy");
      return;
    }
    if (name == "splice-auto" || name == "splice-request" || name == "splice-response") {
      // pgha splices both directions of a bulk stream: any of the three turns it on.
      current_.splice = !negated;
      return;
    }
    const bool is_check_option = name == "httpchk" || name == "pgsql-check" || name == "tcp-check";
    if (is_check_option && !has_backend_side(current_.kind)) {
      warn(line, key, "'" + key + "' is ignored in a frontend section");
      return;
    }
    if (is_check_option && negated) {
      current_.check_kind = CheckKind::kTcp;
      current_.check_option_line = 0;
      return;
    }
    if (name == "httpchk") {
      health::HttpCheckSpec http = current_.http;
      http.method = "OPTIONS";
      http.path = "/";
      http.version = "HTTP/1.0";
      http.host_header.clear();
      if (arg_count == 1) {
        http.path = t[first_arg];
      } else if (arg_count >= 2 && arg_count <= 3) {
        http.method = t[first_arg];
        http.path = t[first_arg + 1];
        if (arg_count == 3) parse_http_version(t[first_arg + 2], http, line, key);
      } else if (arg_count > 3) {
        throw ConfigError(file_, line, key, "expected 'option httpchk [METHOD] [URI] [VERSION]'");
      }
      validate_http(http, line, key);
      current_.http = http;
      set_check_kind(CheckKind::kHttp, key, line);
    } else if (name == "pgsql-check") {
      if (arg_count != 2 || t[first_arg] != "user" || t[first_arg + 1].empty()) {
        throw ConfigError(file_, line, key, "expected 'option pgsql-check user USER'");
      }
      current_.pgsql_user = t[first_arg + 1];
      set_check_kind(CheckKind::kPgsql, key, line);
    } else if (name == "tcp-check") {
      set_check_kind(CheckKind::kTcp, key, line);
    } else {
      throw ConfigError(file_, line, key, "unsupported option '" + name + "': ignoring it could change "
                                          "routing or health checking");
    }
  }

  void set_check_kind(CheckKind kind, const std::string& option, int line) {
    current_.check_kind = kind;
    current_.check_option = option;
    current_.check_option_line = line;
  }

  // "HTTP/1.1" or HAProxy's old trick "HTTP/1.1\r\nHost:\ example" (escapes already decoded).
  void parse_http_version(const std::string& text, health::HttpCheckSpec& http, int line, const std::string& key) {
    size_t pos = text.find("\r\n");
    http.version = text.substr(0, pos);
    while (pos != std::string::npos) {
      size_t start = pos + 2;
      pos = text.find("\r\n", start);
      std::string header = text.substr(start, pos == std::string::npos ? std::string::npos : pos - start);
      if (header.empty()) continue;
      size_t colon = header.find(':');
      if (colon == std::string::npos || lowercase(header.substr(0, colon)) != "host") {
        throw ConfigError(file_, line, key, "only a Host header can be added to the check request, not '" +
                                                header + "'");
      }
      size_t value = header.find_first_not_of(' ', colon + 1);
      http.host_header = value == std::string::npos ? "" : header.substr(value);
    }
  }

  void validate_http(const health::HttpCheckSpec& http, int line, const std::string& key) const {
    config_detail::check_http_method(http.method, at(line, key));
    config_detail::check_http_path(http.path, at(line, key));
    config_detail::check_http_host_header(http.host_header, at(line, key));
    config_detail::check_http_version(http.version, at(line, key));
  }

  void parse_http_check(const Tokens& t, int line) {
    if (!has_backend_side(current_.kind)) {
      warn(line, "http-check", "'http-check' is ignored in a frontend section");
      return;
    }
    if (t.size() < 2) throw ConfigError(file_, line, "http-check", "'http-check' needs arguments");
    const std::string key = "http-check " + t[1];
    if (t[1] == "expect") {
      if (t.size() != 4 || t[2] != "status") {
        throw ConfigError(file_, line, key, "only 'http-check expect status CODE' is supported");
      }
      current_.http.expect_status =
          static_cast<int>(config_detail::parse_integer(t[3], 100, 599, at(line, key)));
    } else if (t[1] == "send") {
      health::HttpCheckSpec http = current_.http;
      for (size_t i = 2; i < t.size(); i += 2) {
        if (i + 1 >= t.size()) throw ConfigError(file_, line, key, "'" + t[i] + "' needs a value");
        if (t[i] == "meth") {
          http.method = t[i + 1];
        } else if (t[i] == "uri") {
          http.path = t[i + 1];
        } else if (t[i] == "ver") {
          http.version = t[i + 1];
        } else if (t[i] == "hdr" && i + 2 < t.size()) {
          if (lowercase(t[i + 1]) != "host") {
            throw ConfigError(file_, line, key, "only a Host header can be added to the check request, not '" +
                                                    t[i + 1] + "'");
          }
          http.host_header = t[i + 2];
          ++i;
        } else {
          throw ConfigError(file_, line, key, "unsupported 'http-check send' argument '" + t[i] + "'");
        }
      }
      validate_http(http, line, key);
      current_.http = http;
    } else if (t[1] == "send-state") {
      warn(line, key, "'http-check send-state' is ignored by pgha-proxy");
    } else {
      throw ConfigError(file_, line, key, "unsupported 'http-check " + t[1] +
                                              "': only 'expect status CODE' and 'send' are supported");
    }
  }

  void parse_server(const Tokens& t, int line) {
    if (t.size() < 2) throw ConfigError(file_, line, "server", "'server' needs a name and an address");
    if (t.size() < 3 || (config_detail::is_server_param_keyword(t[2]) && t[2].find(':') == std::string::npos)) {
      throw ConfigError(file_, line, "server",
                        "server '" + t[1] + "' has no address (expected 'server NAME ADDR:PORT')");
    }
    ParsedServer server;
    server.name = t[1];
    server.line = line;
    server.address = config_detail::parse_server_address(t[2], at(line, "server " + t[1]));
    server.params = current_.server_defaults;
    config_detail::parse_server_params(t, 3, server.params, at(line, "server"), bases_, result_.warnings);
    current_.servers.push_back(std::move(server));
  }

  ServerConfig make_server(const Section& backend, const ParsedServer& parsed) {
    ServerConfig server;
    server.name = parsed.name;
    server.host = parsed.address.host;
    server.port = parsed.address.port;
    server.weight = parsed.params.weight;
    server.maxconn = parsed.params.maxconn;
    server.backup = parsed.params.backup;
    server.shutdown_sessions_on_down = parsed.params.shutdown_sessions;
    server.shutdown_grace = parsed.params.shutdown_grace;
    health::CheckSpec& check = server.check;
    check.host = server.host;
    check.port = server.port;
    if (!parsed.params.check && parsed.params.observe.layer4) {
      throw ConfigError(file_, parsed.params.observe_line, "observe",
                        "server '" + parsed.name + "' observes layer 4 but has no 'check' to bring it back UP");
    }
    if (!parsed.params.check) return server;  // kNone: always UP
    check.type = backend.check_kind == CheckKind::kHttp    ? health::CheckType::kHttp
                 : backend.check_kind == CheckKind::kPgsql ? health::CheckType::kPgsql
                                                           : health::CheckType::kTcp;
    if (!parsed.params.check_addr.empty()) check.host = parsed.params.check_addr;
    check.port = parsed.params.check_port.value_or(server.port);
    check.timing = parsed.params.timing;
    check.timing.timeout = backend.timeout_check.value_or(Millis{0});
    check.timing.connect_timeout = backend.timeout_connect.value_or(Millis{0});
    check.initial_state = parsed.params.initial_state;
    check.observe = parsed.params.observe;
    if (check.type == health::CheckType::kHttp) check.http = backend.http;
    if (check.type == health::CheckType::kPgsql) check.pgsql.user = backend.pgsql_user;
    if (parsed.params.tls.enabled) {
      check.tls = parsed.params.tls;
      check.tls.verify = parsed.params.verify.value_or(server_verify_);
      const Location crt = at(parsed.params.crt_line, "crt");
      tls_contexts_.attach(check,
                           config_detail::CheckTlsSource{at(parsed.line, "server " + parsed.name),
                                                         at(parsed.params.ca_file_line, "ca-file"), crt, crt},
                           "add 'ca-file FILE' (or 'ca-file @system-ca'), or 'verify none' to check without "
                           "verifying, or 'ssl-server-verify none' in global (HAProxy refuses this too)");
    }
    return server;
  }

  void add_listener(const Section& frontend, const Section& backend) {
    ListenerConfig listener;
    ListenerSource src;
    listener.name = frontend.name;
    if (backend.name != frontend.name) listener.backend_name = backend.name;
    listener.bind_host = frontend.bind->host;
    listener.bind_port = frontend.bind->port;
    listener.balance = backend.balance;
    listener.maxconn = frontend.maxconn;
    listener.timeout_connect = backend.timeout_connect.value_or(kDefaultConnectTimeout);
    listener.timeout_client = frontend.timeout_client.value_or(Millis{0});
    listener.timeout_server = backend.timeout_server.value_or(Millis{0});
    listener.timeout_tunnel = backend.timeout_tunnel.value_or(Millis{0});
    if (auto fin = frontend.timeout_fin ? frontend.timeout_fin : backend.timeout_fin) listener.timeout_fin = *fin;
    listener.splice = frontend.splice.value_or(backend.splice.value_or(false));
    listener.hold_timeout = frontend.hold_timeout.value_or(Millis{0});
    listener.hold_max = frontend.hold_max.value_or(listener.hold_max);
    src.self = at(frontend.line, kind_name(frontend.kind) + std::string(" ") + frontend.name);
    src.bind = at(frontend.bind_line, "bind");
    bool any_checked = false;
    for (const ParsedServer& parsed : backend.servers) {
      listener.servers.push_back(make_server(backend, parsed));
      src.servers.push_back(at(parsed.line, "server " + parsed.name));
      any_checked = any_checked || parsed.params.check;
    }
    std::vector<std::string> missing;
    if (!backend.timeout_connect) missing.push_back("connect");
    if (!frontend.timeout_client && !backend.timeout_tunnel) missing.push_back("client");
    if (!backend.timeout_server && !backend.timeout_tunnel) missing.push_back("server");
    if (!missing.empty()) {
      std::string names;
      for (const std::string& m : missing) names += (names.empty() ? "" : ", ") + m;
      warn(frontend.line, src.self.key,
           "missing timeouts (" + names + "): using 5s for connect and no idle timeout for client and "
           "server (HAProxy warns about this too)");
    }
    if (backend.check_kind != CheckKind::kTcp && !any_checked && !backend.servers.empty()) {
      warn(backend.check_option_line, backend.check_option,
           "'" + backend.check_option + "' has no effect: no server of '" + backend.name +
               "' has 'check', so none is health-checked");
    }
    result_.config.listeners.push_back(std::move(listener));
    source_.listeners_src.push_back(std::move(src));
  }

  void build_listeners() {
    std::set<std::string> used_backends;
    for (const Section& proxy : proxies_) {
      if (proxy.kind == SectionKind::kListen) {
        add_listener(proxy, proxy);
        continue;
      }
      auto it = backends_.find(proxy.default_backend);
      if (it == backends_.end()) {
        throw ConfigError(file_, proxy.default_backend_line, "default_backend",
                          "frontend '" + proxy.name + "' uses unknown backend '" + proxy.default_backend + "'");
      }
      used_backends.insert(it->first);
      add_listener(proxy, it->second);
    }
    for (const auto& [name, backend] : backends_) {
      if (used_backends.count(name) == 0) {
        warn(backend.line, "backend " + name, "backend '" + name + "' is not used by any frontend");
      }
    }
    source_.listeners = at(1, "listen");
    source_.admin_bind = at(0, "admin");
    config_detail::validate_config(result_.config, source_, result_.warnings);
  }

  const std::string& file_;
  LoadedConfig result_;
  ConfigSource source_;
  bool server_verify_ = true;  // global ssl-server-verify (HAProxy's default: required)
  config_detail::ServerParamBases bases_;  // global ca-base, crt-base
  config_detail::CheckTlsContexts tls_contexts_;
  Section defaults_;  // the latest defaults section (HAProxy's built-in values before any)
  Section current_;
  std::vector<Section> proxies_;  // listen and frontend sections, in file order
  std::map<std::string, Section> backends_;
};

}  // namespace

LoadedConfig HaproxyConfigLoader::parse(std::string_view text) const { return Parser(file_).parse(text); }

}  // namespace pgha::proxy
