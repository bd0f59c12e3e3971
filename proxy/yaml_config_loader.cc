#include "proxy/yaml_config_loader.h"

#include <cctype>
#include <cstdlib>
#include <filesystem>
#include <initializer_list>
#include <limits>
#include <set>
#include <string_view>

#include <yaml-cpp/yaml.h>

#include "config_file/config_file_reader.h"
#include "proxy/check_tls_contexts.h"
#include "proxy/config_loader.h"

namespace pgha::proxy {

namespace {

using config_detail::ConfigSource;
using config_detail::ListenerSource;
using config_detail::Location;
using Keys = std::initializer_list<std::string_view>;

constexpr int64_t kIntMax = std::numeric_limits<int>::max();
constexpr Millis kDefaultConnectTimeout{5000};
// A token travels in a header of the admin API, whose headers are limited to 8 KiB.
constexpr std::size_t kMaxTokenFileBytes = 8 * 1024;

const Keys kTopKeys = {"workers", "maxconn", "log_level", "admin", "defaults", "listeners"};
const Keys kAdminKeys = {"enabled", "listen", "token", "token_file", "token_env"};
const Keys kDefaultsKeys = {"timeout", "check", "balance", "maxconn", "on_marked_down", "shutdown_grace", "init_state",
                            "observe", "error_limit", "on_error", "splice", "hold"};
const Keys kListenerKeys = {"name", "bind", "balance", "maxconn", "timeout", "check", "on_marked_down",
                            "shutdown_grace", "init_state", "observe", "error_limit", "on_error", "splice", "hold",
                            "servers"};
const Keys kServerKeys = {"name", "address", "weight", "maxconn", "backup", "on_marked_down", "shutdown_grace",
                          "init_state", "observe", "error_limit", "on_error", "check"};
const Keys kHoldKeys = {"timeout", "max_clients"};
const Keys kTimeoutKeys = {"connect", "client", "server", "tunnel", "fin"};
const Keys kCheckKeys = {"type", "port", "host", "method", "path", "version", "host_header", "expect_status",
                         "user", "ssl_request", "inter", "fastinter", "downinter", "fall", "rise", "timeout",
                         "connect_timeout", "tls"};
const Keys kTlsKeys = {"enabled", "verify", "ca_file", "cert_file", "key_file", "sni", "verify_host"};

std::string child(const std::string& path, std::string_view key) {
  return path.empty() ? std::string(key) : path + "." + std::string(key);
}
std::string item(const std::string& path, size_t index) { return path + "[" + std::to_string(index) + "]"; }

std::string join(Keys keys) {
  std::string out;
  for (std::string_view k : keys) out += (out.empty() ? "" : ", ") + std::string(k);
  return out;
}

// What defaults and a listener hand down to the levels below them.
struct Inherited {
  Balance balance = Balance::kRoundRobin;
  int maxconn = 0;
  Millis timeout_connect = kDefaultConnectTimeout;
  bool timeout_connect_set = false;  // an explicit connect timeout also bounds check connects
  Millis timeout_client{0};
  Millis timeout_server{0};
  Millis timeout_tunnel{0};
  Millis timeout_fin{ListenerConfig{}.timeout_fin};
  bool splice = false;
  health::CheckSpec check;  // type kNone unless a level sets check.type
  config_detail::CheckTlsSource check_tls_source;  // where check.tls's files were named
  bool shutdown_sessions = false;
  Millis shutdown_grace{0};
  health::InitialState initial_state = health::InitialState::kDownUntilFirstCheck;
  health::ObserveSpec observe;
  Millis hold_timeout{0};
  int hold_max = ListenerConfig{}.hold_max;
};

class Parser {
 public:
  explicit Parser(const std::string& file) : file_(file) {}

  LoadedConfig parse(const std::string& text) {
    YAML::Node root;
    try {
      root = YAML::Load(text);
    } catch (const YAML::Exception& e) {
      throw ConfigError(file_, e.mark.is_null() ? 0 : e.mark.line + 1, "yaml", "invalid YAML: " + e.msg);
    }
    result_.config.source_file = file_;
    source_.listeners = Location{file_, 1, "listeners"};
    source_.admin_bind = Location{file_, 1, "admin.listen"};
    if (!root.IsNull()) {
      if (!root.IsMap()) fail(root, "document", "the top level must be a mapping of settings");
      parse_top(root);
    }
    config_detail::validate_config(result_.config, source_, result_.warnings);
    return std::move(result_);
  }

