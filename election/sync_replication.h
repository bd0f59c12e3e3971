// SyncReplication: the leader's side of synchronous replication (synchronous_mode). Each loop
// iteration while it leads a running primary, it makes synchronous_standby_names and the /sync
// key follow the healthy replicas, in the order that keeps /sync true at every moment: /sync
// lists only standbys that have every commit the leader acknowledged.
//  - a standby leaves /sync first, then synchronous_standby_names;
//  - a standby enters synchronous_standby_names first, and /sync only once pg_stat_replication
//    reports it synchronous and it has flushed the WAL the leader had flushed when that was first
//    seen (the commits acknowledged before it became synchronous);
//  - before a promotion, /sync is made to name the new leader alone and synchronous_standby_names
//    is reset ('*' in strict mode, so no commit is acknowledged before a standby has it).
// In quorum mode (sync_state.h) the key lists voters with a quorum, and a change goes in three
// steps, each keeping "any quorum + 1 voters include one with every acknowledged commit" true:
//  1. /sync widens to cover both the old and the new setting (the union of the voters, with the
//     quorum of the smaller commit count);
//  2. synchronous_standby_names becomes 'ANY k (new standbys)';
//  3. once every walsender reports the new setting ("quorum" in pg_stat_replication), the leader's
//     flush LSN at that moment is noted, and when k of the new standbys have flushed past it
//     (every commit acknowledged under the old setting is on k of them) /sync narrows to the new
//     standbys with quorum |S| - k.
// Going to no standby (or coming from none), /sync lists nobody while the setting changes, so no
// member may be promoted meanwhile.
// Every /sync write is a transaction that succeeds only while the leader key names this member.
// Thread-safety: the HA thread only.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>

#include "election/cluster_view.h"
#include "election/dcs.h"
#include "election/local_postgres.h"
#include "election/member_codec.h"
#include "election/sync_state.h"

namespace pgha::election {

class SyncReplication {
 public:
  using Millis = std::chrono::milliseconds;

  SyncReplication(std::string name, const KeyLayout& keys, SyncSettings settings, Dcs& dcs, LocalPostgres& postgres,
                  Millis timeout)
      : name_(std::move(name)), keys_(keys), settings_(settings), dcs_(dcs), postgres_(postgres), timeout_(timeout) {}

  // Before promoting this member (it holds the lock): /sync names it alone and
  // synchronous_standby_names is reset. False (logged): do not promote in this iteration.
  [[nodiscard]] bool prepare_promotion();
  // One step of keeping synchronous replication right while this member leads a running primary.
  void maintain(const ClusterView& view);
  // This member no longer leads: forget what it had applied.
  void reset();
  // Called after each change of synchronous_standby_names took effect (a reload of PostgreSQL's
  // configuration): Patroni's on_reload fires then.
  void set_reload_hook(std::function<void()> hook) { on_reload_ = std::move(hook); }
  // The dynamic configuration changed synchronous_node_count, synchronous_mode_strict,
  // maximum_lag_on_syncnode or retry_timeout: the next maintain() applies them.
  void set_settings(SyncSettings settings, Millis timeout) {
    settings_ = settings;
    timeout_ = timeout;
  }

  // What the last step did, for the log and GET /patroni ("" when nothing changed).
  const std::string& last_change() const { return last_change_; }

 private:
  bool write_sync(const SyncState& state, const char* why);
  void maintain_quorum(SyncState key, const std::vector<SyncCandidate>& replicas, std::int64_t leader_lsn,
                       const std::vector<std::string>& desired);
  bool apply_standby_names(const std::string& value);

  std::string name_;
  KeyLayout keys_;
  SyncSettings settings_;
  Dcs& dcs_;
  LocalPostgres& postgres_;
  Millis timeout_;
  std::optional<std::string> applied_;            // synchronous_standby_names we set (unknown at start)
  std::map<std::string, std::int64_t> seen_sync_;  // standby → leader's flush LSN when first seen synchronous
  // Quorum mode: the leader's flush LSN when every walsender was first seen applying the current
  // setting (commits acknowledged under the previous one are at or before it).
  std::optional<std::int64_t> settled_lsn_;
  std::string last_change_;
  std::function<void()> on_reload_;
};

}  // namespace pgha::election
