#include "election/dynamic_settings.h"

#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstdio>
#include <functional>
#include <limits>
#include <optional>

namespace pgha::election {

using json = nlohmann::json;
using Millis = std::chrono::milliseconds;

namespace {

constexpr std::int64_t kMaxSeconds = 24 * 3600;  // as the local file allows
constexpr std::int64_t kMinDecimalMs = 100;
constexpr const char* kTimingKeys[] = {"ttl", "loop_wait", "retry_timeout"};

std::string shown(const json& value) { return value.dump(-1, ' ', false, json::error_handler_t::replace); }

std::string lower(std::string text) {
  std::transform(text.begin(), text.end(), text.begin(), [](unsigned char c) { return std::tolower(c); });
  return text;
}

// A number or a numeric string as a double (Patroni converts with int()/float(), so "30" works).
std::optional<double> number(const json& value) {
  if (value.is_number()) return value.get<double>();
  if (!value.is_string()) return std::nullopt;
  const std::string& text = value.get_ref<const std::string&>();
  if (text.empty() || text.size() > 24) return std::nullopt;
  char* end = nullptr;
  const double parsed = std::strtod(text.c_str(), &end);
  if (end != text.c_str() + text.size()) return std::nullopt;
  return parsed;
}

std::optional<std::int64_t> whole(const json& value, std::int64_t min, std::int64_t max) {
  const auto n = number(value);
  if (!n || !std::isfinite(*n) || std::floor(*n) != *n || *n < static_cast<double>(min) ||
      *n > static_cast<double>(max)) {
    return std::nullopt;
  }
  return static_cast<std::int64_t>(*n);
}

std::optional<bool> boolean(const json& value) {
  if (value.is_boolean()) return value.get<bool>();
  if (!value.is_string()) return std::nullopt;
  const std::string text = lower(value.get<std::string>());
  if (text == "true" || text == "on" || text == "yes") return true;
  if (text == "false" || text == "off" || text == "no") return false;
  return std::nullopt;
}

// postgresql.conf's text for a parameter value; nullopt for what it cannot hold.
std::optional<std::string> parameter_text(const json& value) {
  if (value.is_boolean()) return value.get<bool>() ? "on" : "off";
  if (value.is_number_integer() || value.is_number_unsigned()) return value.dump();
  if (value.is_number_float()) {
    char text[64];
    std::snprintf(text, sizeof text, "%.15g", value.get<double>());
    return std::string(text);
  }
  if (!value.is_string()) return std::nullopt;
  const std::string& text = value.get_ref<const std::string&>();
  if (text.find_first_of(std::string("\n\r\0", 3)) != std::string::npos) return std::nullopt;
  return text;
}

bool valid_parameter_name(const std::string& name) {
  return !name.empty() && name.size() <= 63 && std::all_of(name.begin(), name.end(), [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) != 0 || c == '_' || c == '.';
  });
}

// An integer PostgreSQL setting, with a unit suffix allowed for sizes ("128MB").
std::optional<std::int64_t> megabytes(const std::string& text) {
  std::size_t digits = 0;
  while (digits < text.size() && std::isdigit(static_cast<unsigned char>(text[digits]))) ++digits;
  if (digits == 0 || digits > 12) return std::nullopt;
  const std::int64_t n = std::stoll(text.substr(0, digits));
  const std::string unit = lower(text.substr(digits));
  if (unit == "mb" || unit.empty()) return n;  // wal_keep_size's unit is MB
  if (unit == "gb") return n * 1024;
  if (unit == "tb") return n * 1024 * 1024;
  if (unit == "kb") return n / 1024;
  return std::nullopt;
}

std::optional<std::int64_t> plain_integer(const std::string& text) {
  if (text.empty() || text.size() > 12 ||
      !std::all_of(text.begin(), text.end(), [](unsigned char c) { return std::isdigit(c) != 0; })) {
    return std::nullopt;
  }
  return std::stoll(text);
}

// The parameters Patroni passes on PostgreSQL's command line: from /config only within these
// bounds (what every member can run with), some never (the agent sets them itself).
struct ParameterRule {
  const char* name;
  const char* requirement;  // nullptr: never from /config
  std::function<bool(const std::string&)> accepts;
};

bool at_least(const std::string& value, std::int64_t min) {
  const auto n = plain_integer(value);
  return n && *n >= min;
}

const std::vector<ParameterRule>& parameter_rules() {
  static const std::vector<ParameterRule> rules = {
      {"listen_addresses", nullptr, nullptr},
      {"port", nullptr, nullptr},
      {"cluster_name", nullptr, nullptr},
      {"hot_standby", nullptr, nullptr},
      {"wal_log_hints", nullptr, nullptr},
      {"wal_level", "replica, hot_standby or logical",
       [](const std::string& v) { return v == "replica" || v == "hot_standby" || v == "logical"; }},
      {"max_connections", "an integer >= 25", [](const std::string& v) { return at_least(v, 25); }},
      {"max_wal_senders", "an integer >= 3", [](const std::string& v) { return at_least(v, 3); }},
      {"wal_keep_segments", "an integer >= 1", [](const std::string& v) { return at_least(v, 1); }},
      {"wal_keep_size", "at least 16MB",
       [](const std::string& v) {
         const auto mb = megabytes(v);
         return mb && *mb >= 16;
       }},
      {"max_prepared_transactions", "an integer >= 0", [](const std::string& v) { return at_least(v, 0); }},
      {"max_locks_per_transaction", "an integer >= 32", [](const std::string& v) { return at_least(v, 32); }},
      {"track_commit_timestamp", "on or off",
       [](const std::string& v) { return boolean(json(v)).has_value(); }},
      {"max_replication_slots", "an integer >= 4", [](const std::string& v) { return at_least(v, 4); }},
      {"max_worker_processes", "an integer >= 2", [](const std::string& v) { return at_least(v, 2); }},
  };
  return rules;
}

const ParameterRule* rule_for(const std::string& name) {
  const std::string key = lower(name);
  for (const ParameterRule& rule : parameter_rules()) {
    if (key == rule.name) return &rule;
  }
  return nullptr;
}

// The agent's own settings (postgres_config_files.cc writes them after the parameters, so a
// value here would be silently overridden): refused so that nobody is misled.
bool owned_by_agent(const std::string& name) {
  const std::string key = lower(name);
  return key == "unix_socket_directories" || key == "hba_file" || key == "ident_file" || key == "data_directory" ||
         key == "config_file" || key == "include" || key == "include_if_exists" || key == "include_dir";
}

class Decoder {
 public:
  Decoder(const json& config, const DynamicSettings& local, const DynamicSettings& previous)
      : config_(config), local_(local), previous_(previous) {}

