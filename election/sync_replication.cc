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
  return true;
}

bool SyncReplication::prepare_promotion() {
  reset();
  if (!write_sync(SyncState{name_, {}, false}, "before promotion")) return false;
  if (!apply_standby_names(standby_names_setting({}, settings_))) return false;
  log().info("{}: synchronous replication: /sync names only us; synchronous_standby_names '{}' until a standby "
             "is confirmed", name_, *applied_);
  return true;
}

void SyncReplication::reset() {
  applied_.reset();
  seen_sync_.clear();
  last_change_.clear();
}

void SyncReplication::maintain(const ClusterView& view) {
  last_change_.clear();
  std::vector<std::string> current;
  if (!view.sync || view.sync->leader != name_ || view.sync->unreadable) {
    if (!write_sync(SyncState{name_, {}, false}, "taking it over")) return;
    last_change_ = "/sync now names us";
  } else {
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

}  // namespace pgha::election
