#include "election/ha_loop.h"

#include <sys/stat.h>

#include <thread>

#include "election/log.h"

namespace pgha::election {

using namespace std::chrono_literals;
using Millis = std::chrono::milliseconds;

namespace {

// Bounds of the PostgreSQL operations (the HA thread waits for them; the REST API keeps
// answering from the last snapshot meanwhile).
constexpr Millis kProbeTimeout = 3s;
constexpr Millis kStartTimeout = 120s;
constexpr Millis kStopTimeout = 60s;
constexpr Millis kPromoteTimeout = 60s;
constexpr Millis kCloneTimeout = 900s;
constexpr Millis kBootstrapTimeout = 300s;
constexpr Millis kSwitchoverWait = 60s;

bool file_exists(const std::string& path) {
  struct stat st {};
  return ::stat(path.c_str(), &st) == 0;
}

std::int64_t unix_now() {
  return std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch()).count();
}

std::string address_or(const std::string& preferred, const std::string& fallback) {
  std::string a = preferred.empty() ? fallback : preferred;
  // A wildcard listen address is not something others can connect to.
  if (a.rfind("0.0.0.0:", 0) == 0) a = "127.0.0.1:" + a.substr(8);
  if (a.rfind("*:", 0) == 0) a = "127.0.0.1:" + a.substr(2);
  return a;
}

}  // namespace

HaLoop::HaLoop(const AgentConfig& config, EtcdClient& etcd, PostgresControl& postgres, FenceWatchdog* watchdog)
    : config_(config), etcd_(etcd), postgres_(postgres), watchdog_(watchdog), keys_(config.namespace_, config.scope) {
  settings_.ttl = config.ttl;
  settings_.loop_wait = config.loop_wait;
  settings_.retry_timeout = config.retry_timeout;
  settings_.maximum_lag_on_failover = config.maximum_lag_on_failover;
  conn_url_ = "postgres://" + address_or(config.pg_connect_address, config.pg_listen) + "/postgres";
  api_url_ = "http://" + address_or(config.rest_connect_address, config.rest_listen) + "/patroni";
}

HaLoop::~HaLoop() { stop(); }

void HaLoop::stop() {
  stopping_ = true;
  wake();
}

void HaLoop::wake() {
  {
    std::lock_guard lock(mutex_);
    woken_ = true;
  }
  cv_.notify_all();
}

void HaLoop::sleep_until_next_iteration(Millis delay) {
  std::unique_lock lock(mutex_);
  cv_.wait_for(lock, delay, [this] { return woken_ || stopping_.load(); });
  woken_ = false;
}

NodeStatusPtr HaLoop::status() const {
  std::lock_guard lock(mutex_);
  return status_;
}

void HaLoop::run() {
  log().info("{}: HA loop starting (scope {}, ttl {}s, loop_wait {}s, retry_timeout {}ms)", config_.name, config_.scope,
             config_.ttl.count(), config_.loop_wait.count(), config_.retry_timeout.count());
  // Any change under the scope (a leader key deleted or expired, a member, a switchover
  // request) wakes the loop at once.
  watch_ = etcd_.watch(keys_.prefix(), 0, [this](const WatchResponse&) { wake(); });
  while (!stopping_) {
    try {
      iteration();
    } catch (const std::exception& e) {
      log().error("{}: HA iteration failed: {}", config_.name, e.what());
    }
    if (stopping_) break;
    Millis delay = settings_.loop_wait;
    if (doubt_since_) delay = std::min<Millis>(1s, settings_.retry_timeout / 4);
    if (immediate_) delay = 0ms;
    immediate_ = false;
    sleep_until_next_iteration(delay);
  }
  watch_.reset();
  // Step down so that the others do not have to wait for our lease to expire.
  log().info("{}: stopping: {}stopping PostgreSQL", config_.name, holds_lock_ ? "releasing the leader lock, " : "");
  postgres_.stop(PostgresControl::StopMode::kFast, kStopTimeout);
  if (holds_lock_) release_lock();
  if (lease_id_ != 0) etcd_.lease_revoke(lease_id_);
  lease_id_ = 0;
  if (watchdog_) watchdog_->disarm();
}

bool HaLoop::keep_lease_alive() {
  const auto now = Clock::now();
  for (int attempt = 0; attempt < 2; ++attempt) {
    if (lease_id_ == 0) {
      auto grant = etcd_.lease_grant(std::chrono::duration_cast<std::chrono::seconds>(settings_.ttl));
      if (!grant.ok()) break;
      lease_id_ = grant.value().id;
      last_refresh_ = now;
      doubt_since_.reset();
      return true;
    }
    auto ttl_left = etcd_.lease_keepalive(lease_id_);
    if (!ttl_left.ok()) break;
    if (ttl_left.value() > 0) {
      last_refresh_ = now;
      doubt_since_.reset();
      return true;
    }
    // The lease expired (we were cut off for longer than ttl): whatever it held is gone.
    log().warn("{}: lease {:x} expired; the leader key and member key it held are gone", config_.name, lease_id_);
    lease_id_ = 0;
    holds_lock_ = false;
  }
  if (!doubt_since_) doubt_since_ = now;
  return false;
}