 private:
  Location at(const YAML::Node& node, const std::string& key) const {
    const YAML::Mark mark = node.Mark();
    return Location{file_, mark.is_null() ? 0 : mark.line + 1, key};
  }
  [[noreturn]] void fail(const YAML::Node& node, const std::string& key, const std::string& message) const {
    config_detail::fail(at(node, key), message);
  }

  // Every key of MAP must be a scalar among ALLOWED and appear once.
  void check_keys(const YAML::Node& map, const std::string& path, Keys allowed) const {
    std::set<std::string> seen;
    for (auto it = map.begin(); it != map.end(); ++it) {
      // Copies: the iterator's pair is a temporary proxy.
      const YAML::Node key = it->first;
      const YAML::Node value = it->second;
      if (!key.IsScalar()) fail(key, path, "keys must be plain strings");
      const std::string name = key.Scalar();
      bool known = false;
      for (std::string_view a : allowed) known = known || a == name;
      if (!known) {
        fail(key, child(path, name), "unknown key '" + name + "' (expected one of: " + join(allowed) + ")");
      }
      if (!seen.insert(name).second) fail(key, child(path, name), "duplicate key '" + name + "'");
      // A null value's mark points past it (often to the next line): report it at its key.
      if (value.IsNull()) fail(key, child(path, name), "'" + name + "' has no value");
    }
  }

  void expect_map(const YAML::Node& node, const std::string& path, Keys allowed) const {
    if (!node.IsMap()) fail(node, path, "expected a mapping");
    check_keys(node, path, allowed);
  }
  const std::string& scalar(const YAML::Node& node, const std::string& path) const {
    if (!node.IsScalar()) fail(node, path, "expected a single value");
    return node.Scalar();
  }
  int integer(const YAML::Node& node, const std::string& path, int64_t min, int64_t max) const {
    return static_cast<int>(config_detail::parse_integer(scalar(node, path), min, max, at(node, path)));
  }
  Millis duration(const YAML::Node& node, const std::string& path) const {
    return config_detail::parse_duration(scalar(node, path), at(node, path));
  }
  Millis positive_duration(const YAML::Node& node, const std::string& path) const {
    Millis d = duration(node, path);
    if (d.count() == 0) fail(node, path, "must be greater than 0");
    return d;
  }
  bool boolean(const YAML::Node& node, const std::string& path) const {
    const std::string& text = scalar(node, path);
    if (text == "true" || text == "yes" || text == "on") return true;
    if (text == "false" || text == "no" || text == "off") return false;
    fail(node, path, "'" + text + "' is not a boolean (true or false)");
  }
  std::string non_empty(const YAML::Node& node, const std::string& path) const {
    std::string text = scalar(node, path);
    if (text.empty()) fail(node, path, "must not be empty");
    return text;
  }

  void parse_top(const YAML::Node& root) {
    check_keys(root, "", kTopKeys);
    ProxyConfig& config = result_.config;
    if (auto n = root["workers"]) config.workers = integer(n, "workers", 0, 1024);
    if (auto n = root["maxconn"]) config.maxconn = integer(n, "maxconn", 0, kIntMax);
    if (auto n = root["log_level"]) {
      static const std::set<std::string> kLevels = {"trace", "debug", "info", "warn", "error", "critical", "off"};
      config.log_level = scalar(n, "log_level");
      if (kLevels.count(config.log_level) == 0) {
        fail(n, "log_level", "unknown level '" + config.log_level +
                                 "' (trace, debug, info, warn, error, critical, off)");
      }
    }
    if (auto n = root["admin"]) parse_admin(n);
    Inherited defaults;
    if (auto n = root["defaults"]) {
      expect_map(n, "defaults", kDefaultsKeys);
      apply_common(n, "defaults", defaults);
    }
    if (auto n = root["listeners"]) {
      source_.listeners = at(n, "listeners");
      if (!n.IsSequence()) fail(n, "listeners", "expected a list of listeners");
      for (size_t i = 0; i < n.size(); ++i) parse_listener(n[i], item("listeners", i), defaults);
    }
  }

