// Synchronous replication as Patroni keeps it, as pure values and functions:
//  - SyncState: the /sync key, {"leader": "n1", "sync_standby": "n2,n3"}. While it names a leader,
//    only that leader and the standbys it lists may be promoted: every commit the leader
//    acknowledged is on one of them.
//  - choose_sync_standbys(): which streaming replicas the leader should make synchronous.
//  - standby_names_setting(): the synchronous_standby_names value for a set of standbys.
// Quorum commit (synchronous_mode: quorum): synchronous_standby_names is 'ANY k (s1, ..., sN)'
// over every healthy standby, so a commit waits for the fastest k of them; /sync lists the
// voters V and "quorum": q, the number of other voters a candidate must reach and be at least as
// far ahead as before it may be promoted. Every commit the leader acknowledged is on at least k
// members of V, so any q + 1 = |V| - k + 1 of them include one that has it. The leader changes
// the setting and the key in the order that keeps this true (sync_replication.h).
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
  // Quorum commit: how many other voters (standbys) a candidate must reach; nullopt outside quorum
  // mode (then every listed standby has every acknowledged commit, as with 0).
  std::optional<int> quorum;

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
  bool quorum = false;                // synchronous_mode: quorum ('ANY k (...)' over every healthy standby)
  std::int64_t max_lag_on_syncnode = -1;  // bytes; < 0: no limit
};

// The standbys the leader should make synchronous: streaming, known members, no nosync tag, within
// max_lag_on_syncnode of `leader_lsn`; the ones already synchronous (`current`) first, so that a
// healthy standby is never swapped for an equal one, then the least lagging; at most node_count
// (in quorum mode every one of them, by name).
std::vector<std::string> choose_sync_standbys(const std::vector<SyncCandidate>& replicas,
                                              const std::vector<std::string>& members,
                                              const std::vector<std::string>& current, std::int64_t leader_lsn,
                                              const SyncSettings& settings);

// synchronous_standby_names for `standbys`: 'FIRST n ("a", "b")' with n = min(node_count, the
// number listed); with none, '*' when strict (commits wait for any standby that connects) and ''
// otherwise (asynchronous until one is confirmed).
// In quorum mode 'ANY k (...)' with k = quorum_commit_count().
std::string standby_names_setting(const std::vector<std::string>& standbys, const SyncSettings& settings);

// Quorum mode: k, the standbys a commit waits for: min(node_count, standbys), at least 1 if any.
int quorum_commit_count(std::size_t standbys, const SyncSettings& settings);

}  // namespace pgha::election
