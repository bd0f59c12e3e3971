// pghactl: the operator's CLI for a pgha-agent (or Patroni) cluster, like patronictl.
//   pghactl -c CONFIG list                       Member, Host, Role, State, TL, Lag in MB
//   pghactl -c CONFIG switchover [--candidate NAME]
//   pghactl -c CONFIG failover --candidate NAME
//   pghactl -c CONFIG pause | resume             maintenance mode ("pause" in the /config key)
// Reads the cluster straight from etcd (Patroni's key layout) with a deadline on every call, so
// it never hangs while etcd is down (patronictl does); switchover/failover go through the
// leader's (or any member's) REST API.
#include <iomanip>
#include <iostream>
#include <optional>
#include <sstream>

#include <nlohmann/json.hpp>

#include "election/agent_config.h"
#include "election/dynamic_config.h"
#include "election/etcd_dcs.h"
#include "election/etcd_client.h"
#include "election/member_codec.h"
#include "election/rest_client.h"

using namespace pgha::election;

namespace {

int usage() {
  std::cerr << "usage: pghactl -c CONFIG list | switchover [--candidate NAME] | failover --candidate NAME | pause | "
               "resume\n";
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
  std::cout << std::left << std::setw(10) << "Member" << std::setw(18) << "Host" << std::setw(14) << "Role"
            << std::setw(11) << "State" << std::setw(4) << "TL" << "Lag in MB\n";
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
              << (leader ? "Leader" : synchronous ? "Sync Standby" : "Replica") << std::setw(11) << m.state << std::setw(4) << m.timeline << lag
              << "\n";
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
  const ConfigResult result = patch_dynamic_config(dcs, keys, nlohmann::json{{"pause", pause}}.dump());
  if (result.http_status != 200) {
    std::cerr << "pghactl: " << result.body << "\n";
    return 1;
  }
  std::cout << "Success: cluster management is " << (pause ? "paused" : "resumed") << "\n";
  return 0;
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
  std::string config_path, command, candidate;
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    if ((arg == "-c" || arg == "--config") && i + 1 < argc) config_path = argv[++i];
    else if (arg == "--candidate" && i + 1 < argc) candidate = argv[++i];
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
  if (command == "switchover") return switchover(config, etcd, candidate, false);
  if (command == "failover") {
    if (candidate.empty()) return usage();
    return switchover(config, etcd, candidate, true);
  }
  return usage();
}