  void parse_admin(const YAML::Node& node) {
    expect_map(node, "admin", kAdminKeys);
    AdminConfig& admin = result_.config.admin;
    if (auto n = node["enabled"]) admin.enabled = boolean(n, "admin.enabled");
    if (auto n = node["listen"]) {
      config_detail::HostPort hp = config_detail::parse_bind_address(scalar(n, "admin.listen"), at(n, "admin.listen"));
      admin.bind_host = hp.host;
      admin.bind_port = hp.port;
      source_.admin_bind = at(n, "admin.listen");
    }
    int sources = 0;
    for (const char* key : {"token", "token_file", "token_env"}) sources += node[key] ? 1 : 0;
    if (sources > 1) fail(node, "admin", "give one of token, token_file and token_env");
    if (auto n = node["token"]) admin.token = admin_token(n, "admin.token", non_empty(n, "admin.token"));
    if (auto n = node["token_file"]) {
      const std::string path = beside_config(non_empty(n, "admin.token_file"));
      // Like the config file itself: a regular file, bounded (/dev/zero or a FIFO must not hang the load).
      config_file::ConfigFileText read = config_file::read_config_file(path, kMaxTokenFileBytes);
      if (!read.ok()) fail(n, "admin.token_file", "cannot read " + path + ": " + read.error);
      std::string token = std::move(read.text);
      while (!token.empty() && std::isspace(static_cast<unsigned char>(token.back()))) token.pop_back();
      admin.token = admin_token(n, "admin.token_file", token);
    }
    if (auto n = node["token_env"]) {
      const std::string name = non_empty(n, "admin.token_env");
      const char* value = std::getenv(name.c_str());
      if (value == nullptr) fail(n, "admin.token_env", "the environment variable " + name + " is not set");
      admin.token = admin_token(n, "admin.token_env", value);
    }
  }

  // A token goes in an HTTP header: printable, no spaces, and long enough not to be guessed.
  std::string admin_token(const YAML::Node& node, const std::string& path, std::string token) const {
    if (token.size() < 16) fail(node, path, "the admin token must have at least 16 characters");
    for (const char c : token) {
      if (c <= ' ' || c == 0x7f) fail(node, path, "the admin token must be printable ASCII, without spaces");
    }
    return token;
  }

  // Keys shared by defaults and listeners.
  void apply_common(const YAML::Node& node, const std::string& path, Inherited& out) const {
    if (auto n = node["balance"]) {
      out.balance = config_detail::parse_balance(scalar(n, child(path, "balance")), at(n, child(path, "balance")));
    }
    if (auto n = node["maxconn"]) out.maxconn = integer(n, child(path, "maxconn"), 0, kIntMax);
    if (auto n = node["timeout"]) {
      const std::string tpath = child(path, "timeout");
      expect_map(n, tpath, kTimeoutKeys);
      if (auto v = n["connect"]) {
        out.timeout_connect = positive_duration(v, child(tpath, "connect"));
        out.timeout_connect_set = true;
      }
      if (auto v = n["client"]) out.timeout_client = duration(v, child(tpath, "client"));
      if (auto v = n["server"]) out.timeout_server = duration(v, child(tpath, "server"));
      if (auto v = n["tunnel"]) out.timeout_tunnel = duration(v, child(tpath, "tunnel"));
      if (auto v = n["fin"]) out.timeout_fin = duration(v, child(tpath, "fin"));
    }
    if (auto n = node["check"]) apply_check(n, child(path, "check"), out);
    if (auto n = node["splice"]) out.splice = boolean(n, child(path, "splice"));
    if (auto n = node["hold"]) apply_hold(n, child(path, "hold"), out);
    apply_server_defaults(node, path, out);
  }

  // "hold: off", "hold: 5s" or a mapping {timeout, max_clients}.
  void apply_hold(const YAML::Node& node, const std::string& path, Inherited& out) const {
    if (node.IsScalar()) {
      const std::string& text = node.Scalar();
      out.hold_timeout = text == "off" || text == "false" || text == "no" ? Millis{0} : duration(node, path);
      return;
    }
    expect_map(node, path, kHoldKeys);
    if (auto n = node["timeout"]) out.hold_timeout = duration(n, child(path, "timeout"));
    if (auto n = node["max_clients"]) out.hold_max = integer(n, child(path, "max_clients"), 1, kIntMax);
  }

