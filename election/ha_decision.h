// decide(): the HA loop's brain as a pure function (cluster view + local state → action),
// so that every case can be tested exhaustively without etcd or PostgreSQL.
// Thread-safety: pure; call from anywhere.
#pragma once

#include <chrono>
#include <string>

#include "election/cluster_view.h"

namespace pgha::election {

// Defaults are AgentConfig's (ttl 10 s, loop_wait 2 s, retry_timeout 4 s).
struct HaSettings {
  std::chrono::milliseconds ttl{10000};
  std::chrono::milliseconds loop_wait{2000};
  std::chrono::milliseconds retry_timeout{4000};
  std::int64_t maximum_lag_on_failover = 1048576;
  // synchronous_mode: while the /sync key names a leader, only it and its synchronous standbys
  // may take the lock, and a synchronous standby is never held back by maximum_lag_on_failover
  // (it has every acknowledged commit).
  bool synchronous_mode = false;
};

enum class Action {
  kBootstrap,          // cluster not initialized and we won the /initialize race: initdb, start as primary, take the lock
  kRaceToInitialize,   // cluster not initialized: try to create /initialize (winner bootstraps)
  kCloneFromLeader,    // no local data, cluster initialized with a leader: pg_basebackup from it
  kWaitForLeader,      // no local data, no leader yet (or leader unreachable): wait
  kStartAsPrimary,     // data exists, PostgreSQL is down and we hold the lock: start it (after a crash in recovery, then promote)
  kStartAsStandby,     // data exists, PostgreSQL is down and we do not lead: start it as a standby of
                       // target ("" = no leader known yet: standby.signal without primary_conninfo)
  kAcquireLock,        // no leader and we are the healthiest eligible member: txn create leader key
  kPromote,            // we hold the lock but PostgreSQL is in recovery: pg_promote()
  kRefreshLock,        // we hold the lock and are primary: keep the lease alive, publish status (also
                       // while etcd is unreachable, until since_last_refresh reaches retry_timeout)
  kDemote,             // we lost (or cannot refresh) the lock while primary: stop being writable now (fencing)
  kFollowLeader,       // replica not following the current leader: point primary_conninfo at it, restart
  kRewindAndFollow,    // former primary with another leader: pg_rewind (fallback basebackup), then follow
  kReleaseLock,        // a switchover asks us to step down (target: the candidate, "" = the healthiest):
                       // the switchover protocol; or we hold the lock without data, or in recovery
                       // after pre_promote refused the promotion: delete the key
  kDropFailoverRequest,  // a failover request names us but we cannot honour it safely: delete it so
                         // that the ordinary rules choose
  kNothing,            // healthy replica following the leader, or waiting for a better candidate
};

struct Decision {
  Action action = Action::kNothing;
  std::string target;  // leader to follow / clone from / rewind from, switchover candidate, when relevant
  std::string reason;  // one line for the log and GET /patroni
  // Set when we lead and a switchover request is ignored: why (the loop answers the request with
  // it and deletes the request).
  std::string refused_request;
};

// The full table, in the order rules are tried, heads ha_decision.cc.
Decision decide(const ClusterView& cluster, const LocalState& local, const HaSettings& settings);

// Whether `local` is the healthiest eligible member of `cluster` to take over: not nofailover;
// WAL position >= every other reachable non-nofailover member's, and no member equally far ahead
// with a higher failover_priority; lag behind the best known
// position <= maximum_lag_on_failover. Equally healthy members all campaign: etcd's txn on the
// leader key lets exactly one win.
bool is_healthiest(const ClusterView& cluster, const LocalState& local, const HaSettings& settings);

// Whether `member` could take over now: running, no nofailover tag, and in synchronous mode
// the /sync key allows it.
bool can_take_over(const ClusterView& cluster, const HaSettings& settings, const MemberStatus& member);

const char* action_name(Action action);

}  // namespace pgha::election