  DecodedDynamicSettings run() {
    DynamicSettings& s = out_.settings;
    s = previous_;
    if (!config_.is_object()) {
      out_.errors.push_back("the configuration is not a JSON object");
      return out_;
    }
    // Timing: each value on its own, then the three together.
    Seconds ttl = local_.ttl;
    Millis loop_wait = local_.loop_wait;
    Millis retry_timeout = local_.retry_timeout;
    (void)field("ttl", ttl, previous_.ttl, "a whole number of seconds, 1.." + std::to_string(kMaxSeconds),
                       [](const json& v) -> std::optional<Seconds> {
                         if (auto n = whole(v, 1, kMaxSeconds)) return Seconds{*n};
                         return std::nullopt;
                       });
    (void)field("loop_wait", loop_wait, previous_.loop_wait, "a number of seconds, 0.1..86400", decimal_seconds);
    (void)field("retry_timeout", retry_timeout, previous_.retry_timeout, "a number of seconds, 0.1..86400",
                       decimal_seconds);
    // A bad value already stands for its previous one; the mix must still fit, or the three
    // values in effect stay together. Without any of them in /config, the local ones apply as
    // they are (the local file was checked when it was loaded).
    const bool timing_set = std::any_of(std::begin(kTimingKeys), std::end(kTimingKeys), [this](const char* key) {
      return config_.contains(key) && !config_[key].is_null();
    });
    const Millis ttl_ms = ttl;
    if (timing_set && loop_wait + 2 * retry_timeout > ttl_ms) {
      out_.errors.push_back("loop_wait + 2*retry_timeout <= ttl is violated: " + duration_text(loop_wait) + " + 2*" +
                            duration_text(retry_timeout) + " > " + duration_text(ttl_ms));
    } else {
      s.ttl = ttl;
      s.loop_wait = loop_wait;
      s.retry_timeout = retry_timeout;
    }
    (void)field("maximum_lag_on_failover", s.maximum_lag_on_failover, previous_.maximum_lag_on_failover,
                "a number of bytes >= 0", [](const json& v) {
                  return whole(v, 0, std::numeric_limits<std::int64_t>::max() / 2);
                }, local_.maximum_lag_on_failover);
    // synchronous_mode: off 0, on 1, quorum 2.
    const auto mode_of = [](const DynamicSettings& d) { return d.synchronous_quorum ? 2 : d.synchronous_mode ? 1 : 0; };
    int mode = 0;
    (void)field("synchronous_mode", mode, mode_of(previous_), "true, false or quorum",
                [](const json& v) -> std::optional<int> {
                  if (v.is_string() && v.get<std::string>() == "quorum") return 2;
                  if (auto b = boolean(v)) return *b ? 1 : 0;
                  return std::nullopt;
                }, mode_of(local_));
    s.synchronous_mode = mode != 0;
    s.synchronous_quorum = mode == 2;
    (void)field("synchronous_mode_strict", s.synchronous_mode_strict, previous_.synchronous_mode_strict,
                "true or false", [](const json& v) { return boolean(v); }, local_.synchronous_mode_strict);
    (void)field("synchronous_node_count", s.synchronous_node_count, previous_.synchronous_node_count,
                "an integer, 1..64",
                [](const json& v) -> std::optional<int> {
                  if (auto n = whole(v, 1, 64)) return static_cast<int>(*n);
                  return std::nullopt;
                }, local_.synchronous_node_count);
    (void)field("maximum_lag_on_syncnode", s.maximum_lag_on_syncnode, previous_.maximum_lag_on_syncnode,
                "a number of bytes, or -1 for no limit", [](const json& v) -> std::optional<std::int64_t> {
                  return whole(v, -1, std::numeric_limits<std::int64_t>::max() / 2);
                }, local_.maximum_lag_on_syncnode);
    decode_parameters();
    return out_;
  }

