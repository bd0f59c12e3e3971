// Fakes for HaLoop tests: an in-memory etcd (FakeDcs), a PostgreSQL that is a small state machine
// recording every call (FakePostgres), and scripted peers (FakePeers). FakePostgres checks the
// first safety invariant at the moment it matters: whenever it would become writable (a primary
// start, a promotion) it asks FakeDcs whether the loop holds the leader key under a live lease,
// and records a violation otherwise.
// Thread-safety: FakeDcs and FakePeers are locked (the REST thread of a switchover request uses
// them); FakePostgres is used from the HA thread only.
#pragma once

#include <algorithm>
#include <functional>
#include <map>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "election/dcs.h"
#include "election/local_postgres.h"
#include "election/peer_client.h"

namespace pgha::election::test {

// Whether `item` is in `list` (the recorded calls, keys, ...).
inline bool contains(const std::vector<std::string>& list, const std::string& item) {
  return std::find(list.begin(), list.end(), item) != list.end();
}

class FakeDcs final : public Dcs {
 public:
  struct Entry {
    std::string value;
    std::int64_t lease = 0;
    std::int64_t create_revision = 0;
  };

  // Failure injection: the next N calls of that kind fail as "unreachable".
  int fail_range = 0;
  int fail_put = 0;
  int fail_delete = 0;
  int fail_create = 0;
  int fail_keepalive = 0;
  int fail_grant = 0;
  int fail_revoke = 0;
  std::string fail_put_key;  // when set, only puts of this key fail (fail_put times)

  EtcdResult<LeaseGrant> grant_lease(std::chrono::seconds ttl) override {
    std::lock_guard lock(mutex_);
    if (fail_grant > 0) {
      --fail_grant;
      return unreachable();
    }
    const std::int64_t id = ++next_lease_;
    leases_.insert(id);
    granted_ttls_.push_back(ttl.count());
    return LeaseGrant{id, ttl.count()};
  }
  EtcdResult<std::int64_t> keep_lease_alive(std::int64_t lease_id) override {
    std::lock_guard lock(mutex_);
    ++keepalives_;
    if (fail_keepalive > 0) {
      --fail_keepalive;
      return unreachable();
    }
    return std::int64_t{leases_.count(lease_id) ? 10 : 0};
  }
  EtcdStatus revoke_lease(std::int64_t lease_id) override {
    std::lock_guard lock(mutex_);
    if (fail_revoke > 0) {
      --fail_revoke;
      return unreachable();
    }
    revoked_.push_back(lease_id);
    expire_locked(lease_id);
    return {};
  }
  EtcdResult<RangeResponse> range_prefix(const std::string& prefix) override {
    std::lock_guard lock(mutex_);
    if (fail_range > 0) {
      --fail_range;
      return unreachable();
    }
    RangeResponse r;
    r.revision = revision_;
    for (const auto& [key, e] : kv_) {
      if (key.rfind(prefix, 0) != 0) continue;
      KeyValue kv;
      kv.key = key;
      kv.value = e.value;
      kv.lease = e.lease;
      kv.create_revision = e.create_revision;
      r.kvs.push_back(kv);
    }
    r.count = static_cast<std::int64_t>(r.kvs.size());
    return r;
  }
  EtcdResult<std::int64_t> put(const std::string& key, const std::string& value, std::int64_t lease) override {
    std::lock_guard lock(mutex_);
    if (fail_put > 0 && (fail_put_key.empty() || fail_put_key == key)) {
      --fail_put;
      return unreachable();
    }
    puts_.push_back(key + "=" + value);
    put_locked(key, value, lease);
    return revision_;
  }
  EtcdResult<std::int64_t> create_if_absent(const std::string& key, const std::string& value,
                                            std::int64_t lease) override {
    std::lock_guard lock(mutex_);
    if (fail_create > 0) {
      --fail_create;
      return unreachable();
    }
    if (kv_.count(key)) return EtcdStatus(EtcdStatus::Code::kTxnFailed, key + " exists");
    put_locked(key, value, lease);
    return revision_;
  }
  EtcdResult<std::int64_t> put_if_value(const std::string& key, const std::string& value, const std::string& guard_key,
                                        const std::string& guard_value) override {
    std::lock_guard lock(mutex_);
    if (fail_put > 0 && (fail_put_key.empty() || fail_put_key == key)) {
      --fail_put;
      return unreachable();
    }
    auto guard = kv_.find(guard_key);
    if (guard == kv_.end() || guard->second.value != guard_value) {
      return EtcdStatus(EtcdStatus::Code::kTxnFailed, guard_key + " differs");
    }
    puts_.push_back(key + "=" + value);
    put_locked(key, value, 0);
    return revision_;
  }
  EtcdResult<std::int64_t> compare_and_swap(const std::string& key, const std::string& expected,
                                            const std::string& new_value, std::int64_t lease) override {
    std::lock_guard lock(mutex_);
    if (fail_put > 0 && (fail_put_key.empty() || fail_put_key == key)) {
      --fail_put;
      return unreachable();
    }
    auto it = kv_.find(key);
    if (it == kv_.end() || it->second.value != expected) return EtcdStatus(EtcdStatus::Code::kTxnFailed, "differs");
    puts_.push_back(key + "=" + new_value);
    put_locked(key, new_value, lease);
    return revision_;
  }
  EtcdResult<std::int64_t> delete_if_value(const std::string& key, const std::string& expected) override {
    std::lock_guard lock(mutex_);
    if (fail_delete > 0) {
      --fail_delete;
      return unreachable();
    }
    auto it = kv_.find(key);
    if (it == kv_.end() || it->second.value != expected) return EtcdStatus(EtcdStatus::Code::kTxnFailed, "differs");
    kv_.erase(it);
    deletes_.push_back(key);
    return ++revision_;
  }
  EtcdStatus delete_key(const std::string& key) override {
    std::lock_guard lock(mutex_);
    if (fail_delete > 0) {
      --fail_delete;
      return unreachable();
    }
    if (kv_.erase(key)) deletes_.push_back(key);
    ++revision_;
    return {};
  }
  std::unique_ptr<EtcdWatch> watch(const std::string&, WatchCallback) override { return nullptr; }