std::optional<PgUpstream> HaLoop::upstream_of(const ClusterView& view, const std::string& member) const {
  for (const MemberStatus& m : view.members) {
    if (m.name == member) return PgUpstream::parse(host_port_of_conn_url(m.conn_url));
  }
  return std::nullopt;
}

bool HaLoop::take_lock() {
  if (lease_id_ == 0) return false;
  auto created = etcd_.create_if_absent(keys_.leader(), config_.name, lease_id_);
  if (!created.ok()) {
    log().info("{}: did not get the leader lock: {}", config_.name, created.status().message());
    return false;
  }
  holds_lock_ = true;
  update_watchdog();  // armed before PostgreSQL can become writable
  log().warn("{}: acquired the leader lock", config_.name);
  return true;
}

void HaLoop::release_lock() {
  auto deleted = etcd_.delete_if_value(keys_.leader(), config_.name);
  holds_lock_ = false;
  if (deleted.ok()) log().warn("{}: released the leader lock", config_.name);
}

void HaLoop::iteration() {
  const auto now = Clock::now();
  keep_lease_alive();
  ClusterView view;
  KeyValue leader_kv;
  auto range = etcd_.range_prefix(keys_.prefix());
  if (range.ok()) {
    view = decode_cluster(keys_, range.value(), &leader_kv);
    holds_lock_ = lease_id_ != 0 && view.leader == config_.name && leader_kv.lease == lease_id_;
  } else {
    view.dcs_reachable = false;  // keep believing what we last knew; the doubt clock runs
    if (!doubt_since_) doubt_since_ = now;
  }

  PgProbe probe = postgres_.probe(kProbeTimeout);
  if (probe.running && !probe.accepting) {
    // PostgreSQL runs but did not answer (starting, shutting down, overloaded): its role is
    // unknown, and acting on a guess could rewind a healthy replica or promote a stale one.
    // Keep the lease alive and the status published; decide again next time.
    log().info("{}: PostgreSQL is running but not answering ({}): waiting", config_.name, probe.error);
    update_watchdog();
    LocalState unknown;
    unknown.name = config_.name;
    publish(view, unknown, probe, Decision{Action::kNothing, "", "PostgreSQL not answering: " + probe.error});
    return;
  }
  LocalState local;
  local.name = config_.name;
  local.nofailover = config_.nofailover;
  probe.apply_to(local, view.members);
  local.holds_lock = holds_lock_;
  // Fencing counts from the last refresh that succeeded, not from the first that failed: time
  // spent blocked in etcd calls counts too, because the lease runs out regardless. As in
  // Patroni, a leader gets loop_wait (the normal refresh period) plus retry_timeout of retries;
  // loop_wait + 2 * retry_timeout <= ttl keeps that well inside the lease.
  local.since_last_refresh =
      doubt_since_ ? std::max(0ms, std::chrono::duration_cast<Millis>(Clock::now() - last_refresh_) - settings_.loop_wait)
                   : 0ms;

  Decision decision = decide(view, local, settings_);
  // A replica of the right leader whose WAL receiver does not stream (e.g. it replayed past the
  // new leader's fork point: "new timeline forked off ... before current recovery point") cannot
  // recover by itself: rewind it once it has been stuck for a few loops.
  const bool stuck = decision.action == Action::kNothing && local.postgres_running && local.in_recovery && view.leader &&
                     *view.leader != config_.name && !probe.streaming;
  if (!stuck) {
    not_streaming_since_.reset();
  } else if (!not_streaming_since_) {
    not_streaming_since_ = now;
  } else if (now - *not_streaming_since_ > 3 * settings_.loop_wait + 5s) {
    decision = Decision{Action::kRewindAndFollow, *view.leader,
                        "not streaming from leader " + *view.leader + " for a while: rewinding"};
    not_streaming_since_.reset();
  }
  if (decision.action != Action::kNothing && decision.action != Action::kRefreshLock) {
    log().info("{}: {} {} ({})", config_.name, action_name(decision.action), decision.target, decision.reason);
  }
  act(decision, view, local);
  update_watchdog();
  publish(view, local, probe, decision);
}

void HaLoop::update_watchdog() {
  if (!watchdog_) return;
  if (!holds_lock_) {
    watchdog_->disarm();
    return;
  }
  // Our lease lasts at least ttl from the moment we sent the last successful keepalive
  // (last_refresh_ is taken before the call). Fence a margin before that, so PostgreSQL is down
  // before anyone else can be promoted, even if this agent is frozen from now on.
  const Millis margin = std::min<Millis>(1000ms, settings_.ttl / 4);
  watchdog_->arm(last_refresh_ + settings_.ttl - margin);
}

