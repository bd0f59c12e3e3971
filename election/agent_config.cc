#include "election/agent_config.h"

#include <algorithm>
#include <cctype>
#include <initializer_list>
#include <limits>
#include <optional>
#include <set>
#include <sstream>
#include <string_view>
#include <utility>

#include <yaml-cpp/yaml.h>

#include "config_file/config_file_reader.h"
#include "election/command_words.h"
#include "election/yaml_json.h"
#include "election/bounded_json.h"
#include "tls_context/tls_context.h"

namespace pgha::election {

namespace {

// How the loader treats a key of a patroni.yml.
enum class Support {
  kRead,     // implemented
  kWarn,     // Patroni's, harmless without it: ignored with a warning
  kReject,   // Patroni's, but ignoring it would change behaviour (TLS, other DCSs...)
};

struct KeyRule {
  std::string_view key;
  Support support = Support::kRead;
  std::string_view note = {};  // why it is ignored or rejected
};
using Rules = std::initializer_list<KeyRule>;

constexpr std::string_view kOnlyEtcd3 = "pgha-agent elects through etcd v3 only: configure etcd3";
constexpr std::string_view kIgnored = "ignored by pgha-agent";
constexpr std::string_view kNoScripts = "bootstrap scripts are not supported: nothing would run them";
constexpr std::string_view kSslIgnored = "ignored: pgha-agent connects without client SSL settings";

const Rules kTopRules = {
    {"scope"}, {"namespace"}, {"name"}, {"restapi"}, {"etcd3"}, {"bootstrap"}, {"postgresql"}, {"tags"},
    {"switchover_grace"}, {"ctl"},
    {"log", Support::kWarn, "ignored: pgha-agent logs to stderr"},
    {"watchdog", Support::kWarn,
     "ignored: pgha-agent fences without a watchdog device, by demoting PostgreSQL when it cannot "
     "refresh its lease within retry_timeout"},
    {"etcd", Support::kReject, "etcd v2 is not supported: use etcd3"},
    {"consul", Support::kReject, kOnlyEtcd3},
    {"zookeeper", Support::kReject, kOnlyEtcd3},
    {"exhibitor", Support::kReject, kOnlyEtcd3},
    {"kubernetes", Support::kReject, kOnlyEtcd3},
    {"raft", Support::kReject, kOnlyEtcd3},
    {"citus", Support::kReject, "Citus clusters are not supported"},
};
const Rules kRestApiRules = {
    {"listen"}, {"connect_address"}, {"authentication"}, {"certfile"}, {"keyfile"}, {"keyfile_password"},
    {"cafile"}, {"ciphers"}, {"verify_client"},
    {"allowlist", Support::kReject, "client allowlists are not supported: anyone could POST /switchover"},
    {"allowlist_include_members", Support::kReject,
     "client allowlists are not supported: anyone could POST /switchover"},
    {"trusted_proxies", Support::kWarn, kIgnored},
    {"http_extra_headers", Support::kWarn, kIgnored},
    {"https_extra_headers", Support::kWarn, kIgnored},
    {"request_queue_size", Support::kWarn, kIgnored},
    {"server_tokens", Support::kWarn, kIgnored},
};
const Rules kCredentialRules = {{"username"}, {"password"}};
const Rules kCtlRules = {{"insecure"}, {"cacert"}, {"certfile"}, {"keyfile"}, {"keyfile_password"}, {"authentication"}};
const Rules kEtcd3Rules = {
    {"host"}, {"hosts"}, {"protocol"}, {"username"}, {"password"}, {"cacert"}, {"cert"}, {"key"}, {"key_password"},
    {"url", Support::kReject, "not supported: list the members in etcd3.hosts"},
    {"proxy", Support::kReject, "not supported: list the members in etcd3.hosts"},
    {"srv", Support::kReject, "DNS SRV discovery is not supported: list the members in etcd3.hosts"},
    {"srv_suffix", Support::kReject, "DNS SRV discovery is not supported: list the members in etcd3.hosts"},
    {"use_proxies", Support::kWarn, kIgnored},
};
const Rules kBootstrapRules = {
    {"dcs"}, {"initdb"}, {"pg_hba"}, {"users"}, {"method"},
    {"post_bootstrap", Support::kReject, kNoScripts},
    {"post_init", Support::kReject, kNoScripts},
};
const Rules kDcsRules = {
    {"ttl"}, {"loop_wait"}, {"retry_timeout"}, {"maximum_lag_on_failover"}, {"synchronous_mode"},
    {"postgresql"}, {"synchronous_mode_strict"}, {"synchronous_node_count"}, {"maximum_lag_on_syncnode"},
    {"standby_cluster", Support::kReject, "standby clusters are not supported"},
    {"failsafe_mode", Support::kWarn,
     "ignored: without etcd a primary always demotes (pgha-agent is stricter than failsafe mode)"},
    {"primary_start_timeout", Support::kWarn, kIgnored},
    {"master_start_timeout", Support::kWarn, kIgnored},
    {"primary_stop_timeout", Support::kWarn, kIgnored},
    {"master_stop_timeout", Support::kWarn, kIgnored},
    {"check_timeline", Support::kWarn, kIgnored},
    {"max_timelines_history", Support::kWarn, kIgnored},
    {"slots"}, {"member_slots_ttl"},
    {"ignore_slots", Support::kWarn, "ignored: only logical slots are ignored by Patroni, and none are made"},
};
const Rules kDcsPostgresqlRules = {
    {"use_pg_rewind"}, {"parameters"}, {"pg_hba"}, {"use_slots"},
    {"remove_data_directory_on_rewind_failure"}, {"remove_data_directory_on_diverged_timelines"},
    {"recovery_conf", Support::kReject, "not supported: pgha-agent writes primary_conninfo itself"},
};
const Rules kPostgresqlRules = {
    {"listen"}, {"connect_address"}, {"data_dir"}, {"bin_dir"}, {"pgpass"}, {"authentication"},
    {"parameters"}, {"pg_hba"}, {"use_pg_rewind"},
    {"pg_ctl_timeout", Support::kWarn, "ignored: pgha-agent bounds every pg_ctl wait itself"},
    {"use_unix_socket", Support::kWarn, "ignored: pgha-agent connects over TCP to connect_address"},
    {"use_unix_socket_repl", Support::kWarn, "ignored: replication connects over TCP"},
    {"pg_ident", Support::kWarn, kIgnored},
    {"bin_name", Support::kWarn, kIgnored},
    {"proxy_address", Support::kWarn, kIgnored},
    {"use_slots"},
    {"basebackup", Support::kWarn, "ignored: replicas are cloned with pgha-agent's pg_basebackup options"},
    {"create_replica_methods", Support::kWarn, "ignored: replicas are cloned with pg_basebackup"},
    {"remove_data_directory_on_rewind_failure"}, {"remove_data_directory_on_diverged_timelines"},
    {"config_dir", Support::kReject, "not supported: postgresql.conf is kept in data_dir"},
    {"custom_conf", Support::kReject, "not supported: postgresql.conf is generated from parameters"},
    {"recovery_conf", Support::kReject, "not supported: pgha-agent writes primary_conninfo itself"},
    {"callbacks"}, {"pre_promote"}, {"before_stop"}, {"callback_timeout"},
};
const Rules kCallbackRules = {{"on_start"}, {"on_stop"}, {"on_restart"}, {"on_reload"}, {"on_role_change"}};
const Rules kAuthenticationRules = {
    {"superuser"}, {"replication"},
    {"rewind", Support::kWarn, "ignored: pg_rewind connects as the superuser"},
};
const Rules kPgUserRules = {
    {"username"}, {"password"},
    {"sslmode", Support::kWarn, kSslIgnored}, {"sslkey", Support::kWarn, kSslIgnored},
    {"sslcert", Support::kWarn, kSslIgnored}, {"sslpassword", Support::kWarn, kSslIgnored},
    {"sslrootcert", Support::kWarn, kSslIgnored}, {"sslcrl", Support::kWarn, kSslIgnored},
    {"sslcrldir", Support::kWarn, kSslIgnored}, {"sslnegotiation", Support::kWarn, kSslIgnored},
    {"gssencmode", Support::kWarn, kSslIgnored}, {"channel_binding", Support::kWarn, kSslIgnored},
};
const Rules kBootstrapUserRules = {{"password"}, {"options"}};
const Rules kTagRules = {
    {"nofailover"}, {"noloadbalance"}, {"clonefrom"}, {"nosync"},
    {"replicatefrom"},
    {"nostream", Support::kReject, "replicas without streaming are not supported"},
    {"failover_priority"},
};

// initdb options pgha-agent sets itself (Patroni refuses them too).
const std::set<std::string, std::less<>> kReservedInitdbOptions = {"pgdata", "nosync", "pwfile", "sync-only",
                                                                   "version"};
constexpr int kMaxSeconds = 24 * 3600;
// A switchover must finish well inside the 60 s a REST request waits for its outcome.
constexpr std::int64_t kMaxSwitchoverGraceMs = 30'000;
constexpr int kDefaultEtcdPort = 2379;

// Milliseconds as the shortest decimal seconds: 4000 → "4", 1500 → "1.5", 250 → "0.25".
std::string seconds_text(std::int64_t ms) {
  std::string s = std::to_string(ms / 1000);
  if (ms % 1000 != 0) {
    std::string frac = std::to_string(1000 + ms % 1000).substr(1);
    while (frac.back() == '0') frac.pop_back();
    s += "." + frac;
  }
  return s;
}

std::string child(const std::string& path, std::string_view key) {
  return path.empty() ? std::string(key) : path + "." + std::string(key);
}
std::string item(const std::string& path, size_t index) { return path + "[" + std::to_string(index) + "]"; }

bool is_wildcard_host(std::string_view host) {
  return host.empty() || host == "*" || host == "0.0.0.0" || host == "::" || host == "[::]";
}

bool has_space(std::string_view text) {
  for (char c : text) {
    if (c == ' ' || c == '\t' || c == '\n' || c == '\r') return true;
  }
  return false;
}

struct HostPort {
  std::string host;  // as written, brackets of an IPv6 literal kept
  int port = 0;
};

class Parser {
 public:
  explicit Parser(std::string file) : file_(std::move(file)) {}

