// pghactl: the operator's CLI for a pgha-agent (or Patroni) cluster, like patronictl.
//   pghactl -c CONFIG list                       Member, Host, Role, State, TL, Lag in MB
//   pghactl -c CONFIG switchover [--candidate NAME] [--scheduled TIME|now]
//   pghactl -c CONFIG failover --candidate NAME
//   pghactl -c CONFIG pause | resume             maintenance mode ("pause" in the /config key)
//   pghactl -c CONFIG history                    the /history key: timeline switches, when, to whom
//   pghactl -c CONFIG show-config                the /config key (dynamic configuration) as YAML
//   pghactl -c CONFIG edit-config --set K=V ...  changes /config (K dotted, V YAML; null deletes)
//   pghactl -c CONFIG dsn [--member NAME]        a libpq connection string for the leader (or NAME)
//   pghactl -c CONFIG topology                   list as a tree: the leader, its replicas under it
//   pghactl -c CONFIG restart [--member NAME]... [--role leader|replica|any] [--pending]
//           [--pg-version X.Y] [--timeout SECONDS] [--scheduled TIME|now]
//   pghactl -c CONFIG reload [--member NAME]...
//   pghactl -c CONFIG reinit --member NAME... [--force] [--wait]
//   pghactl -c CONFIG flush restart [--member NAME]...   cancels scheduled restarts
//   pghactl -c CONFIG flush switchover                   cancels a scheduled switchover
//   pghactl -c CONFIG remove CLUSTER --yes-i-am-aware    deletes the cluster's keys in etcd
// Reads the cluster straight from etcd (Patroni's key layout) with a deadline on every call, so
// it never hangs while etcd is down (patronictl does); switchover/failover and the planned work
// (restart, reload, reinit, flush) go through the members' REST APIs, as patronictl's do. It never
// prompts (patronictl asks for confirmations and missing values): what is not given on the command
// line is not done, so scripts can use it; each member's outcome is one line, and the exit code is
// 1 when any failed, 2 for a usage error.
#include <algorithm>
#include <iomanip>
#include <iostream>
#include <map>
#include <optional>
#include <set>
#include <sstream>
#include <thread>

#include <nlohmann/json.hpp>
#include <yaml-cpp/yaml.h>

#include "election/agent_config.h"
#include "election/bounded_json.h"
#include "election/dynamic_config.h"
#include "election/etcd_dcs.h"
#include "election/etcd_client.h"
#include "election/member_codec.h"
#include "election/restart_request.h"
#include "election/rest_client.h"
#include "election/yaml_json.h"
#include "version/pgha_version.h"

using namespace pgha::election;

