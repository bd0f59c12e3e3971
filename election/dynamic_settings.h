// DynamicSettings: the part of the /config key (dynamic_config.h) that pgha-agent applies at run
// time, decoded and validated, as Patroni applies its dynamic configuration:
//  - ttl, loop_wait, retry_timeout: the HA loop's timing (loop_wait + 2*retry_timeout <= ttl);
//  - maximum_lag_on_failover, synchronous_mode, synchronous_mode_strict, synchronous_node_count,
//    maximum_lag_on_syncnode;
//  - postgresql.parameters: PostgreSQL settings for every member. The local file's
//    postgresql.parameters win over them, and the agent's own settings (listen address, port,
//    socket directory, hba and ident files, synchronous_standby_names in synchronous mode) win
//    over both. As in Patroni, some are refused from /config: listen_addresses, port,
//    cluster_name, hot_standby and wal_log_hints (the agent sets them), and a few must stay
//    within bounds every member can run with (wal_level, max_connections, max_wal_senders...).
//
// decode_dynamic_settings() never fails: a key that is absent (or null) takes the local value
// (the file's bootstrap.dcs, else pgha's default), a key with a bad value keeps the value in
// effect before and says why in `errors`; a timing triple that breaks the constraint is kept
// whole as it was. config_errors() is the same check for a /config a PATCH would store.
// Thread-safety: pure functions on values.
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "election/agent_config.h"
#include "election/sync_state.h"

namespace pgha::election {

struct DynamicSettings {
  Seconds ttl{10};
  std::chrono::milliseconds loop_wait{2000};
  std::chrono::milliseconds retry_timeout{4000};
  std::int64_t maximum_lag_on_failover = 1048576;
  bool synchronous_mode = false;
  bool synchronous_quorum = false;  // synchronous_mode: quorum (sync_state.h)
  bool synchronous_mode_strict = false;
  int synchronous_node_count = 1;
  std::int64_t maximum_lag_on_syncnode = -1;
  // postgresql.parameters from /config that may be applied (names as written, values as
  // postgresql.conf takes them: true/false become on/off).
  std::map<std::string, std::string> parameters;

  bool operator==(const DynamicSettings&) const = default;
};

// The synchronous replication settings among them.
SyncSettings sync_settings_of(const DynamicSettings& settings);

// What applies where /config says nothing: the local file's bootstrap.dcs values (pgha's
// defaults without them) and its bootstrap.dcs.postgresql.parameters.
DynamicSettings local_dynamic_settings(const AgentConfig& config);

struct DecodedDynamicSettings {
  DynamicSettings settings;
  // "ttl: \"x\" is not a whole number of seconds, 1..86400": bad values (each keeps its previous
  // value; a broken timing constraint keeps the three timing values in effect).
  std::vector<std::string> errors;
  // "postgresql.parameters.port: set by the agent, ignored": refused as Patroni refuses them.
  std::vector<std::string> ignored;
};

// `config`: the /config object. `local`: local_dynamic_settings(). `previous`: what was in effect
// (what a bad value keeps).
DecodedDynamicSettings decode_dynamic_settings(const nlohmann::json& config, const DynamicSettings& local,
                                               const DynamicSettings& previous);

// Why `config` must not be stored as /config: the errors decode_dynamic_settings() would report
// (joined by "; "), "" when none. Ignored parameters are not errors (Patroni stores them too).
std::string dynamic_settings_error(const nlohmann::json& config, const DynamicSettings& local);

// The postgresql.parameters PostgreSQL runs with: /config's, overlaid by the local file's
// postgresql.parameters (the local ones win, as in Patroni).
std::map<std::string, std::string> effective_parameters(const DynamicSettings& dynamic, const AgentConfig& config);

// "10 s", "1.5 s": how a duration is shown in the log.
std::string duration_text(std::chrono::milliseconds value);

}  // namespace pgha::election