  // Test side.
  void set(const std::string& key, const std::string& value, std::int64_t lease = 0) {
    std::lock_guard lock(mutex_);
    put_locked(key, value, lease);
  }
  void erase(const std::string& key) {
    std::lock_guard lock(mutex_);
    kv_.erase(key);
  }
  std::optional<Entry> get(const std::string& key) const {
    std::lock_guard lock(mutex_);
    auto it = kv_.find(key);
    if (it == kv_.end()) return std::nullopt;
    return it->second;
  }
  std::int64_t new_lease() {
    std::lock_guard lock(mutex_);
    leases_.insert(++next_lease_);
    return next_lease_;
  }
  // The lease runs out: every key it held goes.
  void expire(std::int64_t lease_id) {
    std::lock_guard lock(mutex_);
    expire_locked(lease_id);
  }
  bool lease_alive(std::int64_t lease_id) const {
    std::lock_guard lock(mutex_);
    return leases_.count(lease_id) != 0;
  }
  // Whether `name` holds the leader key under a live lease.
  bool leads(const std::string& leader_key, const std::string& name) const {
    std::lock_guard lock(mutex_);
    auto it = kv_.find(leader_key);
    return it != kv_.end() && it->second.value == name && leases_.count(it->second.lease);
  }
  std::vector<std::string> puts() const {
    std::lock_guard lock(mutex_);
    return puts_;
  }
  std::vector<std::string> deletes() const {
    std::lock_guard lock(mutex_);
    return deletes_;
  }
  int keepalives() const {
    std::lock_guard lock(mutex_);
    return keepalives_;
  }
  // The ttl asked for by each grant, in order.
  std::vector<std::int64_t> granted_ttls() const {
    std::lock_guard lock(mutex_);
    return granted_ttls_;
  }
  std::vector<std::int64_t> revoked() const {
    std::lock_guard lock(mutex_);
    return revoked_;
  }

