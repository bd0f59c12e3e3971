// Synchronous replication as Patroni keeps it, as pure values and functions:
//  - SyncState: the /sync key, {"leader": "n1", "sync_standby": "n2,n3"}. While it names a leader,
//    only that leader and the standbys it lists may be promoted: every commit the leader
//    acknowledged is on one of them.
//  - choose_sync_standbys(): which streaming replicas the leader should make synchronous.
//  - standby_names_setting(): the synchronous_standby_names value for a set of standbys.
// The HA loop (sync_replication.h) applies them; decide() reads SyncState.
// Thread-safety: pure; call from anywhere.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace pgha::election {

struct SyncState {
  std::string leader;                 // "" = no synchronous leader recorded: anyone may be promoted
  std::vector<std::string> standbys;  // in the order the leader chose them
  // The key exists but could not be read: nobody can tell who has every acknowledged commit, so
  // nobody may be promoted until a leader rewrites it.
  bool unreadable = false;

  bool active() const { return !leader.empty() || unreadable; }
  // Whether `name` may be promoted while this state is active: the leader or a listed standby.
  bool allows(const std::string& name) const;
  bool is_standby(const std::string& name) const;
};

std::string encode_sync_state(const SyncState& state);
// nullopt (with `error` set, if given) when the JSON is not an object or a field has the wrong type.
std::optional<SyncState> decode_sync_state(const std::string& json, std::string* error = nullptr);

// One replica as the leader sees it in pg_stat_replication.
struct SyncCandidate {
  std::string name;             // application_name: the member name
  bool streaming = false;       // state = 'streaming'
  std::string sync_state;       // "sync", "potential", "async", "quorum"
  std::int64_t flush_lsn = 0;   // bytes
  bool nosync = false;          // the member's nosync tag
};

struct SyncSettings {
  int node_count = 1;                 // synchronous_node_count
  bool strict = false;                // synchronous_mode_strict: never run without a standby
  std::int64_t max_lag_on_syncnode = -1;  // bytes; < 0: no limit
};

// The standbys the leader should make synchronous: streaming, known members, no nosync tag, within
// max_lag_on_syncnode of `leader_lsn`; the ones already synchronous (`current`) first, so that a
// healthy standby is never swapped for an equal one, then the least lagging; at most node_count.
std::vector<std::string> choose_sync_standbys(const std::vector<SyncCandidate>& replicas,
                                              const std::vector<std::string>& members,
                                              const std::vector<std::string>& current, std::int64_t leader_lsn,
                                              const SyncSettings& settings);

// synchronous_standby_names for `standbys`: 'FIRST n ("a", "b")' with n = min(node_count, the
// number listed); with none, '*' when strict (commits wait for any standby that connects) and ''
// otherwise (asynchronous until one is confirmed).
std::string standby_names_setting(const std::vector<std::string>& standbys, const SyncSettings& settings);

}  // namespace pgha::election
