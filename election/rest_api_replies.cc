// The REST API's replies as pure functions of a NodeStatus snapshot: the ?lag= parser, the
// health endpoints' status codes, the role word, and the bodies of GET /patroni, /cluster and
// /metrics. The HTTP server that sends them is rest_api.cc. See rest_api_replies.h.
#include "election/rest_api_replies.h"

#include <algorithm>
#include <cctype>
#include <cstdio>

#include <nlohmann/json.hpp>

#include "election/bounded_json.h"
#include "election/failsafe.h"
#include "prometheus_text/metrics_writer.h"

namespace pgha::election {
namespace {

using nlohmann::ordered_json;

// Patroni's "patroni.version" key keeps its place but names our agent; the metric needs a number.
constexpr const char* kAgentVersion = "pgha-0.1";
constexpr const char* kAgentVersionPadded = "000100";  // Patroni pads each semver part: 0.1.0

constexpr int kOk = 200;
constexpr int kUnavailable = 503;

// ---- small helpers ----

std::string json_text(const ordered_json& j) { return j.dump(-1, ' ', false, ordered_json::error_handler_t::replace); }

std::optional<std::string> effective_leader(const NodeStatus& s) {
  return s.leader ? s.leader : s.cluster.leader;
}

// Bytes a replica has still to replay, measured as Patroni does (leader optime − replayed).
std::optional<std::int64_t> replay_lag(const NodeStatus& s) {
  if (s.leader_wal_position == 0) return std::nullopt;
  const std::int64_t replayed = s.replayed_location != 0 ? s.replayed_location : s.wal_position;
  return std::max<std::int64_t>(0, s.leader_wal_position - replayed);
}

bool is_lagging(const NodeStatus& s, std::optional<std::int64_t> max_lag) {
  if (!max_lag) return false;
  const auto lag = replay_lag(s);
  return lag && *lag > *max_lag;
}

bool contains(std::string_view haystack, std::string_view needle) {
  return haystack.find(needle) != std::string_view::npos;
}

std::string first_segment(std::string_view path) {
  while (!path.empty() && path.front() == '/') path.remove_prefix(1);
  return std::string(path.substr(0, path.find('/')));
}

// The tags Patroni would report: only the ones set.
ordered_json tags_json(const NodeStatus& s) {
  ordered_json tags = ordered_json::object();
  if (s.nofailover) tags["nofailover"] = true;
  if (s.noloadbalance) tags["noloadbalance"] = true;
  if (s.failover_priority != 1) tags["failover_priority"] = s.failover_priority;
  if (!s.replicatefrom.empty()) tags["replicatefrom"] = s.replicatefrom;
  for (const auto& [name, value] : s.custom_tags) tags[name] = value;
  return tags;
}

// "postgres://host:port/db" → host, port (0 when absent).
std::pair<std::string, int> host_port_of_url(std::string_view url) {
  const auto scheme = url.find("://");
  if (scheme != std::string_view::npos) url.remove_prefix(scheme + 3);
  url = url.substr(0, url.find_first_of("/?"));
  if (const auto at = url.rfind('@'); at != std::string_view::npos) url.remove_prefix(at + 1);
  std::string_view host = url;
  std::string_view port;
  if (!url.empty() && url.front() == '[') {
    const auto close = url.find(']');
    host = url.substr(1, close == std::string_view::npos ? std::string_view::npos : close - 1);
    if (close != std::string_view::npos && close + 1 < url.size() && url[close + 1] == ':') port = url.substr(close + 2);
  } else if (const auto colon = url.rfind(':'); colon != std::string_view::npos) {
    host = url.substr(0, colon);
    port = url.substr(colon + 1);
  }
  int port_number = 0;
  for (char c : port) {
    if (c < '0' || c > '9' || port_number > 65535) return {std::string(host), 0};
    port_number = port_number * 10 + (c - '0');
  }
  return {std::string(host), port_number};
}


}  // namespace

std::string patroni_role(const NodeStatus& s) {
  if (s.is_primary()) return "master";
  if (s.postgres_running) return s.in_recovery ? "replica" : "demoted";
  if (s.system_identifier.empty()) return "uninitialized";
  return s.in_recovery ? "replica" : "demoted";
}

int health_status_code(const NodeStatus& s, std::string_view path, const HealthQuery& query,
                       std::chrono::steady_clock::time_point now, std::chrono::milliseconds liveness_threshold) {
  const std::string segment = first_segment(path);
  if (segment == "liveness") return now - s.loop_heartbeat < liveness_threshold ? kOk : kUnavailable;

  const bool replica_running = s.is_replica() && s.state == "running";
  const bool streaming_ok = !query.replication_state || (*query.replication_state == "streaming" && !s.following.empty());
  if (segment == "readiness") {
    return s.is_primary() || (replica_running && !is_lagging(s, query.max_lag_bytes)) ? kOk : kUnavailable;
  }

  if (path == "/" || path.empty()) path = "/primary";
  const int replica_code = replica_running && !s.noloadbalance && !s.following.empty() && streaming_ok &&
                                   !is_lagging(s, query.max_lag_bytes)
                               ? kOk
                               : kUnavailable;
  const int primary_code = s.is_primary() ? kOk : kUnavailable;
  const int leader_code = s.lock_confirmed() ? kOk : kUnavailable;
  const int standby_leader_code = kUnavailable;  // no standby clusters
  const bool is_synchronous = s.is_sync_standby();
  const bool is_quorum = s.is_quorum_standby();

  int code = kUnavailable;
  bool ignore_tags = false;
  if (contains(path, "standby_leader") || contains(path, "standby-leader")) {
    code = standby_leader_code;
    ignore_tags = true;
  } else if (contains(path, "leader")) {
    code = leader_code;
    ignore_tags = true;
  } else if (contains(path, "master") || contains(path, "primary") || contains(path, "read-write")) {
    code = primary_code;
    ignore_tags = true;
  } else if (contains(path, "replica")) {
    code = replica_code;
  } else if (contains(path, "read-only") && !contains(path, "sync") && !contains(path, "quorum")) {
    code = primary_code == kOk ? kOk : replica_code;
  } else if (contains(path, "health")) {
    code = s.postgres_running ? kOk : kUnavailable;
  } else if ((path == "/sync" || path == "/synchronous") && is_synchronous) {
    code = replica_code;
  } else if (path == "/quorum" && is_quorum) {  // as Patroni's later releases: a voter of quorum commit
    code = replica_code;
  } else if (path == "/read-only-quorum") {
    code = primary_code == kOk ? kOk : is_quorum ? replica_code : kUnavailable;
  } else if (path == "/async" || path == "/asynchronous") {
    code = is_synchronous || is_quorum ? kUnavailable : replica_code;
  } else if (path == "/read-only-sync" || path == "/read-only-synchronous") {
    code = primary_code == kOk ? kOk : is_synchronous ? replica_code : kUnavailable;
  }

  if (!ignore_tags && code == kOk) {
    // As Patroni: the tag's value as text, compared case-insensitively; a tag this node does not
    // have never matches.
    const auto lower = [](std::string text) {
      for (char& c : text) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
      return text;
    };
    for (const auto& [name, wanted] : query.tags) {
      std::string value;
      if (name == "nofailover") {
        value = s.nofailover ? "true" : "false";
      } else if (name == "noloadbalance") {
        value = s.noloadbalance ? "true" : "false";
      } else if (name == "failover_priority") {
        value = std::to_string(s.failover_priority);
      } else if (auto it = s.custom_tags.find(name); it != s.custom_tags.end()) {
        value = it->second;
      } else {
        return kUnavailable;
      }
      if (lower(wanted) != lower(value)) return kUnavailable;
    }
  }
  return code;
}

std::string render_patroni_json(const NodeStatus& s) {
  ordered_json j;
  j["state"] = s.state;
  if (s.postgres_running) {
    if (s.postmaster_start_time.empty()) {
      j["postmaster_start_time"] = nullptr;
    } else {
      j["postmaster_start_time"] = s.postmaster_start_time;
    }
    j["role"] = patroni_role(s);
    j["server_version"] = s.server_version;
    if (s.in_recovery) {
      j["xlog"] = {{"received_location", s.received_location != 0 ? s.received_location : s.replayed_location},
                   {"replayed_location", s.replayed_location},
                   {"replayed_timestamp", s.replayed_timestamp.empty() ? ordered_json(nullptr)
                                                                       : ordered_json(s.replayed_timestamp)},
                   {"paused", false}};
      if (!s.following.empty()) j["replication_state"] = "streaming";
    } else {
      j["xlog"] = {{"location", s.wal_position}};
    }
    j["timeline"] = s.timeline;
    if (!s.replication.empty()) {
      auto& rows = j["replication"] = ordered_json::array();
      for (const ReplicationRow& r : s.replication) {
        rows.push_back({{"usename", r.usename},
                        {"application_name", r.application_name},
                        {"client_addr", r.client_addr},
                        {"state", r.state},
                        {"sync_state", r.sync_state},
                        {"sync_priority", r.sync_priority}});
      }
    }
  } else {
    j["role"] = patroni_role(s);
  }
  if (s.is_sync_standby()) j["sync_standby"] = true;
  if (!effective_leader(s)) j["cluster_unlocked"] = true;
  if (s.cluster.paused) j["pause"] = true;
  if (s.postgres_running && s.pending_restart) j["pending_restart"] = true;
  if (s.failsafe_active) j["failsafe_mode_is_active"] = true;
  if (s.scheduled_restart) j["scheduled_restart"] = scheduled_restart_json(*s.scheduled_restart);
  j["dcs_last_seen"] = s.dcs_last_seen_unix;
  if (auto tags = tags_json(s); !tags.empty()) j["tags"] = std::move(tags);
  if (!s.system_identifier.empty()) j["database_system_identifier"] = s.system_identifier;
  j["patroni"] = {{"version", kAgentVersion}, {"scope", s.scope}};
  return json_text(j);
}

std::optional<std::string> render_failsafe_json(const NodeStatus& s) {
  if (!s.failsafe) return std::nullopt;
  return encode_failsafe_topology(*s.failsafe);
}

std::string render_history_json(const NodeStatus& s) {
  const nlohmann::json history = parse_bounded_json(s.cluster.history);
  return history.is_array() ? history.dump() : "[]";
}

std::string render_cluster_json(const NodeStatus& s) {
  const auto leader = effective_leader(s);
  std::int64_t cluster_lsn = s.leader_wal_position;
  std::vector<const MemberStatus*> members;
  for (const MemberStatus& m : s.cluster.members) {
    members.push_back(&m);
    if (cluster_lsn == 0 && leader && m.name == *leader) cluster_lsn = m.wal_position;
  }
  std::sort(members.begin(), members.end(), [](const MemberStatus* a, const MemberStatus* b) { return a->name < b->name; });

  ordered_json j;
  j["scope"] = s.scope;
  auto& rows = j["members"] = ordered_json::array();
  for (const MemberStatus* m : members) {
    const bool is_leader = leader && m->name == *leader;
    ordered_json row;
    row["name"] = m->name;
    row["role"] = is_leader                          ? "leader"
                  : !s.lists_sync_standby(m->name) ? "replica"
                  : s.cluster.sync->quorum         ? "quorum_standby"
                                                   : "sync_standby";
    row["state"] = m->state;
    row["api_url"] = m->api_url;
    if (auto [host, port] = host_port_of_url(m->conn_url); !host.empty()) {
      row["host"] = host;
      if (port != 0) row["port"] = port;
    }
    if (m->timeline > 0) row["timeline"] = m->timeline;
    if (m->nofailover) row["tags"] = {{"nofailover", true}};
    if (!is_leader) {
      if (m->wal_position == 0) {
        row["lag"] = "unknown";
      } else {
        row["lag"] = std::max<std::int64_t>(0, cluster_lsn - m->wal_position);
      }
    }
    rows.push_back(std::move(row));
  }
  if (s.cluster.paused) j["pause"] = true;
  return json_text(j);
}

// Patroni's number for a postgres state word (PostgresqlState's index in Patroni's later
// releases); -1 for a word Patroni does not have.
int patroni_state_index(std::string_view state) {
  static constexpr std::string_view kStates[] = {
      "initializing new cluster", "initdb failed", "running custom bootstrap script", "custom bootstrap failed",
      "creating replica", "running", "starting", "starting after custom bootstrap", "start failed", "restarting",
      "restart failed", "stopping", "stopped", "stop failed", "crashed"};
  for (std::size_t i = 0; i < std::size(kStates); ++i) {
    if (kStates[i] == state) return static_cast<int>(i);
  }
  return -1;
}

std::string render_patroni_metrics(const NodeStatus& s) {
  using prometheus_text::Label;
  const std::initializer_list<Label> labels = {{"scope", s.scope}, {"name", s.name}};
  prometheus_text::MetricsWriter w;
  const auto metric = [&](const char* name, const char* type, const char* help, auto value) {
    w.family(name, type, help);
    w.sample(labels, value);
  };
  const bool primary = s.is_primary();
  const bool replica = s.is_replica();
  const bool out_of_recovery = s.postgres_running && !s.in_recovery;
  const double start = s.postgres_running ? parse_postgres_timestamp(s.postmaster_start_time).value_or(0) : 0;
  const int server_version = s.postgres_running ? s.server_version : 0;

  w.family("patroni_version", "gauge", "Patroni semver without periods.");
  w.sample_text(labels, kAgentVersionPadded);
  metric("patroni_postgres_running", "gauge", "Value is 1 if Postgres is running, 0 otherwise.", s.postgres_running);
  metric("patroni_postmaster_start_time", "gauge", "Epoch seconds since Postgres started.", start);
  metric("patroni_master", "gauge", "Value is 1 if this node is the leader, 0 otherwise.", primary);
  metric("patroni_primary", "gauge", "Value is 1 if this node is the leader, 0 otherwise.", primary);
  metric("patroni_xlog_location", "counter",
         "Current location of the Postgres transaction log, 0 if this node is not the leader.",
         std::int64_t{out_of_recovery ? s.wal_position : 0});
  metric("patroni_standby_leader", "gauge", "Value is 1 if this node is the standby_leader, 0 otherwise.", 0);
  metric("patroni_replica", "gauge", "Value is 1 if this node is a replica, 0 otherwise.", replica);
  metric("patroni_sync_standby", "gauge", "Value is 1 if this node is a sync standby replica, 0 otherwise.",
         s.is_sync_standby());
  metric("patroni_quorum_standby", "gauge", "Value is 1 if this node is a quorum standby replica, 0 otherwise.",
         s.is_quorum_standby());
  metric("patroni_xlog_received_location", "counter",
         "Current location of the received Postgres transaction log, 0 if this node is not a replica.",
         std::int64_t{replica ? (s.received_location != 0 ? s.received_location : s.replayed_location) : 0});
  metric("patroni_xlog_replayed_location", "counter",
         "Current location of the replayed Postgres transaction log, 0 if this node is not a replica.",
         std::int64_t{replica ? s.replayed_location : 0});
  const double replayed_at = replica ? parse_postgres_timestamp(s.replayed_timestamp).value_or(0) : 0;
  metric("patroni_xlog_replayed_timestamp", "gauge",
         "Current timestamp of the replayed Postgres transaction log, 0 if null.", replayed_at);
  metric("patroni_xlog_paused", "gauge", "Value is 1 if the Postgres xlog is paused, 0 otherwise.", 0);
  // As Patroni's later releases: only when PostgreSQL (9.6 or later) runs. Replicas here only
  // stream; none replays from an archive alone.
  if (server_version >= 90600) {
    metric("patroni_postgres_streaming", "gauge", "Value is 1 if Postgres is streaming, 0 otherwise.",
           s.postgres_running && s.in_recovery && !s.following.empty());
    metric("patroni_postgres_in_archive_recovery", "gauge",
           "Value is 1 if Postgres is replicating from archive, 0 otherwise.", 0);
  }
  metric("patroni_postgres_server_version", "gauge", "Version of Postgres (if running), 0 otherwise.", server_version);
  metric("patroni_cluster_unlocked", "gauge", "Value is 1 if the cluster is unlocked, 0 if locked.",
         !effective_leader(s));
  // Patroni's help text, word for word (it repeats cluster_unlocked's).
  metric("patroni_failsafe_mode_is_active", "gauge", "Value is 1 if the cluster is unlocked, 0 if locked.",
         s.failsafe_active);
  metric("patroni_failsafe_mode_enabled", "gauge", "Value is 1 if failsafe_mode is enabled, 0 otherwise.",
         s.failsafe.has_value());
  metric("patroni_failsafe_member", "gauge", "Value is 1 if this node is a member of failsafe, 0 otherwise.",
         s.failsafe.has_value() && s.failsafe->count(s.name) > 0);
  metric("patroni_postgres_timeline", "counter", "Postgres timeline of this node (if running), 0 otherwise.",
         std::int64_t{s.postgres_running ? s.timeline : 0});
  metric("patroni_dcs_last_seen", "gauge", "Epoch timestamp when DCS was last contacted successfully by Patroni.",
         std::int64_t{s.dcs_last_seen_unix});
  metric("patroni_pending_restart", "gauge", "Value is 1 if the node needs a restart, 0 otherwise.",
         s.postgres_running && s.pending_restart);
  metric("patroni_is_paused", "gauge", "Value is 1 if auto failover is disabled, 0 otherwise.", s.cluster.paused);
  metric("patroni_postgres_state", "gauge", "Numeric representation of Postgres state.", patroni_state_index(s.state));
  metric("patroni_failover_priority", "gauge", "Failover priority of this node.", s.failover_priority);
  return w.take();
}

}  // namespace pgha::election