  AgentConfig parse(const std::string& text) {
    YAML::Node root;
    try {
      root = YAML::Load(text);
    } catch (const YAML::Exception& e) {
      throw AgentConfigError(file_, e.mark.is_null() ? 0 : e.mark.line + 1, "yaml", "invalid YAML: " + e.msg);
    }
    config_.source_file = file_;
    if (root.IsNull()) fail_at(1, "document", "the file is empty");
    if (!root.IsMap()) fail(root, "document", "the top level must be a mapping of settings");
    parse_top(root);
    return std::move(config_);
  }

 private:
  int line_of(const YAML::Node& node) const {
    const YAML::Mark mark = node.Mark();
    return mark.is_null() ? 0 : mark.line + 1;
  }
  [[noreturn]] void fail_at(int line, const std::string& key, const std::string& message) const {
    // A top-level key that is not a plain string, or is empty, has no path of its own.
    throw AgentConfigError(file_, line, key.empty() ? "document" : key, message);
  }
  [[noreturn]] void fail(const YAML::Node& node, const std::string& key, const std::string& message) const {
    fail_at(line_of(node), key, message);
  }
  void warn(const YAML::Node& node, const std::string& key, std::string_view message) {
    config_.warnings.push_back(file_ + ":" + std::to_string(line_of(node)) + ": " + key + ": " + std::string(message));
  }

  // MAP must be a mapping whose keys are among RULES, each once. Warned keys are recorded,
  // rejected ones throw; a known key without a value is an error (reported at the key: a
  // null value's mark points past it).
  void check_map(const YAML::Node& map, const std::string& path, Rules rules) {
    if (!map.IsMap()) fail(map, path, "expected a mapping");
    std::set<std::string> seen;
    for (auto it = map.begin(); it != map.end(); ++it) {
      const YAML::Node key = it->first;  // copies: the iterator's pair is a temporary proxy
      const YAML::Node value = it->second;
      if (!key.IsScalar()) fail(key, path, "keys must be plain strings");
      const std::string& name = key.Scalar();
      const std::string key_path = child(path, name);
      if (!seen.insert(name).second) fail(key, key_path, "duplicate key '" + name + "'");
      const KeyRule* rule = nullptr;
      for (const KeyRule& r : rules) {
        if (r.key == name) rule = &r;
      }
      if (rule == nullptr) {
        std::string expected;
        for (const KeyRule& r : rules) {
          if (r.support == Support::kRead) expected += (expected.empty() ? "" : ", ") + std::string(r.key);
        }
        fail(key, key_path, "unknown key '" + name + "' (expected one of: " + expected + ")");
      }
      switch (rule->support) {
        case Support::kRead:
          if (value.IsNull()) fail(key, key_path, "'" + name + "' has no value");
          break;
        case Support::kWarn:
          warn(key, key_path, rule->note);
          break;
        case Support::kReject:
          fail(key, key_path, std::string(rule->note));
      }
    }
  }