  // Keys shared by defaults, listeners and servers.
  void apply_server_defaults(const YAML::Node& node, const std::string& path, Inherited& out) const {
    if (auto n = node["on_marked_down"]) {
      const std::string key = child(path, "on_marked_down");
      const std::string& action = scalar(n, key);
      if (action == "shutdown-sessions") {
        out.shutdown_sessions = true;
      } else if (action == "none") {
        out.shutdown_sessions = false;
      } else {
        fail(n, key, "unknown action '" + action + "' (shutdown-sessions or none)");
      }
    }
    if (auto n = node["shutdown_grace"]) out.shutdown_grace = duration(n, child(path, "shutdown_grace"));
    if (auto n = node["init_state"]) {
      const std::string key = child(path, "init_state");
      out.initial_state = config_detail::parse_init_state(scalar(n, key), at(n, key));
    }
    if (auto n = node["observe"]) {
      const std::string key = child(path, "observe");
      out.observe.layer4 = config_detail::parse_observe(scalar(n, key), at(n, key));
    }
    if (auto n = node["error_limit"]) out.observe.error_limit = integer(n, child(path, "error_limit"), 1, 1'000'000);
    if (auto n = node["on_error"]) {
      const std::string key = child(path, "on_error");
      out.observe.on_error = config_detail::parse_on_error(scalar(n, key), at(n, key));
    }
  }

  // "check: false" disables, "check: true" enables (TCP unless a type is inherited), a mapping
  // overrides the inherited fields one by one.
  void apply_check(const YAML::Node& node, const std::string& path, Inherited& out) const {
    health::CheckSpec& check = out.check;
    if (node.IsScalar()) {
      if (!boolean(node, path)) {
        check.type = health::CheckType::kNone;
      } else if (check.type == health::CheckType::kNone) {
        check.type = health::CheckType::kTcp;
      }
      return;
    }
    expect_map(node, path, kCheckKeys);
    if (auto n = node["type"]) {
      const std::string key = child(path, "type");
      const std::string& type = scalar(n, key);
      if (type == "none") {
        check.type = health::CheckType::kNone;
      } else if (type == "tcp") {
        check.type = health::CheckType::kTcp;
      } else if (type == "http") {
        check.type = health::CheckType::kHttp;
      } else if (type == "pgsql") {
        check.type = health::CheckType::kPgsql;
      } else {
        fail(n, key, "unknown check type '" + type + "' (none, tcp, http, pgsql)");
      }
    }
    if (auto n = node["port"]) {
      check.port = config_detail::parse_port(scalar(n, child(path, "port")), at(n, child(path, "port")));
    }
    if (auto n = node["host"]) {
      const std::string key = child(path, "host");
      check.host = scalar(n, key);
      if (!config_detail::is_valid_host(check.host)) {
        fail(n, key, "'" + check.host + "' is neither an IP address nor a valid host name");
      }
    }
    if (auto n = node["method"]) {
      check.http.method = scalar(n, child(path, "method"));
      config_detail::check_http_method(check.http.method, at(n, child(path, "method")));
    }
    if (auto n = node["path"]) {
      check.http.path = scalar(n, child(path, "path"));
      config_detail::check_http_path(check.http.path, at(n, child(path, "path")));
    }
    if (auto n = node["version"]) {
      check.http.version = scalar(n, child(path, "version"));
      config_detail::check_http_version(check.http.version, at(n, child(path, "version")));
    }
    if (auto n = node["host_header"]) {
      check.http.host_header = scalar(n, child(path, "host_header"));
      config_detail::check_http_host_header(check.http.host_header, at(n, child(path, "host_header")));
    }
    if (auto n = node["expect_status"]) check.http.expect_status = integer(n, child(path, "expect_status"), 100, 599);
    if (auto n = node["user"]) check.pgsql.user = non_empty(n, child(path, "user"));
    if (auto n = node["ssl_request"]) check.pgsql.ssl_request = boolean(n, child(path, "ssl_request"));
    health::CheckTiming& timing = check.timing;
    if (auto n = node["inter"]) timing.inter = positive_duration(n, child(path, "inter"));
    if (auto n = node["fastinter"]) timing.fastinter = positive_duration(n, child(path, "fastinter"));
    if (auto n = node["downinter"]) timing.downinter = positive_duration(n, child(path, "downinter"));
    if (auto n = node["fall"]) timing.fall = integer(n, child(path, "fall"), 1, 1'000'000);
    if (auto n = node["rise"]) timing.rise = integer(n, child(path, "rise"), 1, 1'000'000);
    if (auto n = node["timeout"]) timing.timeout = positive_duration(n, child(path, "timeout"));
    if (auto n = node["connect_timeout"]) timing.connect_timeout = positive_duration(n, child(path, "connect_timeout"));
    if (auto n = node["tls"]) apply_tls(n, child(path, "tls"), check.tls, out.check_tls_source);
  }