 private:
  static std::optional<Millis> decimal_seconds(const json& v) {
    const auto n = number(v);
    if (!n || !std::isfinite(*n)) return std::nullopt;
    const double ms = std::round(*n * 1000.0);
    if (ms < kMinDecimalMs || ms > static_cast<double>(kMaxSeconds) * 1000.0) return std::nullopt;
    return Millis{static_cast<std::int64_t>(ms)};
  }

  // `out` becomes the key's value, `absent` when the key is absent or null, `previous` when its
  // value is bad (then false, with the error).
  template <typename T, typename Parse>
  bool field(const char* key, T& out, const T& previous, const std::string& expected, Parse parse) {
    return field(key, out, previous, expected, parse, out);
  }
  template <typename T, typename Parse>
  bool field(const char* key, T& out, const T& previous, const std::string& expected, Parse parse, const T& absent) {
    if (!config_.contains(key) || config_[key].is_null()) {
      out = absent;
      return true;
    }
    if (auto value = parse(config_[key])) {
      out = T(*value);
      return true;
    }
    out_.errors.push_back(std::string(key) + ": " + shown(config_[key]) + " is not " + expected);
    out = previous;
    return false;
  }

  void decode_parameters() {
    DynamicSettings& s = out_.settings;
    s.parameters = local_.parameters;
    if (!config_.contains("postgresql") || config_["postgresql"].is_null()) return;
    const json& pg = config_["postgresql"];
    if (!pg.is_object()) {
      out_.errors.push_back("postgresql: " + shown(pg) + " is not an object");
      s.parameters = previous_.parameters;
      return;
    }
    if (!pg.contains("parameters") || pg["parameters"].is_null()) return;
    const json& parameters = pg["parameters"];
    if (!parameters.is_object()) {
      out_.errors.push_back("postgresql.parameters: " + shown(parameters) +
                            " is not an object");
      s.parameters = previous_.parameters;
      return;
    }
    s.parameters.clear();
    for (auto it = parameters.begin(); it != parameters.end(); ++it) {
      const std::string& name = it.key();
      const std::string where = "postgresql.parameters." + name;
      if (it.value().is_null()) continue;
      if (!valid_parameter_name(name)) {
        out_.errors.push_back(where + ": not a PostgreSQL parameter name");
        keep_previous(name);
        continue;
      }
      const auto value = parameter_text(it.value());
      if (!value) {
        out_.errors.push_back(where + ": " + shown(it.value()) + " is not a value postgresql.conf can hold");
        keep_previous(name);
        continue;
      }
      if (owned_by_agent(name)) {
        out_.ignored.push_back(where + ": set by the agent, ignored");
        continue;
      }
      if (const ParameterRule* rule = rule_for(name)) {
        if (rule->requirement == nullptr) {
          out_.ignored.push_back(where + ": set by the agent, ignored");
          continue;
        }
        if (!rule->accepts(lower(*value))) {
          out_.errors.push_back(where + ": '" + *value + "' is not " + rule->requirement);
          keep_previous(name);
          continue;
        }
      }
      s.parameters[name] = *value;
    }
  }