 private:
  static EtcdStatus unreachable() { return EtcdStatus(EtcdStatus::Code::kUnreachable, "fake: unreachable"); }
  void put_locked(const std::string& key, const std::string& value, std::int64_t lease) {
    ++revision_;
    auto it = kv_.find(key);
    const std::int64_t created = it == kv_.end() ? revision_ : it->second.create_revision;
    kv_[key] = Entry{value, lease, created};
  }
  void expire_locked(std::int64_t lease_id) {
    leases_.erase(lease_id);
    for (auto it = kv_.begin(); it != kv_.end();) {
      if (it->second.lease == lease_id) it = kv_.erase(it);
      else ++it;
    }
  }

  mutable std::mutex mutex_;
  std::map<std::string, Entry> kv_;
  std::set<std::int64_t> leases_;
  std::int64_t next_lease_ = 100;
  std::int64_t revision_ = 1;
  int keepalives_ = 0;
  std::vector<std::string> puts_;
  std::vector<std::string> deletes_;
  std::vector<std::int64_t> revoked_;
  std::vector<std::int64_t> granted_ttls_;
};

// PostgreSQL as a state machine. `may_be_writable` is asked whenever it would end recovery.
class FakePostgres final : public LocalPostgres {
 public:
  bool data = true;
  bool running = false;
  bool in_recovery = false;
  bool standby_signal = false;
  bool diverged_marker = false;
  bool clean_shutdown = true;  // false after crash() or an immediate stop, until the next fast stop
  std::int64_t wal = 0x5000000;
  int timeline = 1;
  std::string following;  // "host:port"
  bool pending_restart = false;  // cleared by a start, as PostgreSQL's own
  std::int64_t server_version = 150004;
  int starts = 0;  // each start gives a new postmaster_start_time
  int reloads = 0;

  int fail_stop = 0;       // the next N stop() calls fail (PostgreSQL keeps running)
  int fail_demote = 0;
  int fail_rewind = 0;  // rewind_and_follow fails this many times, keeping the data as it is
  int fail_controldata = 0;
  int fail_checkpoint = 0;
  int slow_checkpoint = 0;  // the next N checkpoint() calls run out their whole timeout
  bool fail_bootstrap = false;
  // busy_client_sessions() answers these counts in turn, the last one from then on ({} → 0).
  std::vector<int> busy_sessions;
  bool fail_busy_sessions = false;
  int busy_session_polls = 0;
  int last_busy_count = -1;  // what the last poll answered

  std::function<bool()> may_be_writable;
  std::function<void(const std::string&)> on_call;  // called with each call's name, before it acts
  std::function<void()> on_probe;  // called at the start of each probe()
  std::vector<std::string> calls;
  std::vector<std::string> violations;

  bool writable() const { return running && !in_recovery; }