void HaLoop::act(const Decision& d, const ClusterView& view, const LocalState& local) {
  // A node that was a primary (running out of recovery, or stopped without standby.signal) must
  // be rewound before it can follow anyone: its WAL may have diverged from the new leader's.
  const bool former_primary = local.postgres_running ? !local.in_recovery
                                                     : local.data_dir_initialized &&
                                                           !file_exists(config_.data_dir + "/standby.signal");
  auto rejoin = [&](const PgUpstream& up) {
    PgStatus s = former_primary ? postgres_.rewind_and_follow(up, kCloneTimeout) : postgres_.follow(up, kStartTimeout);
    if (!s.ok()) log().error("{}: rejoining {} failed: {}", config_.name, up.address(), s.message());
    else log().warn("{}: following {} {}", config_.name, up.address(), s.message());
  };
  switch (d.action) {
    case Action::kRaceToInitialize:
    case Action::kBootstrap: {
      auto won = etcd_.create_if_absent(keys_.initialize(), config_.scope);
      if (!won.ok()) return;  // another member bootstraps; we clone from it later
      log().warn("{}: won the initialize race: bootstrapping a new cluster", config_.name);
      PgStatus s = postgres_.bootstrap(kBootstrapTimeout);
      if (!s.ok()) {
        log().error("{}: bootstrap failed: {}", config_.name, s.message());
        etcd_.delete_key(keys_.initialize());  // let someone else (or us, later) try again
        return;
      }
      take_lock();
      immediate_ = true;
      return;
    }
    case Action::kCloneFromLeader: {
      auto up = upstream_of(view, d.target);
      if (!up) return;
      PgStatus s = postgres_.clone_from(*up, kCloneTimeout);
      if (s.ok()) s = postgres_.start(kStartTimeout, up);
      if (!s.ok()) log().error("{}: cloning from {} failed: {}", config_.name, d.target, s.message());
      immediate_ = true;
      return;
    }
    case Action::kStartPostgres: {
      PgStatus s;
      if (d.target.empty() || d.target == config_.name) {
        s = postgres_.start(kStartTimeout);
      } else if (auto up = upstream_of(view, d.target)) {
        if (former_primary) {
          rejoin(*up);
          immediate_ = true;
          return;
        }
        s = postgres_.start(kStartTimeout, up);
      } else {
        return;
      }
      if (!s.ok()) log().error("{}: starting PostgreSQL failed: {}", config_.name, s.message());
      immediate_ = true;
      return;
    }
    case Action::kAcquireLock:
      if (take_lock()) {
        if (view.failover) etcd_.delete_key(keys_.failover());  // the request is being honoured
        immediate_ = true;
      }
      return;
    case Action::kPromote: {
      PgStatus s = postgres_.promote(kPromoteTimeout);
      if (!s.ok()) log().error("{}: promote failed: {}", config_.name, s.message());
      else log().warn("{}: promoted to primary", config_.name);
      immediate_ = true;
      return;
    }
    case Action::kRefreshLock:
      // The lease keepalive at the top of the iteration refreshed the lock; publish the leader's
      // WAL position so that candidates can judge their lag after we are gone.
      etcd_.put(keys_.status(), encode_leader_optime(local.wal_position));
      return;
    case Action::kDemote: {
      log().warn("{}: fencing: demoting ({})", config_.name, d.reason);
      PgStatus s = postgres_.demote(settings_.retry_timeout);
      if (!s.ok()) log().error("{}: demote failed: {}", config_.name, s.message());
      if (holds_lock_ && view.dcs_reachable) release_lock();
      holds_lock_ = false;
      return;
    }
    case Action::kFollowLeader:
    case Action::kRewindAndFollow: {
      auto up = upstream_of(view, d.target);
      if (!up) return;
      if (d.action == Action::kRewindAndFollow) {
        PgStatus s = postgres_.rewind_and_follow(*up, kCloneTimeout);
        if (!s.ok()) log().error("{}: rewind from {} failed: {}", config_.name, d.target, s.message());
      } else {
        rejoin(*up);
      }
      // No immediate re-run: the WAL receiver needs a moment to connect, and re-deciding at once
      // would reload again in a tight loop.
      return;
    }
    case Action::kReleaseLock: {
      log().warn("{}: stepping down ({})", config_.name, d.reason);
      postgres_.stop(PostgresControl::StopMode::kFast, kStopTimeout);
      release_lock();
      immediate_ = true;
      return;
    }
    case Action::kWaitForLeader:
    case Action::kNothing:
      return;
  }
}

