// pghactl: the operator's CLI for a pgha-agent (or Patroni) cluster, like patronictl.
//   pghactl -c CONFIG list                       Member, Host, Role, State, TL, Lag in MB
//   pghactl -c CONFIG switchover [--candidate NAME]
//   pghactl -c CONFIG failover --candidate NAME
//   pghactl -c CONFIG pause | resume             maintenance mode ("pause" in the /config key)
//   pghactl -c CONFIG history                    the /history key: timeline switches, when, to whom
//   pghactl -c CONFIG show-config                the /config key (dynamic configuration) as YAML
//   pghactl -c CONFIG edit-config --set K=V ...  changes /config (K dotted, V YAML; null deletes)
//   pghactl -c CONFIG dsn [--member NAME]        a libpq connection string for the leader (or NAME)
// Reads the cluster straight from etcd (Patroni's key layout) with a deadline on every call, so
// it never hangs while etcd is down (patronictl does); switchover/failover go through the
// leader's (or any member's) REST API.
#include <algorithm>
#include <iomanip>
#include <iostream>
#include <optional>
#include <sstream>

#include <nlohmann/json.hpp>
#include <yaml-cpp/yaml.h>

#include "election/agent_config.h"
#include "election/bounded_json.h"
#include "election/dynamic_config.h"
#include "election/etcd_dcs.h"
#include "election/etcd_client.h"
#include "election/member_codec.h"
#include "election/rest_client.h"
#include "election/yaml_json.h"

using namespace pgha::election;

