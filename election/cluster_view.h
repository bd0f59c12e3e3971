// ClusterView and LocalState: the inputs of the HA decision, as plain values.
// ClusterView is what the agent read from etcd in this loop iteration; LocalState is what it
// observed of its own PostgreSQL and lease. Built by the HA loop; consumed by decide().
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "election/sync_state.h"

namespace pgha::election {

// One member's published status (Patroni's /members/<name> JSON).
struct MemberStatus {
  std::string name;
  std::string role;           // "primary" | "replica" | "uninitialized" | "demoted"
  std::string state;          // "running" | "stopped" | "starting" | "streaming" | ...
  std::string conn_url;       // postgres://host:port/postgres
  std::string api_url;        // http://host:port/patroni
  std::int64_t wal_position = 0;  // bytes: pg_current_wal_lsn on a primary, received/replayed on a replica
  int timeline = 0;
  bool nofailover = false;
  bool nosync = false;  // never made a synchronous standby
  bool pending_restart = false;  // a changed setting waits for a restart (shown by pghactl list)
  // Patroni's "scheduled_restart" object ({"schedule": ISO 8601, ...}) as JSON text; "" when none.
  std::string scheduled_restart;
  int failover_priority = 1;  // among members equally far ahead, the higher one takes over
  std::string replicatefrom;  // tag: streams from this member instead of the leader
};

// A pending switchover/failover request (Patroni's /failover key).
struct FailoverRequest {
  std::string leader;         // for switchover: the current leader expected ("" for failover)
  std::string candidate;      // "" → any healthy member
  // A scheduled switchover: when (ISO 8601, as written); "" for one to act on now. Until it is
  // due the HA loop leaves the request out of its view.
  std::string scheduled_at;
};

struct ClusterView {
  bool dcs_reachable = true;               // false: etcd could not be read in this iteration
  bool initialized = false;                // /initialize exists
  // Its value: the cluster's PostgreSQL system identifier once the bootstrap is done ("" before,
  // and older pgha versions wrote the scope).
  std::string initialize_value;
  std::string history;  // the /history key's value (timeline_history.h), "" when absent
  std::set<std::string> retained_slots;  // /status "retain_slots": slots kept for gone members
  std::optional<std::string> leader;       // /leader value (member name), if the key exists
  std::vector<MemberStatus> members;       // every /members/* key (including this node's)
  // The leader's last published WAL position (Patroni's /status "optime"; 0 if unknown). It
  // outlives the leader's lease, so a failover still measures lag against the lost leader.
  std::int64_t last_leader_wal_position = 0;
  // Set by a leader that stepped down in a switchover: its shutdown checkpoint LSN (0 otherwise).
  // Until a new leader publishes its own optime, only a member at or past it may take the lock.
  std::int64_t handover_wal_position = 0;
  std::optional<FailoverRequest> failover;
  // Maintenance mode: "pause": true in the /config key (pghactl pause). No automatic failover,
  // start, stop or rejoin; see decide().
  bool paused = false;
  // Failsafe mode ("failsafe_mode": true in /config; failsafe.h) and the /failsafe key, the
  // members (name → api_url) a leader must hear from to stay primary while etcd is unreachable
  // (nullopt when absent or unreadable).
  bool failsafe_mode = false;
  std::optional<std::map<std::string, std::string>> failsafe;
  // The /sync key (synchronous replication), if it exists.
  std::optional<SyncState> sync;
  // Keys whose value could not be read ("<key>: <why>"): such a member is left out.
  std::vector<std::string> unreadable;
};

// The member called `name` in `cluster`, or nullptr.
inline const MemberStatus* find_member(const ClusterView& cluster, const std::string& name) {
  for (const MemberStatus& member : cluster.members) {
    if (member.name == name) return &member;
  }
  return nullptr;
}

// Patroni's words for a member whose PostgreSQL runs.
inline bool is_running_state(const std::string& state) { return state == "running" || state == "streaming"; }

// A member that could take over: running PostgreSQL, no nofailover tag.
inline bool is_eligible(const MemberStatus& member) { return !member.nofailover && is_running_state(member.state); }

// The member `name` streams from: the leader, or with a replicatefrom tag the member it names
// (cascading replication) when that member runs PostgreSQL and its own upstream does not lead
// back to `name`; otherwise the leader ("" when there is none). As Patroni does, but Patroni
// also follows a named member that is down, or that follows us.
std::string upstream_of_member(const ClusterView& cluster, const std::string& name, const std::string& replicatefrom);

struct LocalState {
  std::string name;
  bool data_dir_initialized = false;       // PG_VERSION exists
  bool postgres_running = false;
  bool in_recovery = false;                // pg_is_in_recovery()
  std::int64_t wal_position = 0;           // see MemberStatus::wal_position
  int timeline = 0;
  std::string following;                   // member name this replica streams from ("" if none)
  bool holds_lock = false;                 // /leader == name and our lease is alive as far as we know
  // Time since the last successful leader-key/lease refresh while holding the lock.
  std::chrono::milliseconds since_last_refresh{0};
  bool nofailover = false;
  int failover_priority = 1;
  // pre_promote refused our promotion: the lock is to be let go, and for ttl after that we stay
  // out of the leader race (Patroni's backoff), so that another member takes over.
  bool promotion_refused = false;
  // Failsafe mode: the leader we confirmed (POST /failsafe) within ttl, "" when none. We do not
  // campaign meanwhile: it stays primary on the strength of our confirmation.
  std::string failsafe_leader;
  std::string replicatefrom;  // tag: the member to stream from instead of the leader
};

}  // namespace pgha::election