  const std::string& scalar(const YAML::Node& node, const std::string& path) const {
    if (!node.IsScalar()) fail(node, path, "expected a single value");
    return node.Scalar();
  }
  std::string non_empty(const YAML::Node& node, const std::string& path) const {
    const std::string& text = scalar(node, path);
    if (text.empty()) fail(node, path, "must not be empty");
    return text;
  }
  bool boolean(const YAML::Node& node, const std::string& path) const {
    std::string text = scalar(node, path);
    for (char& c : text) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    if (text == "true" || text == "yes" || text == "on") return true;
    if (text == "false" || text == "no" || text == "off") return false;
    fail(node, path, "'" + node.Scalar() + "' is not a boolean (true or false)");
  }
  std::int64_t integer(const YAML::Node& node, const std::string& path, std::int64_t min, std::int64_t max,
                       std::string_view what) const {
    const std::string& text = scalar(node, path);
    std::int64_t value = 0;
    bool ok = !text.empty() && text.size() <= 18;
    for (char c : text) {
      ok = ok && c >= '0' && c <= '9';
      if (ok) value = value * 10 + (c - '0');
    }
    if (!ok) fail(node, path, "'" + text + "' is not " + std::string(what));
    if (value < min || value > max) {
      fail(node, path, std::to_string(value) + " is out of range " + std::to_string(min) + ".." + std::to_string(max));
    }
    return value;
  }
  // A duration as Patroni writes one: whole seconds, or a number with s, min, h or d ("30min").
  std::chrono::milliseconds duration(const YAML::Node& node, const std::string& path) const {
    const std::string& text = scalar(node, path);
    const auto unit_at = text.find_first_not_of("0123456789");
    const std::string number = text.substr(0, unit_at);
    const std::string unit = unit_at == std::string::npos ? "s" : text.substr(unit_at);
    const std::map<std::string, std::int64_t> seconds_per = {{"s", 1}, {"min", 60}, {"h", 3600}, {"d", 86400}};
    const auto per = seconds_per.find(unit);
    if (number.empty() || number.size() > 7 || per == seconds_per.end()) {
      fail(node, path, "'" + text + "' is not a duration (like 1800, 30min, 2h or 1d)");
    }
    return std::chrono::seconds{std::stoll(number) * per->second};
  }
  Seconds seconds(const YAML::Node& node, const std::string& path) const {
    return Seconds{integer(node, path, 1, kMaxSeconds, "a whole number of seconds (Patroni's unit)")};
  }
  // Seconds with up to 3 decimals ("4", "1.5", "0.25"), within min_ms..max_ms.
  std::chrono::milliseconds decimal_seconds(const YAML::Node& node, const std::string& path,
                                            std::int64_t min_ms = 100,
                                            std::int64_t max_ms = std::int64_t{kMaxSeconds} * 1000) const {
    const std::string& text = scalar(node, path);
    const auto dot = text.find('.');
    const std::string whole = text.substr(0, dot);
    const std::string fraction = dot == std::string::npos ? "" : text.substr(dot + 1);
    bool ok = !whole.empty() && whole.size() <= 9 && fraction.size() <= 3 && (dot == std::string::npos || !fraction.empty());
    std::int64_t ms = 0;
    for (char c : whole) {
      ok = ok && c >= '0' && c <= '9';
      if (ok) ms = ms * 10 + (c - '0');
    }
    ms *= 1000;
    std::int64_t scale = 100;
    for (char c : fraction) {
      ok = ok && c >= '0' && c <= '9';
      if (ok) ms += (c - '0') * scale;
      scale /= 10;
    }
    if (!ok) fail(node, path, "'" + text + "' is not a number of seconds (like 4 or 1.5)");
    if (ms < min_ms || ms > max_ms) {
      fail(node, path, text + " is out of range " + seconds_text(min_ms) + ".." + seconds_text(max_ms) + " seconds");
    }
    return std::chrono::milliseconds{ms};
  }
  std::vector<std::string> string_list(const YAML::Node& node, const std::string& path) const {
    if (!node.IsSequence()) fail(node, path, "expected a list of strings");
    std::vector<std::string> out;
    for (size_t i = 0; i < node.size(); ++i) out.push_back(non_empty(node[i], item(path, i)));
    return out;
  }
  std::map<std::string, std::string> string_map(const YAML::Node& node, const std::string& path) const {
    if (!node.IsMap()) fail(node, path, "expected a mapping of names to values");
    std::map<std::string, std::string> out;
    for (auto it = node.begin(); it != node.end(); ++it) {
      const YAML::Node key = it->first;
      const YAML::Node value = it->second;
      const std::string name = non_empty(key, path);
      const std::string key_path = child(path, name);
      if (out.count(name) != 0) fail(key, key_path, "duplicate key '" + name + "'");
      if (value.IsNull()) fail(key, key_path, "'" + name + "' has no value");
      out[name] = scalar(value, key_path);
    }
    return out;
  }
  // A name used in etcd keys: no '/', no blanks.
  std::string key_name(const YAML::Node& node, const std::string& path) const {
    std::string text = non_empty(node, path);
    if (text.find('/') != std::string::npos || has_space(text)) {
      fail(node, path, "'" + text + "' must not contain '/' or blanks (it becomes part of etcd keys)");
    }
    return text;
  }

  // "HOST:PORT" with HOST a name, an IPv4 or a bracketed IPv6 literal. LISTEN also allows a
  // wildcard and, for PostgreSQL's listen_addresses, a comma-separated host list.
  HostPort host_port(const YAML::Node& node, const std::string& path, bool listen, bool host_list) const {
    return host_port_text(non_empty(node, path), node, path, listen, host_list);
  }
  HostPort host_port_text(const std::string& text, const YAML::Node& node, const std::string& path, bool listen,
                          bool host_list) const {
    const size_t colon = text.rfind(':');
    if (colon == std::string::npos || (text.front() == '[' && text.rfind(']') > colon)) {
      fail(node, path, "'" + text + "' has no port (expected HOST:PORT)");
    }
    HostPort hp;
    hp.host = text.substr(0, colon);
    const std::string port = text.substr(colon + 1);
    bool digits = !port.empty() && port.size() <= 5;
    for (char c : port) digits = digits && c >= '0' && c <= '9';
    if (!digits) fail(node, path, "'" + port + "' in '" + text + "' is not a port number");
    hp.port = std::stoi(port);
    if (hp.port < 1 || hp.port > 65535) fail(node, path, "port " + port + " is out of range 1..65535");
    if (has_space(hp.host)) fail(node, path, "'" + text + "': the host contains blanks");
    if (!host_list && hp.host.find(',') != std::string::npos) {
      fail(node, path, "'" + text + "': one host only");
    }
    if (!listen && is_wildcard_host(hp.host)) {
      fail(node, path, "'" + text + "' is not an address others can connect to");
    }
    if (hp.host.empty() || (hp.host.find(':') != std::string::npos && hp.host.front() != '[')) {
      fail(node, path, "'" + text + "': expected HOST:PORT (IPv6 literals in brackets)");
    }
    return hp;
  }