  // "tls: true|false" (HAProxy's check-ssl / no-check-ssl), or a mapping, which turns TLS on
  // unless it says "enabled: false" and overrides the inherited fields one by one.
  void apply_tls(const YAML::Node& node, const std::string& path, health::CheckTlsSpec& tls,
                 config_detail::CheckTlsSource& source) const {
    if (node.IsScalar()) {
      tls.enabled = boolean(node, path);
      return;
    }
    expect_map(node, path, kTlsKeys);
    tls.enabled = true;
    if (auto n = node["enabled"]) tls.enabled = boolean(n, child(path, "enabled"));
    if (auto n = node["verify"]) {
      const std::string key = child(path, "verify");
      tls.verify = config_detail::parse_verify(scalar(n, key), at(n, key));
    }
    if (auto n = node["ca_file"]) {
      const std::string key = child(path, "ca_file");
      tls.ca_file = non_empty(n, key);
      if (tls.ca_file != config_detail::kSystemCa) tls.ca_file = beside_config(tls.ca_file);
      source.ca_file = at(n, key);
    }
    if (auto n = node["cert_file"]) {
      tls.cert_file = beside_config(non_empty(n, child(path, "cert_file")));
      source.cert_file = at(n, child(path, "cert_file"));
    }
    if (auto n = node["key_file"]) {
      tls.key_file = beside_config(non_empty(n, child(path, "key_file")));
      source.key_file = at(n, child(path, "key_file"));
    }
    if (auto n = node["sni"]) {
      tls.sni = non_empty(n, child(path, "sni"));
      config_detail::check_tls_name(tls.sni, at(n, child(path, "sni")));
    }
    if (auto n = node["verify_host"]) {
      tls.verify_host = non_empty(n, child(path, "verify_host"));
      config_detail::check_tls_name(tls.verify_host, at(n, child(path, "verify_host")));
    }
  }

  // A relative path names a file beside the config file.
  std::string beside_config(const std::string& name) const {
    std::filesystem::path path = name;
    if (path.is_relative()) path = std::filesystem::path(file_).parent_path() / path;
    return path.string();
  }

  // A check that is complete enough to run; NODE/PATH locate the level that produced it.
  void validate_check(const health::CheckSpec& check, const YAML::Node& node, const std::string& path) const {
    if (check.type == health::CheckType::kPgsql && check.pgsql.user.empty()) {
      fail(node, child(path, "user"), "a pgsql check needs a user");
    }
  }

