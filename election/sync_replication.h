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
// Every /sync write is a transaction that succeeds only while the leader key names this member.
// Thread-safety: the HA thread only.
#pragma once

#include <chrono>
#include <cstdint>
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
  bool apply_standby_names(const std::string& value);

  std::string name_;
  KeyLayout keys_;
  SyncSettings settings_;
  Dcs& dcs_;
  LocalPostgres& postgres_;
  Millis timeout_;
  std::optional<std::string> applied_;            // synchronous_standby_names we set (unknown at start)
  std::map<std::string, std::int64_t> seen_sync_;  // standby → leader's flush LSN when first seen synchronous
  std::string last_change_;
};

}  // namespace pgha::election