namespace {

int usage() {
  std::cerr << "usage: pghactl -c CONFIG list | switchover [--candidate NAME] | failover --candidate NAME | pause | "
               "resume | history | show-config | edit-config --set KEY=VALUE... | dsn [--member NAME]\n";
  return 2;
}

// The cluster's keys in etcd, decoded; nullopt (reported on stderr) when etcd cannot be read.
std::optional<ClusterView> read_cluster(const AgentConfig& config, EtcdClient& etcd) {
  KeyLayout keys(config.namespace_, config.scope);
  auto range = etcd.range_prefix(keys.prefix());
  if (!range.ok()) {
    std::cerr << "pghactl: cannot read etcd: " << range.status().message() << "\n";
    return std::nullopt;
  }
  return decode_cluster(keys, range.value());
}

int list(const AgentConfig& config, EtcdClient& etcd) {
  const std::optional<ClusterView> read = read_cluster(config, etcd);
  if (!read) return 1;
  const ClusterView& view = *read;
  std::int64_t leader_position = view.last_leader_wal_position;
  for (const MemberStatus& m : view.members) {
    if (view.leader && m.name == *view.leader) leader_position = std::max(leader_position, m.wal_position);
  }
  std::cout << "+ Cluster: " << config.scope << (view.initialized ? "" : " (not initialized)") << "\n";
  const bool any_pending = std::any_of(view.members.begin(), view.members.end(),
                                       [](const MemberStatus& m) { return m.pending_restart; });
  std::cout << std::left << std::setw(10) << "Member" << std::setw(18) << "Host" << std::setw(14) << "Role"
            << std::setw(11) << "State" << std::setw(4) << "TL" << (any_pending ? "Lag in MB  Pending restart\n" : "Lag in MB\n");
  for (const MemberStatus& m : view.members) {
    const bool leader = view.leader && *view.leader == m.name;
    std::string lag;
    if (!leader) {
      std::ostringstream os;
      os << std::max<std::int64_t>(0, leader_position - m.wal_position) / (1024 * 1024);
      lag = leader_position > 0 ? os.str() : "unknown";
    }
    const bool synchronous = view.sync && view.sync->leader == view.leader.value_or("") &&
                             view.sync->is_standby(m.name);
    std::cout << std::setw(10) << m.name << std::setw(18) << host_port_of_conn_url(m.conn_url) << std::setw(14)
              << (leader ? "Leader" : !synchronous ? "Replica" : view.sync->quorum ? "Quorum Standby" : "Sync Standby") << std::setw(11) << m.state << std::setw(4)
              << m.timeline;
    if (any_pending) {
      std::cout << std::setw(11) << lag << (m.pending_restart ? "*" : "");
    } else {
      std::cout << lag;
    }
    std::cout << "\n";
  }
  if (!view.leader) std::cout << "(no leader)\n";
  if (view.paused) std::cout << " Maintenance mode: on\n";
  return 0;
}

// pause/resume: sets "pause" in the /config key, keeping its other fields (the same patch as
// PATCH /config, straight on etcd).
int set_pause(const AgentConfig& config, EtcdClient& etcd, bool pause) {
  KeyLayout keys(config.namespace_, config.scope);
  EtcdDcs dcs(etcd);
  const std::optional<ClusterView> read = read_cluster(config, etcd);
  if (!read) return 1;
  if (read->paused == pause) {
    std::cout << "Cluster is " << (pause ? "already paused" : "not paused") << "\n";
    return 0;
  }
  const ConfigResult result = patch_dynamic_config(dcs, keys, nlohmann::json{{"pause", pause}}.dump(),
                                                   local_dynamic_settings(config));
  if (result.http_status != 200) {
    std::cerr << "pghactl: " << result.body << "\n";
    return 1;
  }
  std::cout << "Success: cluster management is " << (pause ? "paused" : "resumed") << "\n";
  return 0;
}

// patronictl history: one row per timeline switch.
int history(const AgentConfig& config, EtcdClient& etcd) {
  const std::optional<ClusterView> read = read_cluster(config, etcd);
  if (!read) return 1;
  const nlohmann::json lines = parse_bounded_json(read->history);
  std::cout << std::left << std::setw(5) << "TL" << std::setw(12) << "LSN" << std::setw(31) << "Reason"
            << std::setw(35) << "Timestamp" << "New Leader\n";
  if (!lines.is_array()) return 0;
  for (const nlohmann::json& line : lines) {
    if (!line.is_array()) continue;
    for (std::size_t i = 0; i < 5; ++i) {
      const std::string cell = i < line.size() ? (line[i].is_string() ? line[i].get<std::string>() : line[i].dump()) : "";
      std::cout << std::setw(i == 0 ? 5 : i == 1 ? 12 : i == 2 ? 31 : i == 3 ? 35 : 0) << cell;
    }
    std::cout << "\n";
  }
  return 0;
}

YAML::Node yaml_of(const nlohmann::json& value) {
  YAML::Node node;
  if (value.is_object()) {
    for (const auto& [key, item] : value.items()) node[key] = yaml_of(item);
  } else if (value.is_array()) {
    for (const nlohmann::json& item : value) node.push_back(yaml_of(item));
  } else if (value.is_string()) {
    node = value.get<std::string>();
  } else if (!value.is_null()) {
    node = value.dump();
  }
  return node;
}

int show_config(const AgentConfig& config, EtcdClient& etcd) {
  EtcdDcs dcs(etcd);
  const ConfigResult result = read_dynamic_config(dcs, KeyLayout(config.namespace_, config.scope));
  if (result.http_status != 200) {
    std::cerr << "pghactl: " << result.body << "\n";
    return 1;
  }
  const nlohmann::json current = parse_bounded_json(result.body);
  if (current.is_object() && !current.empty()) std::cout << yaml_of(current) << "\n";
  return 0;
}

// patronictl edit-config --set: "a.b.c=VALUE", VALUE read as YAML (so 200 is a number, true a
// boolean), null removing the key; applied as one merge patch (compare-and-swap).
int edit_config(const AgentConfig& config, EtcdClient& etcd, const std::vector<std::string>& settings) {
  if (settings.empty()) {
    std::cerr << "pghactl: edit-config needs at least one --set KEY=VALUE\n";
    return 2;
  }
  nlohmann::json patch = nlohmann::json::object();
  for (const std::string& setting : settings) {
    const auto equals = setting.find('=');
    if (equals == std::string::npos || equals == 0) {
      std::cerr << "pghactl: --set " << setting << ": expected KEY=VALUE\n";
      return 2;
    }
    nlohmann::json value;
    try {
      value = yaml_to_json(YAML::Load(setting.substr(equals + 1)));
    } catch (const YAML::Exception& e) {
      std::cerr << "pghactl: --set " << setting << ": " << e.what() << "\n";
      return 2;
    }
    nlohmann::json* at = &patch;
    std::istringstream path(setting.substr(0, equals));
    std::vector<std::string> keys;
    for (std::string key; std::getline(path, key, '.');) keys.push_back(key);
    for (std::size_t i = 0; i + 1 < keys.size(); ++i) {
      if (!(*at)[keys[i]].is_object()) (*at)[keys[i]] = nlohmann::json::object();
      at = &(*at)[keys[i]];
    }
    (*at)[keys.back()] = value;
  }
  EtcdDcs dcs(etcd);
  const ConfigResult result = patch_dynamic_config(dcs, KeyLayout(config.namespace_, config.scope), json_text(patch),
                                                   local_dynamic_settings(config));
  if (result.http_status != 200) {
    std::cerr << "pghactl: " << result.body << "\n";
    return 1;
  }
  std::cout << "Configuration changed\n";
  return show_config(config, etcd);
}

// patronictl dsn: "host=H port=P" of the leader (or of `member`).
int dsn(const AgentConfig& config, EtcdClient& etcd, const std::string& member) {
  const std::optional<ClusterView> read = read_cluster(config, etcd);
  if (!read) return 1;
  const std::string wanted = member.empty() ? read->leader.value_or("") : member;
  for (const MemberStatus& m : read->members) {
    if (m.name != wanted) continue;
    const std::string host_port = host_port_of_conn_url(m.conn_url);
    const auto colon = host_port.rfind(':');
    if (colon == std::string::npos) break;
    std::cout << "host=" << host_port.substr(0, colon) << " port=" << host_port.substr(colon + 1) << "\n";
    return 0;
  }
  std::cerr << "pghactl: " << (wanted.empty() ? std::string("no leader") : "no member " + wanted) << "\n";
  return 1;
}

int switchover(const AgentConfig& config, EtcdClient& etcd, const std::string& candidate, bool failover) {
  const std::optional<ClusterView> read = read_cluster(config, etcd);
  if (!read) return 1;
  const ClusterView& view = *read;
  // Ask the leader's API (any member for a failover without leader).
  std::string api_url;
  for (const MemberStatus& m : view.members) {
    if ((view.leader && m.name == *view.leader) || (api_url.empty() && failover)) api_url = m.api_url;
  }
  if (api_url.empty()) {
    std::cerr << "pghactl: no member to ask (no leader: use failover --candidate NAME)\n";
    return 1;
  }
  // https when the member's key says so, with the config's ctl settings (else restapi's).
  // The leader waits up to 60 s for its HA loop, then 30 s for the new leader.
  RestClient client(api_url, config, std::chrono::seconds(3), std::chrono::seconds(120));
  if (!client.ok()) {
    std::cerr << "pghactl: " << client.error() << "\n";
    return 1;
  }
  nlohmann::json body{{"leader", view.leader.value_or("")}, {"candidate", candidate}};
  auto res = client.post(failover ? "/failover" : "/switchover", body.dump());
  if (!res) {
    std::cerr << "pghactl: " << client.base() << " did not answer: " << client.describe_failure(res) << "\n";
    return 1;
  }
  std::cout << res->body << (res->body.empty() || res->body.back() != '\n' ? "\n" : "");
  return res->status == 200 ? 0 : 1;
}

}  // namespace