  void parse_top(const YAML::Node& root) {
    check_map(root, "", kTopRules);
    if (auto n = root["scope"]) {
      config_.scope = key_name(n, "scope");
    } else {
      fail_at(1, "scope", "required: the cluster name");
    }
    if (auto n = root["name"]) {
      config_.name = key_name(n, "name");
    } else {
      fail_at(1, "name", "required: this member's name, unique in the scope");
    }
    if (auto n = root["namespace"]) {
      std::string ns = non_empty(n, "namespace");
      if (has_space(ns)) fail(n, "namespace", "'" + ns + "' must not contain blanks");
      while (ns.size() > 1 && ns.back() == '/') ns.pop_back();
      if (ns.front() != '/') ns.insert(ns.begin(), '/');
      if (ns == "/") fail(n, "namespace", "must name a prefix, e.g. /service");
      config_.namespace_ = ns;
    }
    if (auto n = root["restapi"]) parse_restapi(n);
    parse_ctl(root["ctl"]);
    if (config_.rest_connect_address.empty()) {
      if (is_wildcard_host(config_.rest_listen.substr(0, config_.rest_listen.rfind(':')))) {
        auto n = root["restapi"];
        fail_at(n ? line_of(n) : 1, "restapi.connect_address",
                "required when restapi.listen is a wildcard (" + config_.rest_listen +
                    "): the host:port the other members and pghactl use");
      }
      config_.rest_connect_address = config_.rest_listen;
    }
    if (auto n = root["etcd3"]) {
      parse_etcd3(n);
    } else {
      fail_at(1, "etcd3.hosts", "required: the etcd v3 members, e.g. 127.0.0.1:2379,127.0.0.1:2479");
    }
    // bootstrap first: postgresql's values override bootstrap.dcs.postgresql's.
    if (auto n = root["bootstrap"]) parse_bootstrap(n);
    if (auto n = root["postgresql"]) {
      parse_postgresql(n);
    } else {
      fail_at(1, "postgresql.data_dir", "required: the PostgreSQL data directory");
    }
    if (auto n = root["tags"]) parse_tags(n);
    if (auto n = root["switchover_grace"]) {
      config_.switchover_grace = decimal_seconds(n, "switchover_grace", 0, kMaxSwitchoverGraceMs);
    }
    apply_pg_hba_precedence();
    check_timing();
  }

  void parse_restapi(const YAML::Node& node) {
    check_map(node, "restapi", kRestApiRules);
    if (auto n = node["listen"]) {
      host_port(n, "restapi.listen", true, false);
      config_.rest_listen = n.Scalar();
    }
    if (auto n = node["connect_address"]) {
      host_port(n, "restapi.connect_address", false, false);
      config_.rest_connect_address = n.Scalar();
    }
    if (auto n = node["authentication"]) credentials(n, "restapi", config_.rest_username, config_.rest_password);
    tls::TlsFiles& files = config_.rest_tls;
    files.certfile = tls_setting(node, "restapi", "certfile");
    files.keyfile = tls_setting(node, "restapi", "keyfile");
    files.keyfile_password = tls_setting(node, "restapi", "keyfile_password");
    files.cafile = tls_setting(node, "restapi", "cafile");
    files.ciphers = tls_setting(node, "restapi", "ciphers");
    if (auto n = node["verify_client"]) {
      tls_nodes_["restapi.verify_client"] = n;
      std::string mode = scalar(n, "restapi.verify_client");
      for (char& c : mode) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
      try {
        files.verify = tls::parse_peer_verification(mode);
      } catch (const tls::TlsConfigError& e) {
        fail(n, "restapi.verify_client", e.what());
      }
    }
    if (files.certfile.empty()) {
      // Without a certificate the API is plain HTTP: settings that would protect it must not pass unnoticed.
      for (const char* name : {"keyfile", "keyfile_password", "verify_client", "ciphers"}) {
        if (auto n = node[name]) fail(n, child("restapi", name), "needs restapi.certfile (HTTPS)");
      }
      return;
    }
    prove_tls(files, "restapi", true);
  }

  // ctl (Patroni's, also read by pghactl): each setting, else its restapi counterpart.
  void parse_ctl(const YAML::Node& node) {
    tls::TlsFiles& files = config_.ctl_tls;
    config_.ctl_username = config_.rest_username;
    config_.ctl_password = config_.rest_password;
    // Errors name the key as written: ctl.cacert for "ctl.cafile", restapi.certfile when it was used.
    const auto either = [this, &node](const char* ctl_key, const std::string& restapi_key, const std::string& fallback) {
      const bool own = node && node[ctl_key];
      tls_keys_["ctl." + restapi_key] = own ? "ctl." + std::string(ctl_key) : "restapi." + restapi_key;
      return own ? tls_setting(node, "ctl", ctl_key) : fallback;
    };
    if (node) check_map(node, "ctl", kCtlRules);
    files.cafile = either("cacert", "cafile", config_.rest_tls.cafile);
    files.certfile = either("certfile", "certfile", config_.rest_tls.certfile);
    files.keyfile = either("keyfile", "keyfile", config_.rest_tls.keyfile);
    files.keyfile_password = either("keyfile_password", "keyfile_password", config_.rest_tls.keyfile_password);
    if (!node) return prove_tls_if_set(files);
    if (auto n = node["insecure"]) files.verify = boolean(n, "ctl.insecure") ? tls::PeerVerification::kNone : files.verify;
    if (auto n = node["authentication"]) credentials(n, "ctl", config_.ctl_username, config_.ctl_password);
    if (files.certfile.empty()) {
      for (const char* name : {"keyfile", "keyfile_password"}) {
        if (auto n = node[name]) fail(n, child("ctl", name), "needs ctl.certfile (or restapi.certfile)");
      }
    }
    prove_tls_if_set(files);
  }