void HaLoop::publish(const ClusterView& view, const LocalState& local, const PgProbe& probe, const Decision& decision) {
  auto status = std::make_shared<NodeStatus>();
  NodeStatus& s = *status;
  s.scope = config_.scope;
  s.name = config_.name;
  s.api_url = api_url_;
  s.conn_url = conn_url_;
  s.postgres_running = probe.running && probe.accepting;
  s.in_recovery = probe.in_recovery;
  s.state = s.postgres_running ? "running" : probe.running ? "starting" : "stopped";
  s.timeline = probe.timeline;
  s.wal_position = probe.wal_position;
  if (probe.in_recovery) s.received_location = s.replayed_location = probe.wal_position;
  s.following = local.following;
  s.holds_lock = holds_lock_;
  s.lock_in_doubt = doubt_since_.has_value();
  s.dcs_reachable = view.dcs_reachable;
  s.dcs_last_seen_unix = view.dcs_reachable ? unix_now() : (status_ ? status_->dcs_last_seen_unix : 0);
  s.leader = view.leader;
  s.cluster = view;
  s.nofailover = config_.nofailover;
  s.noloadbalance = config_.noloadbalance;
  s.last_action = std::string(action_name(decision.action)) + ": " + decision.reason;
  s.loop_heartbeat = Clock::now();
  s.leader_wal_position = view.last_leader_wal_position;
  for (const MemberStatus& m : view.members) {
    if (view.leader && m.name == *view.leader && m.wal_position > s.leader_wal_position) {
      s.leader_wal_position = m.wal_position;
    }
  }
  if (s.is_primary()) {
    PgRows rows;
    if (postgres_.execute("SELECT usename, application_name, coalesce(client_addr::text, ''), state, sync_state, "
                          "sync_priority FROM pg_stat_replication",
                          kProbeTimeout, &rows)
            .ok()) {
      for (const PgRow& r : rows) {
        if (r.size() < 6) continue;
        s.replication.push_back({r[0].value_or(""), r[1].value_or(""), r[2].value_or(""), r[3].value_or(""),
                                 r[4].value_or(""), std::atoi(r[5].value_or("0").c_str())});
      }
    }
  }

  if (view.dcs_reachable && lease_id_ != 0) {
    MemberStatus me;
    me.name = config_.name;
    me.role = s.is_primary() ? "primary" : s.postgres_running ? "replica" : "uninitialized";
    me.state = s.state == "running" && s.in_recovery && probe.streaming ? "streaming" : s.state;
    me.conn_url = conn_url_;
    me.api_url = api_url_;
    me.wal_position = s.wal_position;
    me.timeline = s.timeline;
    me.nofailover = config_.nofailover;
    etcd_.put(keys_.member(config_.name), encode_member(me), lease_id_);
  }
  std::lock_guard lock(mutex_);
  status_ = std::move(status);
}

SwitchoverResult HaLoop::request_switchover(const SwitchoverRequest& request, bool failover) {
  NodeStatusPtr now = status();
  if (!now || !now->dcs_reachable) return {503, "the cluster view is not available (etcd unreachable)"};
  const ClusterView& view = now->cluster;
  if (!failover) {
    if (!view.leader) return {412, "no leader: use failover"};
    if (!request.leader.empty() && request.leader != *view.leader) {
      return {412, "leader name does not match: the leader is " + *view.leader};
    }
  } else if (request.candidate.empty()) {
    return {400, "failover requires a candidate"};
  }
  if (!request.candidate.empty()) {
    bool found = false;
    for (const MemberStatus& m : view.members) found = found || (m.name == request.candidate && !m.nofailover);
    if (!found) return {412, "candidate " + request.candidate + " is not an eligible member"};
    if (view.leader && request.candidate == *view.leader) return {412, "candidate is already the leader"};
  }
  if (request.scheduled_at) return {501, "scheduled switchovers are not supported"};
  FailoverRequest key{failover ? "" : view.leader.value_or(""), request.candidate};
  auto put = etcd_.put(keys_.failover(), encode_failover(key));
  if (!put.ok()) return {503, "could not write the switchover request: " + put.status().message()};
  const std::string old_leader = view.leader.value_or("");
  const auto deadline = Clock::now() + kSwitchoverWait;
  while (Clock::now() < deadline) {
    NodeStatusPtr s = status();
    if (s && s->leader && *s->leader != old_leader && (request.candidate.empty() || *s->leader == request.candidate)) {
      return {200, "Successfully " + std::string(failover ? "failed over" : "switched over") + " to \"" + *s->leader + "\""};
    }
    std::this_thread::sleep_for(100ms);  // a REST worker thread polling our own snapshot
  }
  etcd_.delete_key(keys_.failover());
  return {503, "switchover did not complete within " + std::to_string(kSwitchoverWait.count() / 1000) + " s"};
}

}  // namespace pgha::election