int main(int argc, char** argv) {
  std::string config_path, command, candidate, member;
  std::vector<std::string> settings;
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    if ((arg == "-c" || arg == "--config") && i + 1 < argc) config_path = argv[++i];
    else if (arg == "--candidate" && i + 1 < argc) candidate = argv[++i];
    else if (arg == "--member" && i + 1 < argc) member = argv[++i];
    else if ((arg == "--set" || arg == "-s") && i + 1 < argc) settings.push_back(argv[++i]);
    else if (command.empty() && arg[0] != '-') command = arg;
    else return usage();
  }
  if (config_path.empty() || command.empty()) return usage();
  AgentConfig config;
  try {
    config = load_agent_config(config_path);
  } catch (const AgentConfigError& e) {
    std::cerr << "pghactl: config error: " << e.what() << "\n";
    return 2;
  }
  // The agent's way to etcd (members, TLS, credentials), with a CLI's patience per call.
  EtcdClientOptions options = etcd_client_options(config);
  options.call_timeout = std::chrono::milliseconds(3000);
  std::optional<EtcdClient> client;
  try {
    client.emplace(options);
  } catch (const std::exception& e) {  // a TLS file gone or broken since the config was checked
    std::cerr << "pghactl: etcd: " << e.what() << "\n";
    return 1;
  }
  EtcdClient& etcd = *client;
  if (command == "list") return list(config, etcd);
  if (command == "pause" || command == "resume") return set_pause(config, etcd, command == "pause");
  if (command == "history") return history(config, etcd);
  if (command == "show-config") return show_config(config, etcd);
  if (command == "edit-config") return edit_config(config, etcd, settings);
  if (command == "dsn") return dsn(config, etcd, member);
  if (command == "switchover") return switchover(config, etcd, candidate, false);
  if (command == "failover") {
    if (candidate.empty()) return usage();
    return switchover(config, etcd, candidate, true);
  }
  return usage();
}
