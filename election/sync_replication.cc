#include "election/sync_replication.h"

#include <algorithm>

#include "election/log.h"

namespace pgha::election {

namespace {

// One row per replica, and the leader's flush LSN on every row (a single row of NULLs and the LSN
// when no replica is connected).
constexpr const char* kReplicationQuery =
    "SELECT r.application_name, r.state, r.sync_state, r.flush_lsn, pg_current_wal_flush_lsn() "
    "FROM (SELECT 1) AS one LEFT JOIN pg_stat_replication AS r ON true";

// An LSN column in bytes; 0 for NULL (nothing flushed yet).
std::int64_t lsn(const std::optional<std::string>& text) { return text ? parse_lsn(*text).value_or(0) : 0; }

std::string joined(const std::vector<std::string>& names) {
  std::string out;
  for (const std::string& n : names) out += (out.empty() ? "" : ",") + n;
  return out.empty() ? "none" : out;
}

}  // namespace

bool SyncReplication::write_sync(const SyncState& state, const char* why) {
  auto put = dcs_.put_if_value(keys_.sync(), encode_sync_state(state), keys_.leader(), name_);
  if (!put.ok()) {
    log().warn("{}: synchronous replication: writing /sync ({}) failed: {}", name_, why, put.status().to_string());
    return false;
  }
  return true;
}

bool SyncReplication::apply_standby_names(const std::string& value) {
  if (applied_ && *applied_ == value) return true;
  if (PgStatus s = postgres_.set_synchronous_standby_names(value, timeout_); !s.ok()) {
    log().warn("{}: synchronous replication: setting synchronous_standby_names to '{}' failed: {}", name_, value,
               s.message());
    applied_.reset();  // unknown now: written again next time
    return false;
  }
  applied_ = value;
  seen_sync_.clear();
  settled_lsn_.reset();
  if (on_reload_) on_reload_();
  return true;
}

bool SyncReplication::prepare_promotion() {
  reset();
  SyncState alone{name_, {}, false};
  if (settings_.quorum) alone.quorum = 0;
  if (!write_sync(alone, "before promotion")) return false;
  if (!apply_standby_names(standby_names_setting({}, settings_))) return false;
  log().info("{}: synchronous replication: /sync names only us; synchronous_standby_names '{}' until a standby "
             "is confirmed", name_, *applied_);
  return true;
}

void SyncReplication::reset() {
  applied_.reset();
  seen_sync_.clear();
  settled_lsn_.reset();
  last_change_.clear();
}

void SyncReplication::maintain(const ClusterView& view) {
  last_change_.clear();
  std::vector<std::string> current;
  SyncState key{name_, {}, false};
  if (settings_.quorum) key.quorum = 0;
  // A quorum key read in FIRST mode lists standbys that need not have every commit: start afresh.
  const bool foreign_quorum = !settings_.quorum && view.sync && view.sync->quorum.value_or(0) > 0;
  if (!view.sync || view.sync->leader != name_ || view.sync->unreadable || foreign_quorum) {
    if (!write_sync(key, "taking it over")) return;
    last_change_ = "/sync now names us";
  } else {
    key = *view.sync;
    current = view.sync->standbys;
  }

  PgRows rows;
  if (PgStatus s = postgres_.execute(kReplicationQuery, timeout_, &rows); !s.ok()) {
    log().warn("{}: synchronous replication: reading pg_stat_replication failed: {}", name_, s.message());
    return;
  }
  std::vector<SyncCandidate> replicas;
  std::int64_t leader_lsn = 0;
  for (const PgRow& r : rows) {
    if (r.size() < 5) continue;
    leader_lsn = std::max(leader_lsn, lsn(r[4]));
    if (!r[0]) continue;
    SyncCandidate c;
    c.name = *r[0];
    c.streaming = r[1].value_or("") == "streaming";
    c.sync_state = r[2].value_or("");
    c.flush_lsn = lsn(r[3]);
    const MemberStatus* member = find_member(view, c.name);
    c.nosync = member != nullptr && member->nosync;
    replicas.push_back(std::move(c));
  }
  std::vector<std::string> members;
  for (const MemberStatus& m : view.members) {
    if (m.name != name_) members.push_back(m.name);
  }
  const std::vector<std::string> desired = choose_sync_standbys(replicas, members, current, leader_lsn, settings_);
  if (settings_.quorum) return maintain_quorum(key, replicas, leader_lsn, desired);

  // 1. A standby that is no longer wanted leaves /sync before synchronous_standby_names.
  std::vector<std::string> kept;
  for (const std::string& n : current) {
    if (std::find(desired.begin(), desired.end(), n) != desired.end()) kept.push_back(n);
  }
  if (kept != current) {
    if (!write_sync(SyncState{name_, kept, false}, "removing a standby")) return;
    log().warn("{}: synchronous replication: /sync standbys {} -> {}", name_, joined(current), joined(kept));
    last_change_ = "/sync standbys " + joined(current) + " -> " + joined(kept);
    current = kept;
  }

  // 2. synchronous_standby_names names the wanted ones.
  const std::string value = standby_names_setting(desired, settings_);
  const bool changed = !applied_ || *applied_ != value;
  if (!apply_standby_names(value)) return;
  if (changed) log().info("{}: synchronous replication: synchronous_standby_names = '{}'", name_, value);

  // 3. A new standby enters /sync once it is synchronous and has what was acknowledged before.
  std::vector<std::string> confirmed = current;
  for (const std::string& n : desired) {
    if (std::find(current.begin(), current.end(), n) != current.end()) continue;
    auto row = std::find_if(replicas.begin(), replicas.end(), [&](const SyncCandidate& c) { return c.name == n; });
    if (row == replicas.end() || row->sync_state != "sync") {
      seen_sync_.erase(n);
      continue;
    }
    auto seen = seen_sync_.find(n);
    if (seen == seen_sync_.end()) {
      seen_sync_[n] = leader_lsn;  // confirmed at a later step, once it has flushed this far
      continue;
    }
    if (row->flush_lsn >= seen->second) confirmed.push_back(n);
  }
  if (confirmed != current) {
    if (!write_sync(SyncState{name_, confirmed, false}, "adding a standby")) return;
    for (const std::string& n : confirmed) seen_sync_.erase(n);
    log().warn("{}: synchronous replication: /sync standbys {} -> {}", name_, joined(current), joined(confirmed));
    last_change_ = "/sync standbys " + joined(current) + " -> " + joined(confirmed);
  }
}

void SyncReplication::maintain_quorum(SyncState key, const std::vector<SyncCandidate>& replicas,
                                      std::int64_t leader_lsn, const std::vector<std::string>& desired) {
  const int k = quorum_commit_count(desired.size(), settings_);
  SyncState target{name_, desired, false};
  target.quorum = static_cast<int>(desired.size()) - k;
  const auto describe = [](const SyncState& s) {
    return joined(s.standbys) + " (quorum " + std::to_string(s.quorum.value_or(0)) + ")";
  };
  const auto rewrite = [&](SyncState next, const char* why) {
    if (!write_sync(next, why)) return false;
    log().warn("{}: synchronous replication (quorum): /sync voters {} -> {}", name_, describe(key), describe(next));
    last_change_ = "/sync voters " + describe(key) + " -> " + describe(next);
    key = std::move(next);
    return true;
  };
  const int key_count = static_cast<int>(key.standbys.size()) - key.quorum.value_or(0);  // k the key allows for

  // 1. The key covers the new setting before it is applied.
  if (desired.empty()) {
    if (!key.standbys.empty() && !rewrite(target, "no standby left")) return;
  } else if (!key.standbys.empty()) {
    const bool inside = std::all_of(desired.begin(), desired.end(), [&](const std::string& n) { return key.is_standby(n); });
    if (!inside || key_count > k) {
      SyncState wider{name_, key.standbys, false};
      for (const std::string& n : desired) {
        if (!wider.is_standby(n)) wider.standbys.push_back(n);
      }
      wider.quorum = static_cast<int>(wider.standbys.size()) - std::min(key_count, k);
      if (!rewrite(wider, "widening before a change")) return;
    }
  }  // a key without voters lets nobody be promoted: it covers anything until it is narrowed below

  // 2. The setting.
  const std::string value = standby_names_setting(desired, settings_);
  const bool changed = !applied_ || *applied_ != value;
  if (!apply_standby_names(value)) return;
  if (changed) {
    log().info("{}: synchronous replication (quorum): synchronous_standby_names = '{}'", name_, value);
    return;  // step 3 from the next iteration on, once the walsenders have read it
  }

  // 3. Narrow the key to the new standbys once what was acknowledged before is on k of them.
  if (desired.empty() || (key.standbys == target.standbys && key.quorum == target.quorum)) return;
  const auto row_of = [&](const std::string& n) {
    return std::find_if(replicas.begin(), replicas.end(), [&](const SyncCandidate& c) { return c.name == n; });
  };
  const bool in_force = std::all_of(desired.begin(), desired.end(), [&](const std::string& n) {
    const auto row = row_of(n);
    return row != replicas.end() && row->sync_state == "quorum";
  });
  if (!in_force) {
    settled_lsn_.reset();
    return;
  }
  if (!settled_lsn_) {
    settled_lsn_ = leader_lsn;
    return;
  }
  const auto caught_up = std::count_if(desired.begin(), desired.end(), [&](const std::string& n) {
    const auto row = row_of(n);
    return row != replicas.end() && row->flush_lsn >= *settled_lsn_;
  });
  if (caught_up >= k) (void)rewrite(target, "narrowing to the new standbys");
}

}  // namespace pgha::election