  PgStatus bootstrap(Millis) override {
    record("bootstrap");
    if (fail_bootstrap) return PgStatus::error("fake: initdb failed");
    data = running = true;
    in_recovery = standby_signal = false;
    check_writable("bootstrap");
    return PgStatus::success();
  }
  PgStatus start_primary(Millis) override {
    record("start_primary");
    if (running) return PgStatus::success("already running");
    started();
    in_recovery = standby_signal;  // a standby's data dir stays in recovery until promoted
    if (!in_recovery) check_writable("start_primary");
    return PgStatus::success();
  }
  PgStatus start_standby(Millis, std::optional<PgUpstream> upstream, bool in_sync) override {
    record("start_standby " + (upstream ? upstream->address() : std::string("-")) +
                    (in_sync ? " in_sync" : ""));
    if (running) return PgStatus::success("already running");
    if (!standby_signal && !in_sync) diverged_marker = true;
    started();
    standby_signal = in_recovery = true;
    following = upstream ? upstream->address() : "";
    return PgStatus::success();
  }
  PgStatus stop(StopMode mode, Millis) override {
    record(mode == StopMode::kFast ? "stop fast" : "stop immediate");
    if (fail_stop > 0) {
      --fail_stop;
      return PgStatus::error("fake: stop failed");
    }
    running = false;
    clean_shutdown = mode == StopMode::kFast;
    return PgStatus::success();
  }
  PgProbe probe(Millis) override {
    if (on_probe) on_probe();
    PgProbe p;
    p.data_dir_initialized = data;
    p.running = running;
    p.accepting = running;
    p.in_recovery = running && in_recovery;
    p.wal_position = running ? wal : 0;
    p.timeline = timeline;
    p.following = p.in_recovery ? following : "";
    p.streaming = p.in_recovery && !following.empty();
    p.pending_restart = running && pending_restart;
    p.server_version = server_version;
    if (running) p.postmaster_start_time = "start " + std::to_string(starts);
    return p;
  }
  PgStatus promote(Millis) override {
    record("promote");
    if (!running) return PgStatus::error("fake: not running");
    in_recovery = standby_signal = false;
    following.clear();
    ++timeline;
    check_writable("promote");
    return PgStatus::success();
  }
  PgStatus clone_from(const PgUpstream& up, Millis) override {
    record("clone_from " + up.address());
    data = standby_signal = true;
    diverged_marker = false;
    following = up.address();
    return PgStatus::success();
  }
  PgStatus follow(const PgUpstream& up, Millis) override {
    record("follow " + up.address());
    standby_signal = running = in_recovery = true;
    following = up.address();
    return PgStatus::success();
  }
  PgStatus demote(Millis) override {
    record("demote");
    if (fail_demote > 0) {
      --fail_demote;
      return PgStatus::error("fake: demote failed");
    }
    running = false;
    return PgStatus::success();
  }
  PgStatus rewind_and_follow(const PgUpstream& up, Millis) override {
    record("rewind_and_follow " + up.address());
    if (fail_rewind > 0) {
      --fail_rewind;
      return PgStatus::error("fake: pg_rewind failed; the data dir was kept");
    }
    diverged_marker = false;
    standby_signal = running = in_recovery = true;
    following = up.address();
    return PgStatus::success();
  }
  bool may_have_diverged() const override { return diverged_marker || (data && !standby_signal); }
  PgStatus checkpoint(Millis timeout) override {
    record("checkpoint");
    if (slow_checkpoint > 0) {
      --slow_checkpoint;
      std::this_thread::sleep_for(timeout);
      return PgStatus::error("fake: canceling statement due to statement timeout");
    }
    if (fail_checkpoint > 0) {
      --fail_checkpoint;
      return PgStatus::error("fake: checkpoint failed");
    }
    return PgStatus::success();
  }
  PgStatus shutdown_checkpoint_lsn(Millis, std::int64_t* lsn) override {
    record("controldata");
    if (running) return PgStatus::error("fake: still runs");
    if (!clean_shutdown) return PgStatus::error("fake: cluster state is 'in production'");
    if (fail_controldata > 0) {
      --fail_controldata;
      return PgStatus::error("fake: not shut down cleanly");
    }
    *lsn = wal;
    return PgStatus::success(format_lsn(wal));
  }
  PgStatus busy_client_sessions(Millis, Millis, int* count) override {
    // Consecutive polls are one entry: a poll every few ms would drown the sequence.
    if (calls.empty() || calls.back() != "sessions") record("sessions");
    ++busy_session_polls;
    if (!running) return PgStatus::error("fake: not running");
    if (fail_busy_sessions) return PgStatus::error("fake: pg_stat_activity unreadable");
    const std::size_t next = static_cast<std::size_t>(busy_session_polls - 1);
    *count = busy_sessions.empty() ? 0 : busy_sessions[std::min(next, busy_sessions.size() - 1)];
    last_busy_count = *count;
    return PgStatus::success();
  }
  PgStatus set_synchronous_standby_names(const std::string& value, Millis) override {
    record("synchronous_standby_names '" + value + "'");
    standby_names = value;
    return PgStatus::success();
  }
  // pg_stat_replication as the leader's synchronous replication reads it: the rows of
  // `replication`, each with the leader's flush position `wal`.
  PgStatus execute(const std::string& sql, Millis, PgRows* rows) override {
    if (rows == nullptr || sql.find("pg_current_wal_flush_lsn") == std::string::npos) return PgStatus::success();
    for (const Replica& r : replication) {
      rows->push_back({r.name, std::string(r.streaming ? "streaming" : "catchup"), r.sync_state, format_lsn(r.flush),
                       format_lsn(wal)});
    }
    if (replication.empty()) rows->push_back({std::nullopt, std::nullopt, std::nullopt, std::nullopt, format_lsn(wal)});
    return PgStatus::success();
  }
  PgStatus apply_parameters(const std::map<std::string, std::string>& parameters, bool synchronous_mode,
                            Millis) override {
    std::string text;
    for (const auto& [name, value] : parameters) text += (text.empty() ? "" : ",") + name + "=" + value;
    record("apply_parameters " + text + (synchronous_mode ? " sync" : ""));
    applied_parameters = parameters;
    if (!synchronous_mode) standby_names.clear();
    return PgStatus::success();
  }
  std::map<std::string, std::string> applied_parameters;