  void keep_previous(const std::string& name) {
    if (auto it = previous_.parameters.find(name); it != previous_.parameters.end()) {
      out_.settings.parameters[name] = it->second;
    }
  }

  const json& config_;
  const DynamicSettings& local_;
  const DynamicSettings& previous_;
  DecodedDynamicSettings out_;
};

}  // namespace

std::string duration_text(Millis value) {
  char text[32];
  if (value.count() % 1000 == 0) {
    std::snprintf(text, sizeof text, "%lld s", static_cast<long long>(value.count() / 1000));
  } else {
    std::snprintf(text, sizeof text, "%g s", static_cast<double>(value.count()) / 1000.0);
  }
  return text;
}

SyncSettings sync_settings_of(const DynamicSettings& settings) {
  SyncSettings sync;
  sync.node_count = settings.synchronous_node_count;
  sync.strict = settings.synchronous_mode_strict;
  sync.quorum = settings.synchronous_quorum;
  sync.max_lag_on_syncnode = settings.maximum_lag_on_syncnode;
  return sync;
}

DynamicSettings local_dynamic_settings(const AgentConfig& config) {
  DynamicSettings s;
  s.ttl = config.ttl;
  s.loop_wait = config.loop_wait;
  s.retry_timeout = config.retry_timeout;
  s.maximum_lag_on_failover = config.maximum_lag_on_failover;
  s.synchronous_mode = config.synchronous_mode;
  s.synchronous_quorum = config.synchronous_quorum;
  s.synchronous_mode_strict = config.synchronous_mode_strict;
  s.synchronous_node_count = config.synchronous_node_count;
  s.maximum_lag_on_syncnode = config.maximum_lag_on_syncnode;
  s.parameters = config.bootstrap_parameters;
  return s;
}

DecodedDynamicSettings decode_dynamic_settings(const json& config, const DynamicSettings& local,
                                               const DynamicSettings& previous) {
  return Decoder(config, local, previous).run();
}

std::string dynamic_settings_error(const json& config, const DynamicSettings& local) {
  const DecodedDynamicSettings decoded = decode_dynamic_settings(config, local, local);
  std::string out;
  for (const std::string& error : decoded.errors) out += (out.empty() ? "" : "; ") + error;
  return out;
}

std::map<std::string, std::string> effective_parameters(const DynamicSettings& dynamic, const AgentConfig& config) {
  std::map<std::string, std::string> out = dynamic.parameters;
  for (const auto& [name, value] : config.local_parameters) out[name] = value;
  return out;
}

}  // namespace pgha::election