  void credentials(const YAML::Node& node, const std::string& section, std::string& username, std::string& password) {
    const std::string path = child(section, "authentication");
    check_map(node, path, kCredentialRules);
    auto user = node["username"];
    auto secret = node["password"];
    if (!user || !secret) fail(node, path, "needs both username and password");
    username = non_empty(user, path + ".username");
    password = scalar(secret, path + ".password");
  }

  // A TLS file name or setting (empty when absent); remembers where it was set for prove_tls().
  std::string tls_setting(const YAML::Node& section, const std::string& section_path, const char* name) {
    const YAML::Node n = section[name];
    if (!n) return {};
    const std::string path = child(section_path, name);
    tls_nodes_[path] = n;
    return non_empty(n, path);
  }

  void prove_tls_if_set(const tls::TlsFiles& files) {
    if (!files.certfile.empty() || !files.cafile.empty()) prove_tls(files, "ctl", false);
  }

  // Builds the context once to prove the files load (readable, PEM, key matching its certificate,
  // right password): a broken certificate fails here, at its key, rather than at the first
  // request. tls_context's errors begin with the kind of file that failed.
  void prove_tls(const tls::TlsFiles& files, const std::string& section, bool server) {
    try {
      if (server) {
        (void)tls::make_server_context(files);
      } else {
        (void)tls::make_client_context(files);
      }
    } catch (const tls::TlsConfigError& e) {
      const std::string_view what = e.what();
      const char* kind = what.starts_with("CA file")                          ? "cafile"
                         : what.starts_with("key ") && !files.keyfile.empty() ? "keyfile"
                         : what.starts_with("ciphers")                        ? "ciphers"
                         : what.starts_with("verifying")                      ? "verify_client"
                                                                              : "certfile";
      std::string key = child(section, kind);
      if (const auto renamed = tls_keys_.find(key); renamed != tls_keys_.end()) key = renamed->second;
      const auto at = tls_nodes_.find(key);
      if (at == tls_nodes_.end()) fail_at(1, key, e.what());
      fail(at->second, key, e.what());
    }
  }

  void parse_etcd3(const YAML::Node& node) {
    check_map(node, "etcd3", kEtcd3Rules);
    std::string scheme;
    if (auto n = node["protocol"]) {
      const std::string& protocol = scalar(n, "etcd3.protocol");
      if (protocol != "http" && protocol != "https") {
        fail(n, "etcd3.protocol", "unknown protocol '" + protocol + "' (http or https)");
      }
      scheme = protocol + "://";
    }
    auto host = node["host"];
    auto hosts = node["hosts"];
    if (host && hosts) fail(host, "etcd3.host", "set either etcd3.host or etcd3.hosts, not both");
    if (host) {
      add_etcd_host(host, scalar(host, "etcd3.host"), "etcd3.host", scheme);
    } else if (hosts && hosts.IsSequence()) {
      for (size_t i = 0; i < hosts.size(); ++i) {
        add_etcd_host(hosts[i], scalar(hosts[i], item("etcd3.hosts", i)), item("etcd3.hosts", i), scheme);
      }
    } else if (hosts) {
      // Patroni's comma-separated string form: "h1:2379,h2:2379".
      std::stringstream list(scalar(hosts, "etcd3.hosts"));
      std::string entry;
      while (std::getline(list, entry, ',')) {
        const size_t first = entry.find_first_not_of(" \t");
        if (first == std::string::npos) continue;
        entry = entry.substr(first, entry.find_last_not_of(" \t") - first + 1);
        add_etcd_host(hosts, entry, "etcd3.hosts", scheme);
      }
    }
    if (config_.etcd_hosts.empty()) {
      fail(hosts ? hosts : node, "etcd3.hosts", "required: the etcd v3 members, e.g. 127.0.0.1:2379,127.0.0.1:2479");
    }
    const auto https = std::count_if(config_.etcd_hosts.begin(), config_.etcd_hosts.end(),
                                     [](const std::string& h) { return h.starts_with("https://"); });
    if (https != 0 && https != static_cast<long>(config_.etcd_hosts.size())) {
      fail(host ? host : hosts, host ? "etcd3.host" : "etcd3.hosts", "mixes http and https members: use one protocol");
    }
    parse_etcd_tls(node, https != 0);
    auto user = node["username"];
    auto password = node["password"];
    if (static_cast<bool>(user) != static_cast<bool>(password)) {
      fail(user ? user : password, user ? "etcd3.password" : "etcd3.username",
           "etcd authentication needs both username and password");
    }
    if (user) {
      config_.etcd_username = non_empty(user, "etcd3.username");
      config_.etcd_password = scalar(password, "etcd3.password");
    }
  }

  // The client certificate and the CA for https members, read now so that a broken file is
  // reported here (and by --check) at the key that names it.
  void parse_etcd_tls(const YAML::Node& node, bool https) {
    tls::TlsFiles& files = config_.etcd_tls;
    const std::pair<const char*, std::string*> keys[] = {
        {"cacert", &files.cafile}, {"cert", &files.certfile}, {"key", &files.keyfile},
        {"key_password", &files.keyfile_password}};
    for (const auto& [key, field] : keys) {
      const YAML::Node n = node[key];
      if (!n) continue;
      const std::string path = child("etcd3", key);
      if (!https) fail(n, path, "set, but no etcd member is reached over https (etcd3.protocol: https)");
      *field = field == &files.keyfile_password ? scalar(n, path) : non_empty(n, path);
    }
    if (files.certfile.empty() && (node["key"] || node["key_password"])) {
      fail(node["key"] ? node["key"] : node["key_password"], node["key"] ? "etcd3.key" : "etcd3.key_password",
           "needs etcd3.cert (the client certificate)");
    }
    if (!https) return;
    try {
      (void)tls::make_client_context(files);
    } catch (const tls::TlsConfigError& e) {
      // The message starts with what failed: "CA file PATH: ...", "certificate ...", "key ...".
      const std::string_view what = e.what();
      const char* key = what.starts_with("CA file")       ? "cacert"
                        : what.starts_with("certificate") ? "cert"
                        : node["key"]                     ? "key"
                                                          : "cert";
      const YAML::Node at = node[key];
      fail(at ? at : node, child("etcd3", key), e.what());
    }
  }

