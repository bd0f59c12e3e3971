// NodeStatus: what this agent knows about its node and cluster at the end of an HA loop
// iteration, as one immutable value. The HA loop publishes a new shared_ptr<const NodeStatus>
// each iteration (and at once on every role change); the REST API threads read the latest one
// and never block on etcd or PostgreSQL.
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "election/cluster_view.h"
#include "election/restart_request.h"

namespace pgha::election {

// One row of pg_stat_replication on a primary (Patroni's GET /patroni "replication").
struct ReplicationRow {
  std::string usename;
  std::string application_name;  // the replica's member name
  std::string client_addr;
  std::string state;             // "streaming", "catchup", ...
  std::string sync_state;        // "async", "sync", "potential"
  int sync_priority = 0;
};

struct NodeStatus {
  std::string scope;
  std::string name;
  std::string api_url;                    // http://host:port/patroni
  std::string conn_url;                   // postgres://host:port/postgres

  // Local PostgreSQL
  bool postgres_running = false;
  bool in_recovery = false;
  std::string state = "stopped";          // Patroni's words: running, stopped, starting, ...
  int timeline = 0;
  std::int64_t wal_position = 0;          // primary: current LSN; replica: max(received, replayed)
  std::int64_t received_location = 0;     // replica only
  std::int64_t replayed_location = 0;     // replica only
  std::string following;                  // member name a replica streams from
  std::int64_t server_version = 0;        // e.g. 150018
  std::string postmaster_start_time;      // as PostgreSQL prints it
  std::string system_identifier;          // pg_control system identifier
  std::string replayed_timestamp;         // of the last replayed transaction; "" when none
  bool pending_restart = false;           // a changed setting waits for a restart
  std::optional<RestartRequest> scheduled_restart;  // POST /restart with a schedule, until it runs
  std::vector<ReplicationRow> replication;

  // Election
  bool holds_lock = false;                // we own /leader and our lease is valid
  // holds_lock is believed only until this moment: the fencing deadline, a margin before the
  // lease can have run out since its last refresh. An agent that was frozen (SIGSTOP, a stalled
  // VM) answers its queued requests the moment it runs again, before its loop has looked at
  // etcd: by then the lease is gone, the watchdog has stopped PostgreSQL and another member may
  // lead, so those answers must not say "primary".
  std::chrono::steady_clock::time_point lock_valid_until{};
  bool lock_in_doubt = false;             // fencing: cannot confirm the lock (→ 503 on /primary)
  // Failsafe mode: we lead on the confirmations of every member while etcd is unreachable, or
  // (as a member) we confirmed a leader within ttl. Patroni's failsafe_mode_is_active.
  bool failsafe_active = false;
  // The members a failsafe round asks (the /failsafe key); nullopt when failsafe mode is off.
  std::optional<std::map<std::string, std::string>> failsafe;
  bool stepping_down = false;             // a switchover hands the lock over (→ 503 on /primary)
  bool dcs_reachable = false;
  std::int64_t dcs_last_seen_unix = 0;
  std::optional<std::string> leader;      // current leader name as last read from etcd
  ClusterView cluster;                    // members as last read from etcd
  std::int64_t leader_wal_position = 0;   // for replica lag; 0 when unknown
  bool nofailover = false;
  bool noloadbalance = false;
  int failover_priority = 1;
  std::string replicatefrom;              // tag: cascading replication from this member
  std::map<std::string, std::string> custom_tags;  // as written in patroni.yml
  std::string last_action;                // decide()'s last action and reason, for operators

  // The HA loop's heartbeat, for /liveness.
  std::chrono::steady_clock::time_point loop_heartbeat{};

  // Role as Patroni reports it: "primary" only when holding the lock AND out of recovery.
  bool is_primary() const { return lock_confirmed() && postgres_running && !in_recovery; }
  // We hold the lock, our lease is known to be alive now, and no switchover is handing it over.
  bool lock_confirmed() const {
    return holds_lock && std::chrono::steady_clock::now() < lock_valid_until && !lock_in_doubt && !stepping_down;
  }
  bool is_replica() const { return postgres_running && in_recovery; }
  // A running replica that the /sync key lists as a synchronous standby of the current leader
  // (quorum mode: a voter, is_quorum_standby()).
  bool is_sync_standby() const { return is_replica() && lists_sync_standby(name) && !cluster.sync->quorum; }
  bool is_quorum_standby() const { return is_replica() && lists_sync_standby(name) && cluster.sync->quorum; }
  // Whether the /sync key names `member` a synchronous standby of the current leader.
  bool lists_sync_standby(const std::string& member) const {
    return cluster.sync && leader && cluster.sync->leader == *leader && cluster.sync->is_standby(member);
  }
  // Bytes behind the leader, when known.
  std::optional<std::int64_t> lag() const {
    if (!in_recovery || leader_wal_position == 0) return std::nullopt;
    return std::max<std::int64_t>(0, leader_wal_position - wal_position);
  }
};

using NodeStatusPtr = std::shared_ptr<const NodeStatus>;

}  // namespace pgha::election