  struct Replica {
    std::string name;
    bool streaming = true;
    std::string sync_state = "async";
    std::int64_t flush = 0;
  };
  std::vector<Replica> replication;
  std::string standby_names;

  PgStatus reload_config(Millis) override {
    record("reload_config");
    ++reloads;
    return PgStatus::success(running ? "reloaded" : "rewritten");
  }
  // A crash: PostgreSQL is gone; a primary's data dir has no standby.signal.
  void crash() { running = clean_shutdown = false; }

 private:
  void started() {
    running = true;
    pending_restart = false;
    ++starts;
  }
  void record(const std::string& call) {
    calls.push_back(call);
    if (on_call) on_call(call);
  }
  void check_writable(const std::string& how) {
    if (may_be_writable && !may_be_writable()) violations.push_back(how + " made PostgreSQL writable without the lock");
  }
};

class FakePeers final : public PeerClient {
 public:
  PeerApiState api{true, "", "running", "replica", false};
  std::int64_t received = 0;
  // Each received_lsn() call returns `received`, then adds `received_step` (catching up).
  std::int64_t received_step = 0;
  bool fail_received = false;
  bool new_leader_answers = true;

  PeerApiState api_state(const MemberStatus&, Millis) override {
    std::lock_guard lock(mutex_);
    return api;
  }
  PgStatus received_lsn(const MemberStatus&, Millis, std::int64_t* lsn) override {
    std::lock_guard lock(mutex_);
    ++received_polls;
    if (fail_received) return PgStatus::error("fake: candidate down");
    *lsn = received;
    received += received_step;
    return PgStatus::success();
  }
  bool answers_primary(const MemberStatus&, Millis) override {
    std::lock_guard lock(mutex_);
    return new_leader_answers;
  }
  SwitchoverResult forward_switchover(const MemberStatus& member, const SwitchoverRequest&, bool, Millis) override {
    std::lock_guard lock(mutex_);
    forwarded_to = member.name;
    return {200, "forwarded"};
  }
  // POST /failsafe: the answer set for the api_url (default: no answer), recorded.
  FailsafeAnswer confirm_failsafe(const std::string& api_url, const FailsafeBody& body, Millis) override {
    std::lock_guard lock(mutex_);
    failsafe_asked.push_back(api_url + " by " + body.name);
    const auto it = failsafe_answers.find(api_url);
    return it != failsafe_answers.end() ? it->second : FailsafeAnswer{503, "fake: no answer"};
  }

  int received_polls = 0;
  std::string forwarded_to;
  std::map<std::string, FailsafeAnswer> failsafe_answers;  // by api_url; set before the loop runs
  std::vector<std::string> failsafe_asked;
  std::size_t failsafe_asks() {
    std::lock_guard lock(mutex_);
    return failsafe_asked.size();
  }

 private:
  std::mutex mutex_;
};

}  // namespace pgha::election::test