  // One etcd member: "host:port", "host" (port 2379), "http://host:port" or "https://host:port".
  void add_etcd_host(const YAML::Node& node, std::string entry, const std::string& path, const std::string& scheme) {
    std::string prefix = scheme;
    for (const char* explicit_scheme : {"http://", "https://"}) {
      if (entry.starts_with(explicit_scheme)) {
        prefix = explicit_scheme;
        entry = entry.substr(prefix.size());
        while (!entry.empty() && entry.back() == '/') entry.pop_back();
        break;
      }
    }
    if (entry.find("://") != std::string::npos || entry.find('/') != std::string::npos) {
      fail(node, path, "'" + entry + "' is not an etcd member address (HOST:PORT or http[s]://HOST:PORT)");
    }
    const bool bracketed_v6_without_port = !entry.empty() && entry.back() == ']';
    if (entry.find(':') == std::string::npos || bracketed_v6_without_port) {
      entry += ":" + std::to_string(kDefaultEtcdPort);
    }
    host_port_text(entry, node, path, false, false);
    config_.etcd_hosts.push_back(prefix + entry);
  }

  void parse_bootstrap(const YAML::Node& node) {
    check_map(node, "bootstrap", kBootstrapRules);
    if (auto n = node["method"]) {
      if (scalar(n, "bootstrap.method") != "initdb") {
        fail(n, "bootstrap.method", "custom bootstrap methods are not supported (only initdb)");
      }
    }
    if (auto n = node["dcs"]) parse_dcs(n);
    if (auto n = node["initdb"]) parse_initdb(n);
    if (auto n = node["pg_hba"]) bootstrap_pg_hba_ = string_list(n, "bootstrap.pg_hba");
    if (auto n = node["users"]) parse_users(n);
  }

  void parse_dcs(const YAML::Node& node) {
    check_map(node, "bootstrap.dcs", kDcsRules);
    config_.bootstrap_dcs_json = json_text(yaml_to_json(node));
    if (auto n = node["ttl"]) {
      config_.ttl = seconds(n, "bootstrap.dcs.ttl");
      ttl_line_ = line_of(n);
    }
    if (auto n = node["loop_wait"]) {
      config_.loop_wait = decimal_seconds(n, "bootstrap.dcs.loop_wait");
      loop_wait_line_ = line_of(n);
    }
    if (auto n = node["retry_timeout"]) {
      config_.retry_timeout = decimal_seconds(n, "bootstrap.dcs.retry_timeout");
      retry_timeout_line_ = line_of(n);
    }
    if (auto n = node["maximum_lag_on_failover"]) {
      config_.maximum_lag_on_failover = integer(n, "bootstrap.dcs.maximum_lag_on_failover", 0,
                                                std::numeric_limits<std::int64_t>::max(), "a number of bytes");
    }
    if (auto n = node["synchronous_mode"]) {
      if (n.IsScalar() && n.Scalar() == "quorum") {
        config_.synchronous_mode = config_.synchronous_quorum = true;
      } else {
        config_.synchronous_mode = boolean(n, "bootstrap.dcs.synchronous_mode");
      }
    }
    if (auto n = node["synchronous_mode_strict"]) {
      config_.synchronous_mode_strict = boolean(n, "bootstrap.dcs.synchronous_mode_strict");
    }
    if (auto n = node["synchronous_node_count"]) {
      config_.synchronous_node_count = static_cast<int>(
          integer(n, "bootstrap.dcs.synchronous_node_count", 1, 64, "a number of standbys"));
    }
    if (auto n = node["maximum_lag_on_syncnode"]) {
      config_.maximum_lag_on_syncnode = integer(n, "bootstrap.dcs.maximum_lag_on_syncnode", -1,
                                                std::numeric_limits<std::int64_t>::max(), "a number of bytes");
    }
    if (auto n = node["member_slots_ttl"]) config_.member_slots_ttl = duration(n, "bootstrap.dcs.member_slots_ttl");
    if (auto n = node["slots"]) parse_permanent_slots(n);
    if (auto n = node["postgresql"]) {
      const std::string path = "bootstrap.dcs.postgresql";
      check_map(n, path, kDcsPostgresqlRules);
      if (auto v = n["use_pg_rewind"]) config_.use_pg_rewind = boolean(v, child(path, "use_pg_rewind"));
      if (auto v = n["use_slots"]) config_.use_slots = boolean(v, child(path, "use_slots"));
      parse_data_removal(n, path);
      if (auto v = n["parameters"]) {
        for (auto& [key, value] : string_map(v, child(path, "parameters"))) {
          config_.parameters[key] = value;
          config_.bootstrap_parameters[key] = value;
        }
      }
      if (auto v = n["pg_hba"]) dcs_pg_hba_ = string_list(v, child(path, "pg_hba"));
    }
  }

  // Permanent slots: "name: {type: physical}" (or no value); logical slots are refused.
  void parse_permanent_slots(const YAML::Node& node) {
    const std::string path = "bootstrap.dcs.slots";
    if (!node.IsMap()) fail(node, path, "expected a mapping of slot names");
    for (const auto& entry : node) {
      const std::string name = entry.first.as<std::string>();
      const std::string at = child(path, name);
      if (name.empty() || name.size() > 63 || name.find_first_not_of("abcdefghijklmnopqrstuvwxyz0123456789_") != std::string::npos) {
        fail(entry.first, at, "a slot name is 1-63 characters of a-z, 0-9 and _");
      }
      if (entry.second.IsMap()) {
        if (auto type = entry.second["type"]; type && scalar(type, child(at, "type")) != "physical") {
          fail(type, child(at, "type"), "only physical slots are supported (logical slots are not copied between members)");
        }
      } else if (!entry.second.IsNull()) {
        fail(entry.second, at, "expected {type: physical}");
      }
      config_.permanent_slots.insert(name);
    }
  }

  // Whether a former primary's data may be wiped for a fresh clone (postgresql.* wins over
  // bootstrap.dcs.postgresql.*, as for use_pg_rewind).
  void parse_data_removal(const YAML::Node& node, const std::string& path) {
    if (auto v = node["remove_data_directory_on_rewind_failure"]) {
      config_.remove_data_directory_on_rewind_failure =
          boolean(v, child(path, "remove_data_directory_on_rewind_failure"));
    }
    if (auto v = node["remove_data_directory_on_diverged_timelines"]) {
      config_.remove_data_directory_on_diverged_timelines =
          boolean(v, child(path, "remove_data_directory_on_diverged_timelines"));
    }
  }