namespace {

int usage(std::ostream& out = std::cerr) {
  out << "usage: pghactl -c CONFIG list | topology | switchover [--candidate NAME] [--scheduled TIME|now] | "
               "failover --candidate NAME | "
               "pause | resume | history | show-config | edit-config --set KEY=VALUE... | dsn [--member NAME] |\n"
               "       restart [--member NAME]... [--role leader|replica|any] [--pending] [--pg-version X.Y] "
               "[--timeout SECONDS] [--scheduled TIME|now] |\n"
               "       reload [--member NAME]... | reinit --member NAME... [--force] [--wait] | "
               "flush restart [--member NAME]... | flush switchover | remove CLUSTER --yes-i-am-aware\n"
               "       pghactl --version | --help\n";
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

// The "schedule" of a member key's scheduled_restart ("" when none).
std::string scheduled_restart_time(const MemberStatus& m) {
  if (m.scheduled_restart.empty()) return "";
  const nlohmann::json j = parse_bounded_json(m.scheduled_restart);
  return j.is_object() && j.contains("schedule") && j["schedule"].is_string() ? j["schedule"].get<std::string>() : "?";
}

// patronictl topology's order: the leader, then depth first each member under the one it streams
// from (its replicatefrom member, else the leader), with its depth; members outside the tree (no
// leader) last, at depth 0.
std::vector<std::pair<MemberStatus, int>> topology_order(const ClusterView& view) {
  std::vector<std::pair<MemberStatus, int>> out;
  std::set<std::string> placed;
  const auto place = [&](const auto& self, const MemberStatus& m, int depth) -> void {
    if (!placed.insert(m.name).second) return;
    out.emplace_back(m, depth);
    for (const MemberStatus& child : view.members) {
      if (child.name != m.name && upstream_of_member(view, child.name, child.replicatefrom) == m.name) {
        self(self, child, depth + 1);
      }
    }
  };
  if (view.leader) {
    if (const MemberStatus* leader = find_member(view, *view.leader)) place(place, *leader, 0);
  }
  for (const MemberStatus& m : view.members) place(place, m, 0);
  return out;
}

// patronictl list; `topology`: patronictl topology, the leader first and each replica under the
// member it streams from ("+ name", indented two more per level).
int list(const AgentConfig& config, EtcdClient& etcd, bool topology) {
  const std::optional<ClusterView> read = read_cluster(config, etcd);
  if (!read) return 1;
  ClusterView view = *read;
  std::map<std::string, int> depth;
  if (topology) {
    view.members.clear();
    for (const auto& [m, level] : topology_order(*read)) {
      view.members.push_back(m);
      depth[m.name] = level;
    }
  }
  std::int64_t leader_position = view.last_leader_wal_position;
  for (const MemberStatus& m : view.members) {
    if (view.leader && m.name == *view.leader) leader_position = std::max(leader_position, m.wal_position);
  }
  std::cout << "+ Cluster: " << config.scope << (view.initialized ? "" : " (not initialized)") << "\n";
  const bool any_pending = std::any_of(view.members.begin(), view.members.end(),
                                       [](const MemberStatus& m) { return m.pending_restart; });
  const bool any_scheduled = std::any_of(view.members.begin(), view.members.end(),
                                         [](const MemberStatus& m) { return !m.scheduled_restart.empty(); });
  std::cout << std::left << std::setw(10) << "Member" << std::setw(18) << "Host" << std::setw(14) << "Role"
            << std::setw(11) << "State" << std::setw(4) << "TL" << (any_pending || any_scheduled ? std::setw(11) : std::setw(0))
            << "Lag in MB" << (any_pending ? (any_scheduled ? "Pending restart  " : "Pending restart") : "")
            << (any_scheduled ? "Scheduled restart" : "") << "\n";
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
    const int level = depth.count(m.name) ? depth[m.name] : 0;
    const std::string name = level > 0 ? std::string(2 * (level - 1), ' ') + "+ " + m.name : m.name;
    std::cout << std::setw(10) << name << std::setw(18) << host_port_of_conn_url(m.conn_url) << std::setw(14)
              << (leader ? "Leader" : !synchronous ? "Replica" : view.sync->quorum ? "Quorum Standby" : "Sync Standby") << std::setw(11) << m.state << std::setw(4)
              << m.timeline;
    if (!any_pending && !any_scheduled) {
      std::cout << lag;
    } else {
      std::cout << std::setw(11) << lag;
      if (any_pending) std::cout << std::setw(any_scheduled ? 17 : 0) << (m.pending_restart ? "*" : "");
      if (any_scheduled) std::cout << scheduled_restart_time(m);
    }
    std::cout << "\n";
  }
  if (!view.leader) std::cout << "(no leader)\n";
  if (view.paused) std::cout << " Maintenance mode: on\n";
  if (view.failover && !view.failover->scheduled_at.empty()) {
    std::cout << " Switchover scheduled at: " << view.failover->scheduled_at << "\n                    from: "
              << view.failover->leader << "\n"
              << (view.failover->candidate.empty() ? "" : "                      to: " + view.failover->candidate + "\n");
  }
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

// `scheduled`: "" or "now" for at once, else an ISO 8601 time with a zone (the leader checks it).
int switchover(const AgentConfig& config, EtcdClient& etcd, const std::string& candidate, bool failover,
               const std::string& scheduled) {
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
  if (!scheduled.empty() && scheduled != "now") body["scheduled_at"] = scheduled;
  auto res = client.post(failover ? "/failover" : "/switchover", body.dump());
  if (!res) {
    std::cerr << "pghactl: " << client.base() << " did not answer: " << client.describe_failure(res) << "\n";
    return 1;
  }
  std::cout << res->body << (res->body.empty() || res->body.back() != '\n' ? "\n" : "");
  return res->status == 200 || (res->status == 202 && body.contains("scheduled_at")) ? 0 : 1;
}


// What a command line asks of the planned-work commands.
struct PlannedOptions {
  std::vector<std::string> members;  // --member (repeatable); none: every member
  std::string role = "any";          // --role leader|replica|any
  bool pending = false;              // --pending
  std::string pg_version;            // --pg-version
  std::string timeout;               // --timeout
  std::string scheduled;             // --scheduled TIME|now
  bool force = false;                // --force
  bool wait = false;                 // --wait
};

// The members named (every member when none is), keeping those in `role`; a name that is not a
// member is an error (reported; nullopt).
std::optional<std::vector<MemberStatus>> select_members(const AgentConfig& config, const ClusterView& view,
                                                        const std::vector<std::string>& names, const std::string& role) {
  std::vector<MemberStatus> out;
  for (const std::string& name : names) {
    const MemberStatus* m = find_member(view, name);
    if (m == nullptr) {
      std::cerr << "pghactl: " << name << " is not a member of cluster " << config.scope << "\n";
      return std::nullopt;
    }
    out.push_back(*m);
  }
  if (names.empty()) out = view.members;
  std::erase_if(out, [&](const MemberStatus& m) {
    const bool leader = view.leader && *view.leader == m.name;
    return (role == "leader" && !leader) || (role == "replica" && leader);
  });
  if (out.empty()) std::cerr << "pghactl: no " << (role == "any" ? "" : role + " ") << "member to act on\n";
  return out;
}

// One request to a member's REST API: its status and body, or 0 and why it did not answer.
struct MemberReply {
  int status = 0;
  std::string body;
};

MemberReply call_member(const AgentConfig& config, const MemberStatus& member, const std::string& method,
                        const std::string& path, const std::string& body, std::chrono::seconds read_timeout) {
  RestClient client(member.api_url, config, std::chrono::seconds(3), read_timeout);
  if (!client.ok()) return {0, client.error()};
  httplib::Result res = method == "DELETE" ? client.del(path) : method == "GET" ? client.get(path) : client.post(path, body);
  if (!res) return {0, client.base() + " did not answer: " + client.describe_failure(res)};
  std::string text = res->body;
  while (!text.empty() && (text.back() == '\n' || text.back() == '\r')) text.pop_back();
  return {res->status, text};
}

// patronictl's check_response: "Success: ACTION for member NAME" or one line saying why not.
bool report(const MemberReply& reply, const std::string& member, const std::string& action) {
  if (reply.status >= 200 && reply.status < 300) {
    std::cout << "Success: " << action << " for member " << member << "\n";
    return true;
  }
  std::cerr << "Failed: " << action << " for member " << member;
  if (reply.status == 0) std::cerr << ": " << reply.body << "\n";
  else std::cerr << ", status code=" << reply.status << ", (" << reply.body << ")\n";
  return false;
}

int restart(const AgentConfig& config, EtcdClient& etcd, const PlannedOptions& options) {
  if (options.role != "leader" && options.role != "replica" && options.role != "any") {
    std::cerr << "pghactl: --role " << options.role << ": expected leader, replica or any\n";
    return 2;
  }
  nlohmann::json body = nlohmann::json::object();
  if (options.pending) body["restart_pending"] = true;
  if (options.role != "any") body["role"] = options.role == "leader" ? "primary" : "replica";
  if (!options.pg_version.empty()) {
    std::string error;
    if (!postgres_version_to_int(options.pg_version, &error)) {
      std::cerr << "pghactl: --pg-version: " << error << "\n";
      return 2;
    }
    body["postgres_version"] = options.pg_version;
  }
  if (!options.timeout.empty()) body["timeout"] = options.timeout;
  if (!options.scheduled.empty() && options.scheduled != "now") {
    bool has_zone = false;
    const auto at = parse_iso8601(options.scheduled, &has_zone);
    if (!at || !has_zone) {
      std::cerr << "pghactl: --scheduled " << options.scheduled
                << ": expected an ISO 8601 time with its zone, e.g. 2026-12-02T06:30+00:00, or now\n";
      return 2;
    }
    body["schedule"] = format_iso8601(*at);
  }
  const std::optional<ClusterView> read = read_cluster(config, etcd);
  if (!read) return 1;
  if (body.contains("schedule") && read->paused) {
    std::cerr << "pghactl: Can't schedule restart in the paused state\n";
    return 1;
  }
  const auto members = select_members(config, *read, options.members, options.role);
  if (!members || members->empty()) return 1;
  bool all_ok = true;
  for (const MemberStatus& m : *members) {
    // The agent answers once PostgreSQL is back (its stop and start are bounded by a few minutes).
    const MemberReply reply = call_member(config, m, "POST", "/restart", body.dump(), std::chrono::seconds(330));
    if (reply.status == 200) {
      std::cout << "Success: restart on member " << m.name << "\n";
    } else if (reply.status == 202) {
      std::cout << "Success: restart scheduled on member " << m.name << "\n";
    } else if (reply.status == 409) {
      std::cerr << "Failed: another restart is already scheduled on member " << m.name << "\n";
      all_ok = false;
    } else if (reply.status == 503 && reply.body == "restart conditions are not satisfied") {
      // What was asked for (--pending, --role, --pg-version) does not apply there: not a failure.
      std::cout << "Skipped: restart for member " << m.name << " (restart conditions are not satisfied)\n";
    } else {
      all_ok = report(reply, m.name, "restart") && all_ok;
    }
  }
  return all_ok ? 0 : 1;
}

int reload(const AgentConfig& config, EtcdClient& etcd, const PlannedOptions& options) {
  const std::optional<ClusterView> read = read_cluster(config, etcd);
  if (!read) return 1;
  const auto members = select_members(config, *read, options.members, "any");
  if (!members || members->empty()) return 1;
  bool all_ok = true;
  for (const MemberStatus& m : *members) {
    const MemberReply reply = call_member(config, m, "POST", "/reload", "", std::chrono::seconds(10));
    if (reply.status == 202) {
      std::cout << "Reload request received for member " << m.name << " and will be processed at once\n";
    } else {
      all_ok = report(reply, m.name, "reload") && all_ok;
    }
  }
  return all_ok ? 0 : 1;
}

// Until the member's API shows it running again after a reinitialize (bounded: a clone may take
// long, not forever).
bool wait_for_reinitialize(const AgentConfig& config, const MemberStatus& member) {
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::minutes(15);
  std::string last;
  while (std::chrono::steady_clock::now() < deadline) {
    const MemberReply reply = call_member(config, member, "GET", "/patroni", "", std::chrono::seconds(5));
    const nlohmann::json j = reply.status == 200 ? parse_bounded_json(reply.body) : nlohmann::json();
    last = j.is_object() && j.contains("state") && j["state"].is_string() ? j["state"].get<std::string>() : "unknown";
    if (last == "running") {
      std::cout << "Reinitialize is completed on: " << member.name << "\n";
      return true;
    }
    std::this_thread::sleep_for(std::chrono::seconds(1));
  }
  std::cerr << "Failed: reinitialize of " << member.name << " not completed within 15 minutes (state " << last << ")\n";
  return false;
}

int reinit(const AgentConfig& config, EtcdClient& etcd, const PlannedOptions& options) {
  if (options.members.empty()) {
    std::cerr << "pghactl: reinit needs --member NAME (the replica to wipe and clone again)\n";
    return 2;
  }
  const std::optional<ClusterView> read = read_cluster(config, etcd);
  if (!read) return 1;
  const auto members = select_members(config, *read, options.members, "any");
  if (!members || members->empty()) return 1;
  bool all_ok = true;
  for (const MemberStatus& m : *members) {
    const nlohmann::json body{{"force", options.force}};
    const MemberReply reply = call_member(config, m, "POST", "/reinitialize", body.dump(), std::chrono::seconds(60));
    const bool started = report(reply, m.name, "reinitialize");
    all_ok = started && (!options.wait || wait_for_reinitialize(config, m)) && all_ok;
  }
  return all_ok ? 0 : 1;
}

// patronictl flush restart: cancels the scheduled restart of each (selected) member that has one.
int flush(const AgentConfig& config, EtcdClient& etcd, const std::vector<std::string>& targets,
          const PlannedOptions& options) {
  if (targets.size() != 1 || (targets.front() != "restart" && targets.front() != "switchover")) {
    std::cerr << "pghactl: flush supports: flush restart [--member NAME]... | flush switchover\n";
    return 2;
  }
  const std::optional<ClusterView> read = read_cluster(config, etcd);
  if (!read) return 1;
  if (targets.front() == "switchover") {
    // DELETE /switchover on the leader first, then any member that answers.
    if (!read->failover || read->failover->scheduled_at.empty()) {
      std::cout << "No pending scheduled switchover\n";
      return 0;
    }
    std::vector<MemberStatus> order = read->members;
    std::stable_partition(order.begin(), order.end(),
                          [&](const MemberStatus& m) { return read->leader && m.name == *read->leader; });
    for (const MemberStatus& m : order) {
      const MemberReply reply = call_member(config, m, "DELETE", "/switchover", "", std::chrono::seconds(10));
      if (reply.status == 200 || reply.status == 404) {
        std::cout << (reply.status == 200 ? "Success: " : "Failed: ") << reply.body << "\n";
        return reply.status == 200 ? 0 : 1;
      }
      std::cerr << "Failed: member=" << m.name << ", status_code=" << reply.status << ", (" << reply.body << ")\n";
    }
    return 1;
  }
  const auto members = select_members(config, *read, options.members, "any");
  if (!members || members->empty()) return 1;
  bool all_ok = true;
  for (const MemberStatus& m : *members) {
    if (m.scheduled_restart.empty()) {
      std::cout << "No scheduled restart for member " << m.name << "\n";
      continue;
    }
    all_ok = report(call_member(config, m, "DELETE", "/restart", "", std::chrono::seconds(10)), m.name,
                    "flush scheduled restart") && all_ok;
  }
  return all_ok ? 0 : 1;
}

// patronictl remove, without its prompts, and safer: refused while the leader's member key says
// its PostgreSQL runs (stop the agents first).
int remove_cluster(const AgentConfig& config, EtcdClient& etcd, const std::vector<std::string>& targets, bool aware) {
  if (targets.size() != 1) {
    std::cerr << "pghactl: remove needs the cluster's name: remove CLUSTER --yes-i-am-aware\n";
    return 2;
  }
  if (targets.front() != config.scope) {
    std::cerr << "pghactl: " << targets.front() << " is not the configured cluster (scope " << config.scope << ")\n";
    return 2;
  }
  if (!aware) {
    std::cerr << "pghactl: remove deletes every key of cluster " << config.scope
              << " in etcd; say --yes-i-am-aware to go ahead\n";
    return 2;
  }
  KeyLayout keys(config.namespace_, config.scope);
  auto range = etcd.range_prefix(keys.prefix());
  if (!range.ok()) {
    std::cerr << "pghactl: cannot read etcd: " << range.status().message() << "\n";
    return 1;
  }
  const ClusterView view = decode_cluster(keys, range.value());
  if (view.leader) {
    const MemberStatus* leader = find_member(view, *view.leader);
    if (leader != nullptr && is_running_state(leader->state)) {
      std::cerr << "pghactl: cluster " << config.scope << " has a running leader (" << *view.leader
                << "): stop its agents before removing it\n";
      return 1;
    }
  }
  std::size_t removed = 0;
  for (const KeyValue& kv : range.value().kvs) {
    auto deleted = etcd.delete_key(kv.key);
    if (!deleted.ok()) {
      std::cerr << "pghactl: deleting " << kv.key << " failed after " << removed << " of " << range.value().kvs.size()
                << " keys: " << deleted.status().message() << "\n";
      return 1;
    }
    ++removed;
  }
  std::cout << "Removed cluster " << config.scope << " (" << removed << " keys under " << keys.prefix() << ")\n";
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  std::string config_path, command, candidate;
  std::vector<std::string> settings, targets;
  PlannedOptions planned;
  bool aware = false;
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    const bool has_value = i + 1 < argc;
    if ((arg == "-c" || arg == "--config") && has_value) config_path = argv[++i];
    else if (arg == "--candidate" && has_value) candidate = argv[++i];
    else if (arg == "--member" && has_value) planned.members.push_back(argv[++i]);
    else if ((arg == "--set" || arg == "-s") && has_value) settings.push_back(argv[++i]);
    else if (arg == "--role" && has_value) planned.role = argv[++i];
    else if (arg == "--pg-version" && has_value) planned.pg_version = argv[++i];
    else if (arg == "--timeout" && has_value) planned.timeout = argv[++i];
    else if (arg == "--scheduled" && has_value) planned.scheduled = argv[++i];
    else if (arg == "--pending") planned.pending = true;
    else if (arg == "--force") planned.force = true;
    else if (arg == "--wait") planned.wait = true;
    else if (arg == "--yes-i-am-aware") aware = true;
    else if (arg == "-h" || arg == "--help") {
      usage(std::cout);
      return 0;
    } else if (arg == "--version") {
      std::cout << pgha::version_line("pghactl") << "\n";
      return 0;
    }
    else if (command.empty() && !arg.empty() && arg[0] != '-') command = arg;
    else if (!command.empty() && !arg.empty() && arg[0] != '-') targets.push_back(arg);
    else {
      std::cerr << "pghactl: unknown option, or an option without its value: '" << arg << "'\n";
      return usage();
    }
  }
  // Only flush and remove take words after the command.
  if (!targets.empty() && command != "flush" && command != "remove") return usage();
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
  if (command == "list" || command == "topology") return list(config, etcd, command == "topology");
  if (command == "pause" || command == "resume") return set_pause(config, etcd, command == "pause");
  if (command == "history") return history(config, etcd);
  if (command == "show-config") return show_config(config, etcd);
  if (command == "edit-config") return edit_config(config, etcd, settings);
  if (command == "dsn") return dsn(config, etcd, planned.members.empty() ? "" : planned.members.front());
  if (command == "restart") return restart(config, etcd, planned);
  if (command == "reload") return reload(config, etcd, planned);
  if (command == "reinit") return reinit(config, etcd, planned);
  if (command == "flush") return flush(config, etcd, targets, planned);
  if (command == "remove") return remove_cluster(config, etcd, targets, aware);
  if (command == "switchover") return switchover(config, etcd, candidate, false, planned.scheduled);
  if (command == "failover") {
    if (candidate.empty()) return usage();
    return switchover(config, etcd, candidate, true, planned.scheduled);
  }
  return usage();
}