  void parse_listener(const YAML::Node& node, const std::string& path, const Inherited& defaults) {
    expect_map(node, path, kListenerKeys);
    Inherited inherited = defaults;
    apply_common(node, path, inherited);
    if (auto n = node["check"]) {
      validate_check(inherited.check, n, child(path, "check"));
    } else {
      validate_check(inherited.check, node, child(path, "check"));
    }
    ListenerConfig listener;
    ListenerSource src;
    src.self = at(node, path);
    auto name = node["name"];
    if (!name) fail(node, child(path, "name"), "a listener needs a name");
    listener.name = non_empty(name, child(path, "name"));
    auto bind = node["bind"];
    if (!bind) fail(node, child(path, "bind"), "listener '" + listener.name + "' needs a bind address (ADDR:PORT)");
    src.bind = at(bind, child(path, "bind"));
    config_detail::HostPort hp = config_detail::parse_bind_address(scalar(bind, child(path, "bind")), src.bind);
    listener.bind_host = hp.host;
    listener.bind_port = hp.port;
    listener.balance = inherited.balance;
    listener.maxconn = inherited.maxconn;
    listener.timeout_connect = inherited.timeout_connect;
    listener.timeout_client = inherited.timeout_client;
    listener.timeout_server = inherited.timeout_server;
    listener.timeout_tunnel = inherited.timeout_tunnel;
    listener.timeout_fin = inherited.timeout_fin;
    listener.splice = inherited.splice;
    listener.hold_timeout = inherited.hold_timeout;
    listener.hold_max = inherited.hold_max;
    if (auto servers = node["servers"]) {
      const std::string spath = child(path, "servers");
      if (!servers.IsSequence()) fail(servers, spath, "expected a list of servers");
      for (size_t i = 0; i < servers.size(); ++i) {
        listener.servers.push_back(parse_server(servers[i], item(spath, i), inherited));
        src.servers.push_back(at(servers[i], item(spath, i)));
      }
    }
    result_.config.listeners.push_back(std::move(listener));
    source_.listeners_src.push_back(std::move(src));
  }

  ServerConfig parse_server(const YAML::Node& node, const std::string& path, const Inherited& listener) {
    expect_map(node, path, kServerKeys);
    ServerConfig server;
    auto name = node["name"];
    if (!name) fail(node, child(path, "name"), "a server needs a name");
    server.name = non_empty(name, child(path, "name"));
    auto address = node["address"];
    if (!address) fail(node, child(path, "address"), "server '" + server.name + "' has no address (ADDR:PORT)");
    const std::string apath = child(path, "address");
    config_detail::HostPort hp = config_detail::parse_server_address(scalar(address, apath), at(address, apath));
    server.host = hp.host;
    server.port = hp.port;
    if (auto n = node["weight"]) server.weight = integer(n, child(path, "weight"), 0, 256);
    if (auto n = node["maxconn"]) server.maxconn = integer(n, child(path, "maxconn"), 0, kIntMax);
    if (auto n = node["backup"]) server.backup = boolean(n, child(path, "backup"));
    Inherited own = listener;
    apply_server_defaults(node, path, own);
    server.shutdown_sessions_on_down = own.shutdown_sessions;
    server.shutdown_grace = own.shutdown_grace;
    if (auto n = node["check"]) {
      apply_check(n, child(path, "check"), own);
      validate_check(own.check, n, child(path, "check"));
    }
    health::CheckSpec& check = server.check;
    if (own.check.type == health::CheckType::kNone && own.observe.layer4) {
      fail(node["observe"] ? node["observe"] : node, child(path, "observe"),
           "server '" + server.name + "' observes layer 4 but has no check to bring it back UP");
    }
    if (own.check.type == health::CheckType::kNone) {
      check.host = server.host;  // kNone: always UP; address kept for status output
      check.port = server.port;
      return server;
    }
    check = own.check;
    if (check.host.empty()) check.host = server.host;
    if (check.port == 0) check.port = server.port;
    if (check.timing.connect_timeout.count() == 0 && own.timeout_connect_set) {
      check.timing.connect_timeout = own.timeout_connect;
    }
    check.initial_state = own.initial_state;
    check.observe = own.observe;
    if (check.type != health::CheckType::kHttp) check.http = health::HttpCheckSpec{};
    if (check.type != health::CheckType::kPgsql) check.pgsql = health::PgsqlCheckSpec{};
    if (!check.tls.enabled) {
      check.tls = health::CheckTlsSpec{};
    } else {
      config_detail::CheckTlsSource source = own.check_tls_source;
      source.server = at(node, child(path, "check.tls"));
      tls_contexts_.attach(check, source,
                           "set check.tls.ca_file (a file, or @system-ca for the system's CAs), or check.tls.verify: "
                           "none to check without verifying");
    }
    return server;
  }

  const std::string& file_;
  LoadedConfig result_;
  ConfigSource source_;
  config_detail::CheckTlsContexts tls_contexts_;
};

}  // namespace

LoadedConfig YamlConfigLoader::parse(const std::string& text) const { return Parser(file_).parse(text); }

}  // namespace pgha::proxy