  // A list of "option" or single-key "option: value" items (Patroni also takes a mapping).
  void parse_initdb(const YAML::Node& node) {
    const std::string path = "bootstrap.initdb";
    auto add = [&](const YAML::Node& at, const std::string& at_path, const std::string& name,
                   const std::optional<std::string>& value) {
      if (name.empty() || name.front() == '-' ||
          name.find_first_not_of("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_") !=
              std::string::npos) {
        fail(at, at_path, "'" + name + "' is not an initdb option name (write it without leading dashes)");
      }
      if (kReservedInitdbOptions.count(name) != 0) {
        fail(at, at_path, "initdb option '" + name + "' is set by pgha-agent");
      }
      config_.initdb_options.push_back("--" + name + (value ? "=" + *value : ""));
    };
    if (node.IsMap()) {
      for (auto& [name, value] : string_map(node, path)) add(node, child(path, name), name, value);
      return;
    }
    if (!node.IsSequence()) fail(node, path, "expected a list of options (\"- data-checksums\", \"- encoding: UTF8\")");
    for (size_t i = 0; i < node.size(); ++i) {
      const YAML::Node entry = node[i];
      const std::string entry_path = item(path, i);
      if (entry.IsScalar()) {
        add(entry, entry_path, entry.Scalar(), std::nullopt);
      } else if (entry.IsMap() && entry.size() == 1) {
        const YAML::Node key = entry.begin()->first;
        const YAML::Node value = entry.begin()->second;
        const std::string name = scalar(key, entry_path);
        if (value.IsNull()) fail(entry, child(entry_path, name), "'" + name + "' has no value");
        add(entry, entry_path, name, scalar(value, child(entry_path, name)));
      } else {
        fail(entry, entry_path, "expected an option name or a single \"name: value\" pair");
      }
    }
  }

  void parse_users(const YAML::Node& node) {
    const std::string path = "bootstrap.users";
    if (!node.IsMap()) fail(node, path, "expected a mapping of user names");
    for (auto it = node.begin(); it != node.end(); ++it) {
      const YAML::Node key = it->first;
      const YAML::Node value = it->second;
      const std::string name = non_empty(key, path);
      const std::string user_path = child(path, name);
      if (name.find_first_of("\"'\\ \t") != std::string::npos) {
        fail(key, user_path, "'" + name + "' is not a plain role name");
      }
      if (config_.extra_users.count(name) != 0) fail(key, user_path, "duplicate user '" + name + "'");
      if (value.IsNull()) fail(key, user_path, "'" + name + "' has no settings (password, options)");
      check_map(value, user_path, kBootstrapUserRules);
      PgUser user{name, ""};
      if (auto n = value["password"]) user.password = scalar(n, child(user_path, "password"));
      if (auto n = value["options"]) {
        user.options = string_list(n, child(user_path, "options"));
        for (size_t i = 0; i < user.options.size(); ++i) {
          const std::string& option = user.options[i];
          if (option.find_first_not_of("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_ ") !=
              std::string::npos) {
            fail(n[i], item(child(user_path, "options"), i),
                 "'" + option + "' is not a CREATE ROLE option (letters, digits, blanks)");
          }
        }
      }
      config_.extra_users[name] = std::move(user);
    }
  }

  void parse_postgresql(const YAML::Node& node) {
    const std::string path = "postgresql";
    check_map(node, path, kPostgresqlRules);
    HostPort listen{"127.0.0.1", 5432};
    if (auto n = node["listen"]) {
      listen = host_port(n, "postgresql.listen", true, true);
      config_.pg_listen = n.Scalar();
    }
    if (auto n = node["connect_address"]) {
      host_port(n, "postgresql.connect_address", false, false);
      config_.pg_connect_address = n.Scalar();
    } else if (!is_wildcard_host(listen.host) && listen.host.find(',') == std::string::npos) {
      config_.pg_connect_address = config_.pg_listen;
    } else {
      fail(node, "postgresql.connect_address",
           "required when postgresql.listen is a wildcard or a list (" + config_.pg_listen +
               "): the host:port replicas and proxies use");
    }
    if (auto n = node["data_dir"]) {
      config_.data_dir = non_empty(n, "postgresql.data_dir");
    } else {
      fail(node, "postgresql.data_dir", "required: the PostgreSQL data directory");
    }
    if (auto n = node["bin_dir"]) config_.bin_dir = non_empty(n, "postgresql.bin_dir");
    if (auto n = node["pgpass"]) config_.pgpass = non_empty(n, "postgresql.pgpass");
    if (auto n = node["use_pg_rewind"]) config_.use_pg_rewind = boolean(n, "postgresql.use_pg_rewind");
    if (auto n = node["use_slots"]) config_.use_slots = boolean(n, "postgresql.use_slots");
    parse_data_removal(node, "postgresql");
    if (auto n = node["authentication"]) {
      check_map(n, "postgresql.authentication", kAuthenticationRules);
      if (auto v = n["superuser"]) parse_pg_user(v, "postgresql.authentication.superuser", config_.superuser);
      if (auto v = n["replication"]) parse_pg_user(v, "postgresql.authentication.replication", config_.replication);
    }
    if (auto n = node["parameters"]) {
      for (auto& [key, value] : string_map(n, "postgresql.parameters")) {
        config_.parameters[key] = value;
        config_.local_parameters[key] = value;
      }
    }
    if (auto n = node["pg_hba"]) local_pg_hba_ = string_list(n, "postgresql.pg_hba");
    if (auto n = node["callbacks"]) {
      check_map(n, "postgresql.callbacks", kCallbackRules);
      for (const KeyRule& rule : kCallbackRules) {
        const std::string event(rule.key);
        if (auto v = n[event]) config_.callbacks[event] = command(v, "postgresql.callbacks." + event);
      }
    }
    if (auto n = node["pre_promote"]) config_.pre_promote = command(n, "postgresql.pre_promote");
    if (auto n = node["before_stop"]) config_.before_stop = command(n, "postgresql.before_stop");
    if (auto n = node["callback_timeout"]) {
      config_.callback_timeout = decimal_seconds(n, "postgresql.callback_timeout", 100, 3600 * 1000);
    }
  }

  // A command line split into words as Patroni splits it (no shell).
  std::vector<std::string> command(const YAML::Node& node, const std::string& path) const {
    std::string error;
    auto words = split_command_words(scalar(node, path), &error);
    if (!words) fail(node, path, "cannot split '" + node.Scalar() + "' into words: " + error);
    if (words->empty() || words->front().empty()) fail(node, path, "expected a command (leave the key out for none)");
    return std::move(*words);
  }

  void parse_pg_user(const YAML::Node& node, const std::string& path, PgUser& user) {
    check_map(node, path, kPgUserRules);
    if (auto n = node["username"]) user.username = non_empty(n, child(path, "username"));
    if (auto n = node["password"]) user.password = scalar(n, child(path, "password"));
  }

  void parse_tags(const YAML::Node& node) {
    if (!node.IsMap()) fail(node, "tags", "expected a mapping");
    std::set<std::string> seen;
    for (auto it = node.begin(); it != node.end(); ++it) {
      const YAML::Node key = it->first;
      const YAML::Node value = it->second;
      const std::string& name = scalar(key, "tags");
      const std::string key_path = child("tags", name);
      if (!seen.insert(name).second) fail(key, key_path, "duplicate key '" + name + "'");
      const KeyRule* rule = nullptr;
      for (const KeyRule& r : kTagRules) {
        if (r.key == name) rule = &r;
      }
      // Patroni keeps any custom tag: unknown tags are warned about, not rejected.
      if (rule == nullptr) {
        if (!value.IsScalar()) fail(key, key_path, "a custom tag must be a scalar value");
        config_.custom_tags[name] = value.Scalar();
      } else if (rule->support == Support::kReject) {
        fail(key, key_path, std::string(rule->note));
      } else if (rule->support == Support::kWarn) {
        warn(key, key_path, rule->note);
      } else if (value.IsNull()) {
        fail(key, key_path, "'" + name + "' has no value");
      }
    }
    if (auto n = node["nofailover"]) config_.nofailover = boolean(n, "tags.nofailover");
    if (auto n = node["noloadbalance"]) config_.noloadbalance = boolean(n, "tags.noloadbalance");
    if (auto n = node["clonefrom"]) config_.clonefrom = boolean(n, "tags.clonefrom");
    if (auto n = node["nosync"]) config_.nosync = boolean(n, "tags.nosync");
    if (auto n = node["replicatefrom"]) {
      if (!n.IsScalar() || n.Scalar().empty()) fail(n, "tags.replicatefrom", "must name a member");
      config_.replicatefrom = n.Scalar();
    }
    if (auto n = node["failover_priority"]) {
      config_.failover_priority = static_cast<int>(integer(n, "tags.failover_priority", 0, 1000000, "a priority"));
      if (config_.failover_priority == 0) config_.nofailover = true;  // Patroni: priority 0 never takes over
    }
  }

  // postgresql.pg_hba, else bootstrap.dcs.postgresql.pg_hba, else bootstrap.pg_hba. Patroni
  // appends bootstrap.pg_hba after initdb's trust lines; pgha-agent writes the whole file from
  // the chosen list, so a password rule is never shadowed by "host all all 127.0.0.1/32 trust".
  void apply_pg_hba_precedence() {
    if (local_pg_hba_) {
      config_.pg_hba = *local_pg_hba_;
    } else if (dcs_pg_hba_) {
      config_.pg_hba = *dcs_pg_hba_;
    } else if (bootstrap_pg_hba_) {
      config_.pg_hba = *bootstrap_pg_hba_;
    }
  }

  // Patroni's rule: a leader that cannot reach etcd retries for retry_timeout, and must still
  // have time to demote before its lease (ttl) can expire for the others.
  void check_timing() const {
    // In milliseconds: loop_wait and retry_timeout may be decimal numbers of seconds.
    const std::int64_t ttl = std::chrono::milliseconds(config_.ttl).count();
    const std::int64_t loop_wait = config_.loop_wait.count();
    const std::int64_t retry_timeout = config_.retry_timeout.count();
    if (loop_wait + 2 * retry_timeout <= ttl) return;
    auto shown = [&](std::string_view name, std::int64_t value, const std::optional<int>& line) {
      return std::string(name) + " " + seconds_text(value) + (line ? "" : " (default)");
    };
    // Reported at ttl when the file sets it (the values only ever fail together, one is set).
    const int line = ttl_line_.value_or(retry_timeout_line_.value_or(loop_wait_line_.value_or(0)));
    const std::string key = ttl_line_             ? "bootstrap.dcs.ttl"
                            : retry_timeout_line_ ? "bootstrap.dcs.retry_timeout"
                                                  : "bootstrap.dcs.loop_wait";
    fail_at(line, key,
            "loop_wait + 2*retry_timeout <= ttl is violated: " + shown("loop_wait", loop_wait, loop_wait_line_) +
                " + 2*" + shown("retry_timeout", retry_timeout, retry_timeout_line_) + " = " +
                seconds_text(loop_wait + 2 * retry_timeout) + " > " + shown("ttl", ttl, ttl_line_) +
                " (seconds): a leader cut off from etcd could not demote before its lease expired elsewhere");
  }

  std::string file_;
  AgentConfig config_;
  std::optional<std::vector<std::string>> local_pg_hba_;
  std::optional<std::vector<std::string>> dcs_pg_hba_;
  std::optional<std::vector<std::string>> bootstrap_pg_hba_;
  std::optional<int> ttl_line_;
  std::optional<int> loop_wait_line_;
  std::optional<int> retry_timeout_line_;
  std::map<std::string, YAML::Node> tls_nodes_;   // "restapi.certfile" → where it was set
  std::map<std::string, std::string> tls_keys_;   // "ctl.cafile" → "ctl.cacert": the key as written
};

}  // namespace

AgentConfig parse_agent_config(const std::string& yaml_text, const std::string& source_file) {
  return Parser(source_file).parse(yaml_text);
}

EtcdClientOptions etcd_client_options(const AgentConfig& config) {
  EtcdClientOptions options;
  options.endpoints = config.etcd_hosts;
  options.tls = config.etcd_tls;
  // A call (all endpoint attempts) must fit well inside retry_timeout so that a leader can
  // still refresh its lease, or fence itself, in time.
  options.call_timeout = config.etcd_timeout.count() > 0 ? config.etcd_timeout : config.retry_timeout / 2;
  options.username = config.etcd_username;
  options.password = config.etcd_password;
  return options;
}

AgentConfig load_agent_config(const std::string& path) {
  config_file::ConfigFileText read = config_file::read_config_file(path);
  if (!read.ok()) throw AgentConfigError(path, 0, "file", read.error);
  return parse_agent_config(read.text, path);
}

}  // namespace pgha::election
