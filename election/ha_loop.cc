#include "election/ha_loop.h"

#include <algorithm>
#include <cstdio>
#include <future>
#include <thread>
#include <vector>

#include "election/ha_loop_bounds.h"
#include "election/iso8601.h"
#include "election/log.h"
#include "election/replication_slots.h"
#include "election/timeline_history.h"
#include "printable/printable_excerpt.h"

namespace pgha::election {

using namespace std::chrono_literals;
using Millis = std::chrono::milliseconds;

using namespace ha_loop_bounds;

namespace {

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

// A configured grace as written: "2.0 s", "0.15 s".
std::string grace_text(Millis grace) { return seconds_text(grace, grace.count() % 100 == 0 ? 1 : 2); }

std::string sessions_text(int count) { return std::to_string(count) + (count == 1 ? " session" : " sessions"); }

// The hooks of a loop that was given none: nothing to run, the events only tracked.
std::unique_ptr<PostgresCallbacks> hooks_unless(PostgresCallbacks* given, const AgentConfig& config) {
  if (given != nullptr) return nullptr;
  if (!config.callbacks.empty() || !config.pre_promote.empty() || !config.before_stop.empty()) {
    log().warn("{}: callbacks, pre_promote and before_stop are configured but will not run", config.name);
  }
  AgentConfig none;
  none.scope = config.scope;
  return std::make_unique<PostgresCallbacks>(none, PostgresCallbacksOptions{});
}

}  // namespace

HaLoop::HaLoop(const AgentConfig& config, Dcs& dcs, LocalPostgres& postgres, PeerClient& peers,
               FenceWatchdog* watchdog, SwitchoverTimings timings, PostgresCallbacks* callbacks)
    : config_(config),
      dcs_(dcs),
      postgres_(postgres),
      peers_(peers),
      watchdog_(watchdog),
      timings_(timings),
      no_callbacks_(hooks_unless(callbacks, config)),
      callbacks_(callbacks != nullptr ? callbacks : no_callbacks_.get()),
      keys_(config.namespace_, config.scope),
      slots_(config.member_slots_ttl, config.permanent_slots) {
  settings_.ttl = config.ttl;
  settings_.loop_wait = config.loop_wait;
  settings_.retry_timeout = config.retry_timeout;
  settings_.maximum_lag_on_failover = config.maximum_lag_on_failover;
  settings_.synchronous_mode = config.synchronous_mode;
  local_dynamic_ = local_dynamic_settings(config);
  if (config.synchronous_mode) start_synchronous_replication(local_dynamic_);
  dynamic_ = local_dynamic_;
  held_lease_ttl_ = settings_.ttl;
  applied_parameters_ = config.parameters;
  applied_sync_file_ = config.synchronous_mode;
  conn_url_ = "postgres://" + address_or(config.pg_connect_address, config.pg_listen) + "/postgres";
  // As Patroni does: the scheme others must use, https when the API has a certificate.
  api_url_ = (config.rest_tls.certfile.empty() ? "http://" : "https://") +
             address_or(config.rest_connect_address, config.rest_listen) + "/patroni";
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
  log().info("{}: HA loop starting (scope {}, ttl {}s, loop_wait {}ms, retry_timeout {}ms)", config_.name,
             config_.scope, config_.ttl.count(), config_.loop_wait.count(), config_.retry_timeout.count());
  // Any change under the scope (a leader key deleted or expired, a member, a switchover
  // request) wakes the loop at once.
  watch_ = dcs_.watch(keys_.prefix(), [this](const WatchResponse&) { wake(); });
  while (!stopping_) {
    const Millis delay = step();
    if (stopping_) break;
    sleep_until_next_iteration(delay);
  }
  watch_.reset();
  step_down_on_exit();
  // The stop's callback (a virtual IP let go...) gets a bounded moment to finish.
  if (!callbacks_->wait_idle(std::min<Millis>(config_.callback_timeout, settings_.ttl))) {
    log().warn("{}: exiting with a callback still running: it is killed", config_.name);
  }
}

HaLoop::Clock::duration HaLoop::iteration_running_for() const {
  const Clock::rep began = iteration_began_.load();
  if (began == 0) return Clock::duration::zero();
  return std::max(Clock::duration::zero(), Clock::now() - Clock::time_point(Clock::duration(began)));
}

Millis HaLoop::step() {
  iteration_began_ = std::max<Clock::rep>(1, Clock::now().time_since_epoch().count());
  const std::uint64_t number = ++iterations_begun_;
  carried_out_.reset();
  try {
    iteration();
  } catch (const std::exception& e) {
    log().error("{}: HA iteration failed: {}", config_.name, e.what());
    carried_out_.reset();
  }
  iteration_began_ = 0;
  if (iteration_observer_) iteration_observer_(number, carried_out_ ? &*carried_out_ : nullptr);
  Millis delay = settings_.loop_wait;
  if (doubt_since_) delay = std::min<Millis>(1s, settings_.retry_timeout / 4);
  delay = std::min(delay, until_scheduled_restart());
  if (scheduled_wake_) {
    delay = std::min(delay, std::max(0ms, std::chrono::duration_cast<Millis>(*scheduled_wake_ - Clock::now())));
  }
  if (immediate_) delay = 0ms;
  immediate_ = false;
  return delay;
}

void HaLoop::step_down_on_exit() {
  log().info("{}: stopping: {}stopping PostgreSQL", config_.name, holds_lock_ ? "releasing the leader lock, " : "");
  const NodeStatusPtr last = status();
  const bool was_running = last && last->state != "stopped";  // as the last iteration saw it
  if (was_running && callbacks_->has_before_stop()) {
    if (holds_lock_) (void)keep_lease_alive();  // the hook's deadline counts from a fresh refresh
    callbacks_->before_stop(hook_timeout());
  }
  PgStatus stopped = postgres_.stop(LocalPostgres::StopMode::kFast, kStopTimeout);
  if (!stopped.ok()) {
    log().error("{}: stopping PostgreSQL failed ({}): stopping it immediately", config_.name, stopped.message());
    stopped = postgres_.demote(settings_.retry_timeout);
  }
  if (!stopped.ok()) {
    // It may still accept writes: releasing the lock now could make a second primary. Keep the
    // key and the lease (they expire after ttl) and leave the watchdog armed, so that it fences
    // PostgreSQL when this process exits.
    log().critical("{}: PostgreSQL could not be stopped ({}): keeping the leader lock until the lease expires",
                   config_.name, stopped.message());
    return;
  }
  if (was_running) callbacks_->stopped();
  if (holds_lock_ && !release_lock()) {
    log().warn("{}: the leader key will go when the lease expires or is revoked", config_.name);
  }
  retire_replaced_lease();
  if (lease_id_ != 0) {
    if (EtcdStatus revoked = dcs_.revoke_lease(lease_id_); !revoked.ok()) {
      log().warn("{}: revoking lease {:x} failed: {} (it expires after ttl)", config_.name, lease_id_,
                 revoked.to_string());
    }
  }
  lease_id_ = 0;
  // A watchdog that cannot be told has gone already; either way nothing is left to fence.
  if (watchdog_) (void)watchdog_->disarm();
}

bool HaLoop::keep_lease_alive() {
  const auto now = Clock::now();
  for (int attempt = 0; attempt < 2; ++attempt) {
    if (lease_id_ == 0) {
      const auto ttl = std::chrono::duration_cast<std::chrono::seconds>(settings_.ttl);
      auto grant = dcs_.grant_lease(ttl);
      if (!grant.ok()) break;
      lease_id_ = grant.value().id;
      held_lease_ttl_ = ttl;
      if (grant.value().ttl != ttl.count() && !warned_granted_ttl_) {
        // etcd grants at least 1.5 x its election timeout (rounded up to whole seconds): a longer
        // lease keeps fencing safe (it is timed from ttl) but delays every failover.
        warned_granted_ttl_ = true;
        log().warn("{}: etcd granted lease {:x} a TTL of {} s, not the ttl of {} s asked for: a lost leader is "
                   "replaced only after {} s (etcd's shortest lease is 1.5 x its election timeout)",
                   config_.name, lease_id_, grant.value().ttl, ttl.count(), grant.value().ttl);
      }
      last_refresh_ = now;
      doubt_since_.reset();
      return true;
    }
    // The dynamic configuration changed ttl: a lease of the new ttl (ha_loop_dynamic_config.cc).
    if (held_lease_ttl_ != settings_.ttl && renew_lease_for_new_ttl()) return true;
    auto ttl_left = dcs_.keep_lease_alive(lease_id_);
    if (!ttl_left.ok()) break;
    if (ttl_left.value() > 0) {
      if (doubt_since_) {
        // How close the doubt came to fencing: the margin of the timing settings, in the log.
        log().info("{}: lease refreshed again {} ms after the previous refresh (a leader fences after {} ms)",
                   config_.name, std::chrono::duration_cast<Millis>(now - last_refresh_).count(),
                   (settings_.loop_wait + settings_.retry_timeout).count());
      }
      last_refresh_ = now;
      doubt_since_.reset();
      extend_published_lock();
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
  if (const MemberStatus* m = find_member(view, member)) return PgUpstream::parse(host_port_of_conn_url(m->conn_url));
  return std::nullopt;
}

bool HaLoop::take_lock() {
  if (lease_id_ == 0) return false;
  auto created = dcs_.create_if_absent(keys_.leader(), config_.name, lease_id_);
  if (!created.ok()) {
    // A timed-out create may still have been applied: the next iteration's read tells.
    log().info("{}: did not get the leader lock: {}", config_.name, created.status().message());
    return false;
  }
  holds_lock_ = true;
  update_watchdog();  // armed before PostgreSQL can become writable
  log().warn("{}: acquired the leader lock", config_.name);
  return true;
}

bool HaLoop::release_lock() {
  auto deleted = dcs_.delete_if_value(keys_.leader(), config_.name);
  if (deleted.ok() || deleted.status().code() == EtcdStatus::Code::kTxnFailed) {
    // kTxnFailed: the key is gone or names someone else; either way we do not hold it.
    holds_lock_ = false;
    if (promotion_refused_at_) promotion_refused_at_ = Clock::now();  // the backoff counts from here
    log().warn("{}: released the leader lock", config_.name);
    return true;
  }
  // Unknown: the delete may or may not have been applied. The next iteration's read tells.
  log().error("{}: releasing the leader lock failed: {}", config_.name, deleted.status().to_string());
  return false;
}

Millis HaLoop::hook_timeout() const {
  Millis timeout = settings_.retry_timeout;
  if (holds_lock_) {
    timeout = std::min(timeout, std::chrono::duration_cast<Millis>(fencing_deadline() - Clock::now()) / 2);
  }
  return std::max(timeout, 0ms);
}

bool HaLoop::promotion_refused() {
  if (!promotion_refused_at_) return false;
  if (holds_lock_ || Clock::now() - *promotion_refused_at_ < settings_.ttl) return true;
  log().info("{}: the backoff after pre_promote's refusal is over: campaigning again", config_.name);
  promotion_refused_at_.reset();
  return false;
}

bool HaLoop::pre_promote_allows() {
  if (!callbacks_->has_pre_promote()) return true;
  const Millis timeout = hook_timeout();
  if (timeout <= 0ms) return false;  // too close to the fencing deadline: decide again first
  const PgStatus verdict = callbacks_->pre_promote(timeout);
  if (!verdict.ok()) {
    log().error("{}: promotion cancelled because {}: releasing the leader lock and staying out of the leader race "
                "for ttl ({})",
                config_.name, verdict.message(), seconds_text(settings_.ttl));
    promotion_refused_at_ = Clock::now();
    // Not released (etcd did not answer): the next iteration tries again (decide() says
    // kReleaseLock while the refusal holds), and never promotes meanwhile.
    if (!release_lock()) immediate_ = true;
    return false;
  }
  log().info("{}: {}", config_.name, verdict.message());
  // The hook took time: promote only under a lease refreshed since, so that no one else can have
  // been elected meanwhile.
  if (!keep_lease_alive() || !holds_lock_) {
    log().warn("{}: not promoting: the leader lease could not be refreshed after pre_promote", config_.name);
    return false;
  }
  update_watchdog();
  return true;
}

bool HaLoop::delete_failover_request(const char* why) {
  EtcdStatus dropped = dcs_.delete_key(keys_.failover());
  if (!dropped.ok()) {
    log().warn("{}: could not delete the failover request ({}): {}", config_.name, why, dropped.to_string());
  }
  return dropped.ok();
}

void HaLoop::drop_failover_request(const char* why) {
  // A request left behind would be acted on again: retry at once.
  if (!delete_failover_request(why)) immediate_ = true;
}

void HaLoop::iteration() {
  const auto now = Clock::now();
  retire_replaced_lease();
  etcd_write_failed_ = false;
  bool skip_read = false;
  if (!keep_lease_alive()) {
    log().info("{}: lease refresh failed; the lock is in doubt", config_.name);
    // Failsafe mode: every etcd call that times out brings the fencing deadline closer, so ask the
    // members first, and do not wait for a read that would most likely time out too.
    if (failsafe_applies()) {
      (void)confirm_failsafe_round();
      skip_read = true;
    }
  }
  ClusterView view;
  KeyValue leader_kv;
  auto range = skip_read ? EtcdResult<RangeResponse>(EtcdStatus(EtcdStatus::Code::kUnavailable, "not read: etcd did not refresh the lease"))
                         : dcs_.range_prefix(keys_.prefix());
  if (range.ok()) {
    view = decode_cluster(keys_, range.value(), &leader_kv);
    hold_scheduled_switchover(view);
    if (view.unreadable != logged_unreadable_) {  // once per change, not every loop
      for (const std::string& key : view.unreadable) log().warn("{}: ignoring unreadable key {}", config_.name, key);
      logged_unreadable_ = view.unreadable;
    }
    holds_lock_ = lease_id_ != 0 && view.leader == config_.name && leader_kv.lease == lease_id_;
    apply_dynamic_config(range.value());
  } else {
    view.dcs_reachable = false;  // keep believing what we last knew; the doubt clock runs
    if (!doubt_since_) doubt_since_ = now;
  }
  if (initialize_key_stale_ && view.dcs_reachable) {
    if (EtcdStatus deleted = dcs_.delete_key(keys_.initialize()); deleted.ok()) initialize_key_stale_ = false;
  }

  PgProbe probe = postgres_.probe(kProbeTimeout);
  callbacks_->observed(probe);
  if (probe.running && !probe.accepting) {
    // PostgreSQL runs but did not answer (starting, shutting down, overloaded): its role is
    // unknown, and acting on a guess could rewind a healthy replica or promote a stale one.
    // Keep the lease alive and the status published; decide again next time.
    log().info("{}: PostgreSQL is running but not answering ({}): waiting", config_.name, probe.error);
    update_watchdog();
    LocalState unknown;
    unknown.name = config_.name;
    publish(view, unknown, probe, Decision{Action::kNothing, "", "PostgreSQL not answering: " + probe.error, {}});
    return;
  }
  LocalState local;
  local.name = config_.name;
  local.nofailover = config_.nofailover || watchdog_lost_;
  local.replicatefrom = config_.replicatefrom;
  local.failover_priority = config_.failover_priority;
  local.promotion_refused = promotion_refused();
  probe.apply_to(local, view.members);
  local.holds_lock = holds_lock_;
  if (view.dcs_reachable) {
    record_system_identifier(view, probe);
    record_history(view, probe);
    keep_replication_slots(view, probe);
    keep_failsafe_key(view);
  }
  if (view.failsafe_mode) {
    local.failsafe_leader = witness_.confirmed_leader(settings_.ttl).value_or("");
  }
  // For the REST threads, which must not read settings_ (the dynamic configuration changes it).
  witness_ttl_ms_ = Millis(settings_.ttl).count();
  loop_wait_ms_ = settings_.loop_wait.count();
  // Fencing counts from the last refresh that succeeded, not from the first that failed: time
  // spent blocked in etcd calls counts too, because the lease runs out regardless. As in
  // Patroni, a leader gets loop_wait (the normal refresh period) plus retry_timeout of retries;
  // loop_wait + 2 * retry_timeout <= ttl keeps that well inside the lease.
  // In failsafe mode a round of confirmations from every member counts as a refresh.
  local.since_last_refresh =
      doubt_since_ ? std::max(0ms, std::chrono::duration_cast<Millis>(Clock::now() - last_confirmed()) - settings_.loop_wait)
                   : 0ms;

  Decision decision = decide(view, local, settings_);
  // A replica of the right leader whose WAL receiver does not stream (e.g. it replayed past the
  // new leader's fork point: "new timeline forked off ... before current recovery point") cannot
  // recover by itself: rewind it once it has been stuck for a few loops.
  const bool stuck = !view.paused && decision.action == Action::kNothing && local.postgres_running && local.in_recovery && view.leader &&
                     *view.leader != config_.name && !probe.streaming;
  if (!stuck) {
    not_streaming_since_.reset();
  } else if (!not_streaming_since_) {
    not_streaming_since_ = now;
  } else if (now - *not_streaming_since_ > 3 * settings_.loop_wait + 5s) {
    decision = Decision{Action::kRewindAndFollow, *view.leader,
                        "not streaming from leader " + *view.leader + " for a while: rewinding", {}};
    not_streaming_since_.reset();
  }
  if (decision.action != Action::kNothing && decision.action != Action::kRefreshLock) {
    log().info("{}: {} {} ({})", config_.name, action_name(decision.action), decision.target, decision.reason);
  }
  if (!decision.refused_request.empty()) {
    log().warn("{}: {}", config_.name, decision.refused_request);
    drop_failover_request("refused");
    SwitchoverOutcome refused;
    refused.http_status = 412;
    refused.message = decision.refused_request;
    answer_request(refused);
  }
  if (holds_lock_ && Clock::now() >= fencing_deadline()) {
    // This iteration took so long (the agent was paused or starved between the lease refresh and
    // here) that the lease may have run out and another member may lead: what it read is stale
    // and acting on it could start or promote a second primary. The watchdog fences; decide
    // again from a fresh refresh.
    log().warn("{}: {} ms since the lease was last refreshed, past the fencing deadline: not acting on "
               "\"{}\" ({}); deciding again", config_.name,
               std::chrono::duration_cast<Millis>(Clock::now() - last_refresh_).count(),
               action_name(decision.action), decision.reason);
    decision = Decision{Action::kNothing, "", "the lease may have run out during this iteration", {}};
    immediate_ = true;
  }
  const bool campaigns = decision.action == Action::kAcquireLock || decision.action == Action::kRaceToInitialize;
  if (campaigns && !witness_.begin_campaign(settings_.ttl)) {
    // A leader that cannot reach etcd asked us to confirm it after this iteration read the
    // cluster: it stays primary on the strength of that, so we must not take over.
    decision = Decision{Action::kNothing, "", "failsafe mode: a leader was confirmed meanwhile: not campaigning", {}};
  }
  if (decision.action == Action::kAcquireLock) {
    if (std::string why = quorum_refuses(view, local); !why.empty()) {
      decision = Decision{Action::kNothing, "", "quorum commit: " + why + ": not campaigning", {}};
    }
  }
  carried_out_ = decision;
  if (run_planned_work(view, probe, decision)) return;
  // Armed (or disarmed) for what this iteration found before acting: a member that lost the lock
  // starts its PostgreSQL as a standby without the watchdog stopping it.
  update_watchdog();
  act(decision, view, local);
  update_watchdog();
  if (!holds_lock_ && !campaigns) witness_.stand_down();
  if (sync_) {
    if (decision.action == Action::kRefreshLock && holds_lock_ && view.dcs_reachable && local.postgres_running &&
        !local.in_recovery) {
      sync_->maintain(view);
    } else if (!holds_lock_) {
      sync_->reset();
    }
  }
  publish(view, local, probe, decision);
  if ((!view.dcs_reachable || etcd_write_failed_) && failsafe_applies() && !skip_read) {
    // etcd failed us during this iteration: a round now, so that the next one's timeouts do not
    // run past the fencing deadline before it asks.
    (void)confirm_failsafe_round();
    extend_published_lock();
  }
  if (checkpoint_after_promotion_ && holds_lock_ && local.postgres_running && !local.in_recovery) {
    // Once /primary answers 200 (published above): pg_rewind reads a source's timeline from its
    // control file, which shows the new timeline only after this checkpoint. Asked for with a
    // deadline of retry_timeout, so that the lease is refreshed in time; one that runs out goes
    // on in the checkpointer and is asked for again at the next iteration, as is a failure (it
    // only delays a former primary's rewind).
    checkpoint_after_promotion_ = false;
    if (PgStatus s = postgres_.checkpoint(settings_.retry_timeout); !s.ok()) {
      log().warn("{}: CHECKPOINT after promotion failed: {}", config_.name, s.message());
      checkpoint_after_promotion_ = true;
    }
  }
}

HaLoop::Clock::time_point HaLoop::fencing_deadline() const {
  // The lease actually held decides, not settings_.ttl: after a ttl change the leader key stays
  // on the old lease until it has moved onto one of the new ttl.
  const Millis margin = std::min<Millis>(1000ms, held_lease_ttl_ / 4);
  Clock::time_point deadline = last_refresh_ + held_lease_ttl_ - margin;
  if (failsafe_confirmed_at_) {
    // The members confirmed they hold back for their ttl: while it changes, count the shorter.
    const Millis ttl = std::min<Millis>(held_lease_ttl_, settings_.ttl);
    deadline = std::max(deadline, *failsafe_confirmed_at_ + ttl - std::min<Millis>(1000ms, ttl / 4));
  }
  return unsure_lease_ == 0 ? deadline : std::min(deadline, unsure_lease_fence_);
}

HaLoop::Clock::time_point HaLoop::last_confirmed() const {
  return failsafe_confirmed_at_ ? std::max(last_refresh_, *failsafe_confirmed_at_) : last_refresh_;
}

bool HaLoop::failsafe_applies() const {
  const NodeStatusPtr s = status();
  return failsafe_mode_ && holds_lock_ && s && s->postgres_running && !s->in_recovery;
}

bool HaLoop::failsafe_active() const {
  return holds_lock_ && doubt_since_ && failsafe_confirmed_at_ && *failsafe_confirmed_at_ > last_refresh_;
}

void HaLoop::keep_failsafe_key(const ClusterView& view) {
  failsafe_mode_ = view.failsafe_mode;
  failsafe_topology_ = view.failsafe.value_or(FailsafeTopology{});
  if (!holds_lock_) return;
  if (!view.failsafe_mode) {
    if (view.failsafe) {
      if (EtcdStatus deleted = dcs_.delete_key(keys_.failsafe()); !deleted.ok()) {
        log().warn("{}: deleting the /failsafe key failed: {}", config_.name, deleted.to_string());
      }
    }
    return;
  }
  FailsafeTopology members;
  for (const MemberStatus& m : view.members) members[m.name] = m.api_url;
  members[config_.name] = api_url_;
  if (view.failsafe == members) return;
  if (auto put = dcs_.put(keys_.failsafe(), encode_failsafe_topology(members), 0); !put.ok()) {
    log().warn("{}: writing the /failsafe key failed: {}", config_.name, put.status().to_string());
    return;
  }
  // A member may have read either version: a round asks everyone in both.
  failsafe_topology_.insert(members.begin(), members.end());
}

bool HaLoop::confirm_failsafe_round() {
  if (failsafe_topology_.count(config_.name) == 0) {
    failsafe_confirmed_at_.reset();
    // As Patroni: a leader missing from the key never wrote it, so the others may not know whom to
    // hold back for.
    if (failsafe_refusal_logged_ != "absent") {
      failsafe_refusal_logged_ = "absent";
      log().warn("{}: failsafe mode: we are not in the /failsafe key: not staying primary without etcd", config_.name);
    }
    return false;
  }
  const auto started = Clock::now();
  const Millis timeout = std::max<Millis>(100ms, std::min<Millis>(2000ms, settings_.retry_timeout / 2));
  const FailsafeBody body{config_.name, conn_url_, api_url_};
  std::vector<std::pair<std::string, std::future<FailsafeAnswer>>> calls;
  std::string refused;
  for (const auto& [name, api_url] : failsafe_topology_) {
    if (name == config_.name) continue;
    try {
      calls.emplace_back(name, std::async(std::launch::async, [this, url = api_url, &body, timeout] {
                           return peers_.confirm_failsafe(url, body, timeout);
                         }));
    } catch (const std::system_error& e) {
      refused += (refused.empty() ? "" : "; ") + name + ": no thread to ask it (" + e.what() + ")";
    }
  }
  for (auto& [name, call] : calls) {
    const FailsafeAnswer answer = call.get();
    if (answer.http_status == 200 && answer.message == "Accepted") continue;
    refused += (refused.empty() ? "" : "; ") + name + ": " + std::to_string(answer.http_status) + " " +
               printable_excerpt(answer.message, 200);
  }
  if (!refused.empty()) {
    // Whatever an earlier round confirmed no longer holds (a member may even run a primary now):
    // fencing counts from the last lease refresh again, and /primary stops answering 200.
    failsafe_confirmed_at_.reset();
    if (failsafe_refusal_logged_ != refused) {
      failsafe_refusal_logged_ = refused;
      log().error("{}: failsafe mode: not every member confirmed us ({}): fencing as without failsafe mode",
                  config_.name, refused);
    }
    return false;
  }
  if (!failsafe_active()) {
    log().warn("{}: failsafe mode: etcd unreachable, but all {} other members confirmed us: staying primary",
               config_.name, calls.size());
  }
  failsafe_refusal_logged_.clear();
  failsafe_confirmed_at_ = started;
  extend_published_lock();
  // The fencing deadline moved with the confirmation: tell the watchdog now, not at the next
  // iteration's update, which a timed-out lease refresh can delay past the old deadline.
  update_watchdog();
  return true;
}

SwitchoverResult HaLoop::accept_failsafe(const std::string& body_text) {
  if (!failsafe_mode_) return {502, "failsafe mode is not enabled"};
  std::string error;
  const std::optional<FailsafeBody> body = decode_failsafe_body(body_text, &error);
  if (!body) return {400, "Bad request: " + error};
  const NodeStatusPtr s = status();
  const bool running_primary = s && s->postgres_running && !s->in_recovery;
  const bool had_confirmed = witness_.confirmed_leader(Millis(witness_ttl_ms_.load())).has_value();
  const FailsafeAnswer answer = witness_.confirm(*body, running_primary);
  if (answer.http_status != 200) {
    log().warn("{}: failsafe mode: refused to confirm {} as the leader: {}", config_.name,
               printable_excerpt(body->name, 100), answer.message);
  } else if (!had_confirmed) {
    log().warn("{}: failsafe mode: confirmed {} as the leader; not campaigning while it keeps asking",
               config_.name, printable_excerpt(body->name, 100));
  }
  return {answer.http_status, answer.message};
}

void HaLoop::update_watchdog() {
  if (!watchdog_) return;
  bool told = watchdog_->set_lease(lease_id_);
  if (!holds_lock_) {
    told = watchdog_->disarm() && told;
  } else {
    // Our lease lasts at least ttl from the moment we sent the last successful keepalive
    // (last_refresh_ is taken before the call). Fence a margin before that, so PostgreSQL is down
    // before anyone else can be promoted, even if this agent is frozen from now on.
    told = watchdog_->arm(fencing_deadline()) && told;
  }
  if (told || watchdog_lost_) return;
  // Nothing would fence this node if the agent froze or died while leading: it must not lead.
  watchdog_lost_ = true;
  log().critical("{}: the fencing watchdog is gone: this member no longer campaigns{}", config_.name,
                 holds_lock_ ? " and steps down" : "");
  if (!holds_lock_) return;
  if (PgStatus s = postgres_.demote(settings_.retry_timeout); !s.ok()) {
    log().critical("{}: demote failed: {}; keeping the lock until PostgreSQL is down", config_.name, s.message());
    return;
  }
  callbacks_->stopped();
  if (!release_lock()) immediate_ = true;
}

void HaLoop::bootstrap() {
  // As Patroni: the key is created empty, and gets the system identifier once PostgreSQL runs
  // (record_system_identifier()).
  auto won = dcs_.create_if_absent(keys_.initialize(), "", 0);
  if (!won.ok()) return;  // another member bootstraps; we clone from it later
  log().warn("{}: won the initialize race: bootstrapping a new cluster", config_.name);
  callbacks_->starting(/*as_primary=*/true, /*running=*/false);
  PgStatus s = postgres_.bootstrap(kBootstrapTimeout);
  // initdb and the first start take seconds, a short ttl's worth: the watchdog is armed from the
  // last refresh when the lock is taken, so refresh first or it fences the new primary at once.
  (void)keep_lease_alive();
  if (!s.ok()) {
    log().error("{}: bootstrap failed: {}", config_.name, s.message());
    // Let someone else (or us, later) try again; retried each iteration until it succeeds.
    initialize_key_stale_ = true;
    if (EtcdStatus deleted = dcs_.delete_key(keys_.initialize()); deleted.ok()) initialize_key_stale_ = false;
    return;
  }
  // The initial dynamic configuration, as Patroni writes it (an existing /config is kept).
  if (auto written = dcs_.create_if_absent(keys_.config(), config_.bootstrap_dcs_json, 0);
      !written.ok() && written.status().code() != EtcdStatus::Code::kTxnFailed) {
    log().warn("{}: could not write the initial /config: {}", config_.name, written.status().to_string());
  }
  if (!take_lock()) {
    // A primary without the lock must not stay up: stop it; the next iterations start it as a
    // standby and campaign like anyone else.
    log().error("{}: bootstrapped but could not take the leader lock: stopping PostgreSQL", config_.name);
    if (PgStatus demoted = postgres_.demote(settings_.retry_timeout); !demoted.ok()) {
      log().critical("{}: stopping the new primary failed: {}", config_.name, demoted.message());
    } else {
      callbacks_->stopped();
    }
  }
  immediate_ = true;
}

void HaLoop::record_system_identifier(const ClusterView& view, const PgProbe& probe) {
  if (!holds_lock_ || !view.initialized || probe.in_recovery || probe.system_identifier.empty() ||
      view.initialize_value == probe.system_identifier) {
    return;
  }
  const bool names_another_cluster =
      !view.initialize_value.empty() &&
      view.initialize_value.find_first_not_of("0123456789") == std::string::npos;
  if (names_another_cluster) {
    if (logged_identifier_mismatch_ != view.initialize_value) {
      log().error("{}: /initialize holds system identifier {}, but this primary's is {}: leaving the key alone",
                  config_.name, view.initialize_value, probe.system_identifier);
      logged_identifier_mismatch_ = view.initialize_value;
    }
    return;
  }
  // Empty (just bootstrapped) or not an identifier (written by an older version): fill it in,
  // only while the leader key still names us.
  auto written = dcs_.put_if_value(keys_.initialize(), probe.system_identifier, keys_.leader(), config_.name);
  if (!written.ok()) {
    log().warn("{}: could not record the system identifier in /initialize: {}", config_.name,
               written.status().to_string());
  }
}

void HaLoop::record_history(const ClusterView& view, const PgProbe& probe) {
  if (!holds_lock_ || probe.in_recovery || history_recorded_for_ == probe.timeline ||
      !history_needs_update(view.history, probe.timeline)) {
    return;
  }
  char file[40];
  std::snprintf(file, sizeof file, "pg_wal/%08X.history", static_cast<unsigned>(probe.timeline));
  PgRows rows;
  PgStatus read = postgres_.execute(std::string("SELECT pg_read_file('") + file + "')", kProbeTimeout, &rows);
  if (!read.ok() || rows.empty() || rows.front().empty() || !rows.front().front()) {
    log().warn("{}: cannot read {} for /history: {}", config_.name, file, read.ok() ? "no row" : read.message());
    history_recorded_for_ = probe.timeline;  // once per timeline: the file will not appear later
    return;
  }
  const auto now_us = std::chrono::duration_cast<std::chrono::microseconds>(
                          std::chrono::system_clock::now().time_since_epoch()).count();
  const auto value = updated_history(*rows.front().front(), view.history, history_timestamp(now_us), config_.name);
  if (!value) {
    history_recorded_for_ = probe.timeline;
    return;
  }
  if (auto written = dcs_.put_if_value(keys_.history(), *value, keys_.leader(), config_.name); written.ok()) {
    history_recorded_for_ = probe.timeline;
  } else {
    log().warn("{}: could not write /history: {}", config_.name, written.status().to_string());
  }
}

void HaLoop::keep_replication_slots(const ClusterView& view, const PgProbe& probe) {
  if (!config_.use_slots || !probe.accepting || (holds_lock_ && probe.in_recovery)) return;
  if (!holds_lock_) {
    slots_.reset();
    if (probe.in_recovery) prepare_slots_for_promotion(view);
    return;
  }
  PgRows rows;
  PgStatus listed = postgres_.execute(
      "SELECT slot_name, active FROM pg_replication_slots WHERE slot_type = 'physical' AND NOT temporary",
      kProbeTimeout, &rows);
  if (!listed.ok()) {
    log().warn("{}: cannot list replication slots: {}", config_.name, listed.message());
    return;
  }
  std::vector<ExistingSlot> existing;
  for (const PgRow& row : rows) {
    if (row.size() >= 2 && row[0]) existing.push_back({*row[0], row[1].value_or("") == "t"});
  }
  // A slot for each member that streams from us: not for one that cascades from another member
  // (that member keeps its slot, below), as Patroni does.
  std::set<std::string> members;
  for (const MemberStatus& m : view.members) {
    if (m.name != config_.name && upstream_of_member(view, m.name, m.replicatefrom) == config_.name) {
      members.insert(slot_name_for_member(m.name));
    }
  }
  std::set<std::string> retained = view.retained_slots;
  retained.erase(slot_name_for_member(config_.name));  // a former leader's slot for us is of no use here
  const SlotPlan plan = slots_.plan(members, retained, existing, Clock::now());
  // The names are [a-z0-9_] only (slot_name_for_member(), the config's check): safe to quote.
  for (const std::string& name : plan.create) {
    PgStatus s = postgres_.execute("SELECT pg_create_physical_replication_slot('" + name + "', true)", kProbeTimeout, &rows);
    if (s.ok()) log().info("{}: created replication slot {}", config_.name, name);
    else log().warn("{}: creating replication slot {} failed: {}", config_.name, name, s.message());
  }
  for (const std::string& name : plan.drop) {
    PgStatus s = postgres_.execute("SELECT pg_drop_replication_slot('" + name + "')", kProbeTimeout, &rows);
    if (s.ok()) log().info("{}: dropped replication slot {} (no member has used it for member_slots_ttl)", config_.name, name);
    else log().warn("{}: dropping replication slot {} failed: {}", config_.name, name, s.message());
  }
}

void HaLoop::prepare_slots_for_promotion(const ClusterView& view) {
  PgRows rows;
  if (!postgres_.execute("SELECT slot_name FROM pg_replication_slots WHERE slot_type = 'physical'", kProbeTimeout, &rows)
           .ok()) {
    return;
  }
  std::set<std::string> existing;
  for (const PgRow& row : rows) {
    if (!row.empty() && row[0]) existing.insert(*row[0]);
  }
  for (const MemberStatus& m : view.members) {
    const std::string name = slot_name_for_member(m.name);
    if (m.name == config_.name || existing.count(name)) continue;
    // Not reserved: on a standby nothing would advance it, and it would keep WAL forever.
    if (PgStatus s = postgres_.execute("SELECT pg_create_physical_replication_slot('" + name + "', false)",
                                       kProbeTimeout, &rows);
        !s.ok()) {
      log().debug("{}: creating replication slot {} on this standby failed: {}", config_.name, name, s.message());
    }
  }
}

void HaLoop::start_as_standby(const Decision& d, const ClusterView& view) {
  std::optional<PgUpstream> upstream;
  if (!d.target.empty()) upstream = upstream_of(view, d.target);
  callbacks_->starting(/*as_primary=*/false, /*running=*/false);
  PgStatus s;
  if (upstream && postgres_.may_have_diverged()) {
    // Our WAL may hold what the leader never had: rewind first (nothing is changed unless the
    // leader answers as a primary).
    s = postgres_.rewind_and_follow(*upstream, kCloneTimeout);
  } else {
    s = postgres_.start_standby(kStartTimeout, upstream, /*in_sync_with_upstream=*/false);
  }
  if (!s.ok()) log().error("{}: starting PostgreSQL as a standby failed: {}", config_.name, s.message());
  else log().warn("{}: {}", config_.name, s.message());
  // A failure is retried after loop_wait, not at once: a rejoin whose pg_rewind keeps failing
  // (the data dir kept for the operator) must not spin.
  immediate_ = s.ok();
}

void HaLoop::start_as_leader() {
  callbacks_->starting(/*as_primary=*/true, /*running=*/false);
  // Stopped cleanly (a restart, maintenance mode): no recovery to run, it starts at once as the
  // primary it was, on its timeline.
  std::int64_t checkpoint = 0;
  if (postgres_.shutdown_checkpoint_lsn(kProbeTimeout, &checkpoint).ok()) {
    PgStatus s = postgres_.start_primary(kStartTimeout);
    if (!s.ok()) log().error("{}: starting PostgreSQL as the primary failed: {}", config_.name, s.message());
    immediate_ = true;
    return;
  }
  // It crashed or was fenced: start it in recovery, with no upstream, and let a later iteration
  // that still holds a fresh lease promote it. Crash recovery after a fence under load can
  // outlast the fencing deadline; started writable, it would be fenced mid-recovery, the lease
  // refreshed, and it started again, over and over, while nobody else may take over. In recovery
  // it takes no write however long it starts, so the watchdog stands down meanwhile (one that
  // cannot be told is found gone by update_watchdog()). If the lease runs out during the start,
  // whoever takes over is followed, rewound first: our WAL may hold what it never received.
  if (watchdog_) (void)watchdog_->disarm();
  PgStatus s = postgres_.start_standby(kStartTimeout, std::nullopt, /*in_sync_with_upstream=*/false);
  if (!s.ok()) {
    log().error("{}: starting PostgreSQL read-only as the leader failed: {}", config_.name, s.message());
  } else {
    log().warn("{}: PostgreSQL started read-only as the leader; promoting it once the lease is refreshed",
               config_.name);
  }
  // The watchdog is armed again after this from the last refresh: make it a fresh one.
  if (holds_lock_ && !keep_lease_alive() && !holds_lock_) {
    log().warn("{}: the lease ran out while PostgreSQL started: following whoever leads now", config_.name);
  }
  immediate_ = true;
}

void HaLoop::act(const Decision& d, const ClusterView& view, const LocalState& local) {
  switch (d.action) {
    case Action::kRaceToInitialize:
    case Action::kBootstrap:
      bootstrap();
      return;
    case Action::kCloneFromLeader: {
      auto up = upstream_of(view, d.target);
      if (!up) return;
      if (PgStatus s = clone_and_start_standby(*up); !s.ok()) {
        log().error("{}: cloning from {} failed: {}", config_.name, d.target, s.message());
      }
      immediate_ = true;
      return;
    }
    case Action::kStartAsPrimary:
      start_as_leader();
      return;
    case Action::kStartAsStandby:
      start_as_standby(d, view);
      return;
    case Action::kAcquireLock:
      if (take_lock()) {
        if (view.failover) drop_failover_request("honoured");
        immediate_ = true;
      }
      return;
    case Action::kPromote: {
      // pre_promote first: a refusal leaves /sync as it is, so that the synchronous standbys it
      // names (not only us) may still take over.
      if (!pre_promote_allows()) return;
      // Synchronous mode: /sync names us alone before we take writes, or we do not promote yet.
      if (sync_ && !sync_->prepare_promotion()) {
        log().error("{}: not promoting yet: synchronous replication could not be prepared", config_.name);
        return;
      }
      PgStatus s = postgres_.promote(kPromoteTimeout);
      if (!s.ok()) {
        log().error("{}: promote failed: {}", config_.name, s.message());
      } else {
        log().warn("{}: promoted to primary", config_.name);
        checkpoint_after_promotion_ = true;
        callbacks_->promoted();
      }
      immediate_ = true;
      return;
    }
    case Action::kRefreshLock:
      // The lease keepalive at the top of the iteration refreshed the lock; publish the leader's
      // WAL position so that candidates can judge their lag after we are gone (this also clears
      // an earlier leader's handover position).
      if (!local.postgres_running) return;  // maintenance mode: nothing to publish
      if (auto put = dcs_.put(keys_.status(), encode_leader_optime(local.wal_position, slots_.retained(Clock::now())), 0);
          !put.ok()) {
        log().warn("{}: publishing the leader optime failed: {}", config_.name, put.status().to_string());
        etcd_write_failed_ = true;
      }
      if (view.failover && view.failover->candidate == config_.name) drop_failover_request("honoured");
      return;
    case Action::kDemote: {
      log().warn("{}: fencing: demoting ({})", config_.name, d.reason);
      PgStatus s = postgres_.demote(settings_.retry_timeout);
      if (!s.ok()) {
        // Still possibly writable: keep the lock (if we have it) so that nobody else is promoted
        // beside us; the next iteration tries again, the watchdog fences at the lease's end.
        log().critical("{}: demote failed: {}; keeping the lock until PostgreSQL is down", config_.name, s.message());
        immediate_ = true;
        return;
      }
      // No before_stop here: a fencing stop waits for no script (see docs/agent.md, Callbacks).
      callbacks_->stopped();
      if (holds_lock_ && view.dcs_reachable && !release_lock()) immediate_ = true;
      return;
    }
    case Action::kFollowLeader:
    case Action::kRewindAndFollow: {
      auto up = upstream_of(view, d.target);
      if (!up) return;
      // A node that was a primary must be rewound before it can follow anyone: its WAL may have
      // diverged from the new leader's.
      const bool rewind = d.action == Action::kRewindAndFollow || postgres_.may_have_diverged();
      // A running replica only reloads to follow another upstream; anything else (re)starts.
      const bool reload_only = !rewind && local.postgres_running && local.in_recovery;
      const bool was_primary = local.postgres_running && !local.in_recovery;
      if (!reload_only) callbacks_->starting(/*as_primary=*/false, local.postgres_running);
      PgStatus s = rewind ? postgres_.rewind_and_follow(*up, kCloneTimeout) : postgres_.follow(*up, kStartTimeout);
      if (!s.ok()) log().error("{}: rejoining {} failed: {}", config_.name, d.target, s.message());
      else log().warn("{}: following {} {}", config_.name, d.target, s.message());
      if (s.ok() && reload_only) callbacks_->reloaded();
      // A former primary stopped on the way (the rejoin, or a rewind that failed after the stop):
      // on_stop now, on_role_change once it answers as a standby.
      if (was_primary && (s.ok() || !postgres_.probe(kProbeTimeout).running)) callbacks_->stopped();
      // No immediate re-run: the WAL receiver needs a moment to connect, and re-deciding at once
      // would reload again in a tight loop.
      return;
    }
    case Action::kReleaseLock:
      if (!local.postgres_running || local.in_recovery) {
        // No data directory, or pre_promote refused the promotion: nothing to hand over.
        log().warn("{}: releasing the lock ({})", config_.name, d.reason);
        if (!release_lock()) immediate_ = true;
        return;
      }
      switch_over(view, local, d.target);
      immediate_ = true;
      return;
    case Action::kDropFailoverRequest:
      drop_failover_request("cannot be honoured");
      return;
    case Action::kWaitForLeader:
    case Action::kNothing:
      return;
  }
}

PgStatus HaLoop::clone_and_start_standby(const PgUpstream& upstream) {
  PgStatus s = postgres_.clone_from(upstream, kCloneTimeout);
  callbacks_->starting(/*as_primary=*/false, /*running=*/false);
  if (s.ok()) s = postgres_.start_standby(kStartTimeout, upstream, /*in_sync_with_upstream=*/true);
  return s;
}

void HaLoop::answer_request(const SwitchoverOutcome& outcome) {
  {
    std::lock_guard lock(mutex_);
    const std::uint64_t next = outcome_.sequence + 1;
    outcome_ = outcome;
    outcome_.sequence = next;
  }
  cv_.notify_all();
}

void HaLoop::extend_published_lock() {
  if (!holds_lock_) return;
  std::lock_guard lock(mutex_);
  if (!status_ || !status_->holds_lock) return;
  auto copy = std::make_shared<NodeStatus>(*status_);
  copy->lock_valid_until = fencing_deadline();
  status_ = std::move(copy);
}

void HaLoop::publish_stepping_down() {
  std::lock_guard lock(mutex_);
  if (!status_) return;
  auto copy = std::make_shared<NodeStatus>(*status_);
  copy->stepping_down = true;
  copy->last_action = "release_lock: switchover in progress, refusing writes";
  status_ = std::move(copy);
}

void HaLoop::abandon_switchover(const std::string& why, int http_status, bool restart_postgres) {
  log().error("{}: switchover abandoned: {}", config_.name, why);
  drop_failover_request("abandoned");
  if (restart_postgres && holds_lock_) {
    // We still hold the lock: be the primary again rather than leave the cluster without one.
    callbacks_->starting(/*as_primary=*/true, /*running=*/false);
    if (PgStatus s = postgres_.start_primary(kStartTimeout); !s.ok()) {
      log().error("{}: restarting PostgreSQL as the primary failed: {}", config_.name, s.message());
    }
  }
  SwitchoverOutcome failed;
  failed.http_status = http_status;
  failed.message = "switchover failed, " + config_.name + " stays the leader: " + why;
  answer_request(failed);
}

void HaLoop::switch_over(const ClusterView& view, const LocalState& local, const std::string& requested_candidate) {
  const auto begun = Clock::now();
  // 1. The candidate: the one requested, else the eligible member furthest ahead.
  const MemberStatus* candidate = nullptr;
  if (!requested_candidate.empty()) {
    candidate = find_member(view, requested_candidate);
  } else {
    for (const MemberStatus& m : view.members) {
      if (m.name == config_.name || !can_take_over(view, settings_, m)) continue;
      if (candidate == nullptr || m.wal_position > candidate->wal_position) candidate = &m;
    }
  }
  if (candidate == nullptr) return abandon_switchover("no eligible candidate", 412, false);
  const std::string name = candidate->name;
  const PeerApiState api = peers_.api_state(*candidate, timings_.candidate_check);
  if (!api.reachable) return abandon_switchover("candidate " + name + " is not reachable: " + api.error, 412, false);
  if (api.nofailover) return abandon_switchover("candidate " + name + " has the nofailover tag", 412, false);
  if (api.state != "running" || api.role != "replica") {
    return abandon_switchover("candidate " + name + " is not a running replica (state '" + api.state + "', role '" +
                                  api.role + "')",
                              412, false);
  }
  std::int64_t received = 0;
  if (PgStatus s = peers_.received_lsn(*candidate, timings_.candidate_check, &received); !s.ok()) {
    return abandon_switchover("candidate " + name + "'s PostgreSQL did not answer: " + s.message(), 412, false);
  }
  const std::int64_t lag = local.wal_position - received;
  if (lag > settings_.maximum_lag_on_failover) {
    return abandon_switchover("candidate " + name + " lags " + std::to_string(lag) + " bytes > maximum_lag_on_failover " +
                                  std::to_string(settings_.maximum_lag_on_failover),
                              412, false);
  }

  // 2. CHECKPOINT while still taking writes, so that the shutdown checkpoint after the refusal is
  // quick. Nothing has changed yet: a failure here just keeps us leading.
  log().warn("{}: switchover to {}: checkpointing", config_.name, name);
  if (PgStatus s = checkpoint_keeping_the_lease(); !s.ok()) return abandon_switchover(s.message(), 503, false);

  // 3. From now on /primary answers 503, so that proxies mark us down and hold new clients; the
  // sessions in a transaction get a bounded grace to finish it.
  const auto refused_since = Clock::now();
  publish_stepping_down();
  log().warn("{}: switchover to {}: refusing writes, {}", config_.name, name,
             timings_.grace > 0ms ? "letting sessions finish (grace " + grace_text(timings_.grace) + ")"
                                  : std::string("stopping PostgreSQL"));
  const std::string grace = let_sessions_finish();

  // 4. Stop fast (it ends the sessions left), read the shutdown checkpoint.
  keep_lock_during_switchover();  // a lost lease is caught below, before anything is published
  if (callbacks_->has_before_stop()) {
    callbacks_->before_stop(hook_timeout());
    keep_lock_during_switchover();
  }
  if (PgStatus s = postgres_.stop(LocalPostgres::StopMode::kFast, kStopTimeout); !s.ok()) {
    return abandon_switchover("stopping PostgreSQL failed: " + s.message(), 503, true);
  }
  callbacks_->stopped();
  std::int64_t checkpoint = 0;
  if (PgStatus s = postgres_.shutdown_checkpoint_lsn(kProbeTimeout, &checkpoint); !s.ok()) {
    return abandon_switchover("cannot read the shutdown checkpoint: " + s.message(), 503, true);
  }

  // 5. Wait, bounded, until the candidate has received WAL past our shutdown checkpoint (the
  // record starts at `checkpoint`; nothing can follow it). Keep the lease alive meanwhile.
  const auto catch_up_deadline = Clock::now() + timings_.catch_up;
  PgStatus last_poll;
  for (;;) {
    last_poll = peers_.received_lsn(*candidate, timings_.candidate_check, &received);
    if (last_poll.ok() && received > checkpoint) break;
    if (Clock::now() >= catch_up_deadline) {
      return abandon_switchover("candidate " + name + " had received only " + format_lsn(received) + " of " +
                                    format_lsn(checkpoint) + " after " + seconds_text(timings_.catch_up) +
                                    (last_poll.ok() ? "" : " (" + last_poll.message() + ")"),
                                503, true);
    }
    if (!keep_lock_during_switchover()) break;
    std::this_thread::sleep_for(timings_.catch_up_poll);
  }
  if (!holds_lock_) {
    // The lease ran out while we waited: the lock is gone, the ordinary rules choose (and the
    // handover position below was never published, so nobody behind it is favoured).
    return abandon_switchover("the leader lease expired during the switchover", 503, false);
  }

  // 6. Publish the handover position, then (only then) delete the leader key.
  if (auto put = dcs_.put(keys_.status(), encode_handover_optime(checkpoint), 0); !put.ok()) {
    return abandon_switchover("publishing the handover position failed: " + put.status().to_string(), 503, true);
  }
  if (!release_lock()) {
    // Unknown whether the key is gone: the next iteration reads it. If we still lead, PostgreSQL
    // starts again as the primary (rule 4); if not, the candidate has taken over.
    SwitchoverOutcome unknown;
    unknown.http_status = 503;
    unknown.message = "switchover to " + name + ": deleting the leader key failed; the next HA iteration decides";
    answer_request(unknown);
    return;
  }

  // 7. Follow the candidate. It has all our WAL, so no rewind is needed.
  if (auto up = upstream_of(view, name)) {
    callbacks_->starting(/*as_primary=*/false, /*running=*/false);
    if (PgStatus s = postgres_.start_standby(kStartTimeout, *up, /*in_sync_with_upstream=*/true); !s.ok()) {
      log().error("{}: starting as a standby of {} failed: {}", config_.name, name, s.message());
    }
  }
  SwitchoverOutcome done;
  done.handed_over = true;
  done.http_status = 200;
  done.candidate = name;
  done.checkpoint_lsn = checkpoint;
  done.candidate_lsn = received;
  done.writes_refused_since = refused_since;
  done.grace = grace;
  done.message = config_.name + " -> " + name + " at " + format_lsn(checkpoint) + " (candidate had " +
                 format_lsn(received) + ")";
  log().warn("{}: switchover handed over: {}{} in {}", config_.name, done.message, grace,
             seconds_text(std::chrono::duration_cast<Millis>(Clock::now() - begun)));
  answer_request(done);
}

PgStatus HaLoop::checkpoint_keeping_the_lease() {
  // Under write load a CHECKPOINT can take longer than the lease allows the HA thread to block
  // (the watchdog fences at ttl minus a margin after the last refresh). So it is asked for in
  // slices of retry_timeout with a refresh before each: a slice that runs out leaves the
  // checkpointer at work, and the next request waits for it (plus a short one of its own).
  const auto deadline = Clock::now() + kCheckpointTimeout;
  const Millis slice = settings_.retry_timeout;
  for (;;) {
    if (!keep_lease_alive()) return PgStatus::error("the leader lease could not be refreshed before the CHECKPOINT");
    update_watchdog();
    const auto began = Clock::now();
    PgStatus s = postgres_.checkpoint(slice);
    // Not a slice that ran out (a refusal, a connection error): give up at once.
    const bool ran_out = Clock::now() - began >= slice * 3 / 4;
    if (s.ok()) return s;
    if (!ran_out || Clock::now() >= deadline) return PgStatus::error("CHECKPOINT failed: " + s.message());
    log().info("{}: switchover: CHECKPOINT still running after {}: refreshing the lease and waiting on ({})",
               config_.name, seconds_text(slice, 2), s.message());
  }
}

bool HaLoop::keep_lock_during_switchover() {
  if (!keep_lease_alive() && !holds_lock_) return false;
  update_watchdog();
  return holds_lock_;
}

std::string HaLoop::let_sessions_finish() {
  if (timings_.grace <= 0ms) return "";
  const auto start = Clock::now();
  const auto deadline = start + timings_.grace;
  // A client may still reach us through a proxy that has not seen the 503 yet: only a count taken
  // one recency window after the 503 also covers the sessions that connected since.
  const auto settled = start + std::min(timings_.recent_session, timings_.grace);
  int most = 0;
  for (;;) {
    // A query that hangs must not hold the stop back much past the grace.
    const auto left = std::chrono::duration_cast<Millis>(deadline - Clock::now());
    const Millis query_timeout = std::clamp<Millis>(left, 250ms, kProbeTimeout);
    int busy = 0;
    if (PgStatus s = postgres_.busy_client_sessions(timings_.recent_session, query_timeout, &busy); !s.ok()) {
      // Stopping now is the safe direction: the fast stop ends whatever is left.
      log().error("{}: switchover: counting busy sessions failed ({}): stopping PostgreSQL without grace",
                  config_.name, s.message());
      return ", sessions not waited for (counting them failed: " + s.message() + ")";
    }
    most = std::max(most, busy);
    const auto waited = std::chrono::duration_cast<Millis>(Clock::now() - start);
    if (busy == 0 && Clock::now() >= settled) {
      if (most == 0) return ", no session to wait for";
      log().info("{}: switchover: {} finished in {}", config_.name, sessions_text(most), seconds_text(waited, 2));
      return ", waited " + seconds_text(waited, 2) + " for " + sessions_text(most);
    }
    if (busy > 0 && Clock::now() >= deadline) {
      log().warn("{}: switchover: grace {} ran out with {} left: the fast stop ends them", config_.name,
                 grace_text(timings_.grace), sessions_text(busy));
      return ", grace " + grace_text(timings_.grace) + " ran out with " + sessions_text(busy) + " left";
    }
    // A long grace must not outlast the lease: refresh it as the loop would.
    if (Clock::now() - last_refresh_ >= settings_.loop_wait && !keep_lock_during_switchover()) {
      log().error("{}: switchover: the leader lease expired during the grace: stopping PostgreSQL", config_.name);
      return ", grace cut short after " + seconds_text(waited, 2) + " (the leader lease expired) with " +
             sessions_text(busy) + " left";
    }
    const auto until_deadline = std::chrono::duration_cast<Millis>(deadline - Clock::now());
    std::this_thread::sleep_for(std::clamp<Millis>(until_deadline, 0ms, timings_.grace_poll));
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
  s.postmaster_start_time = probe.postmaster_start_time;
  s.system_identifier = probe.system_identifier;
  s.replayed_timestamp = probe.replayed_timestamp;
  s.server_version = probe.server_version;
  s.pending_restart = probe.pending_restart;
  if (auto scheduled = planned_.scheduled()) s.scheduled_restart = scheduled->request;
  if (probe.in_recovery) s.received_location = s.replayed_location = probe.wal_position;
  s.following = local.following;
  s.holds_lock = holds_lock_;
  if (holds_lock_) s.lock_valid_until = fencing_deadline();
  s.failsafe_active = failsafe_active() || !local.failsafe_leader.empty();
  s.lock_in_doubt = doubt_since_.has_value() && !failsafe_active();
  s.failsafe = failsafe_mode_ ? std::optional<FailsafeTopology>(failsafe_topology_) : std::nullopt;
  s.dcs_reachable = view.dcs_reachable;
  {
    std::lock_guard lock(mutex_);
    s.dcs_last_seen_unix = view.dcs_reachable ? unix_now() : (status_ ? status_->dcs_last_seen_unix : 0);
  }
  s.leader = view.leader;
  s.cluster = view;
  s.nofailover = config_.nofailover;
  s.failover_priority = config_.failover_priority;
  s.replicatefrom = config_.replicatefrom;
  s.custom_tags = config_.custom_tags;
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
    if (postgres_
            .execute("SELECT usename, application_name, coalesce(host(client_addr), ''), state, sync_state, "
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
    me.pending_restart = s.pending_restart && s.postgres_running;
    me.scheduled_restart = scheduled_restart_for_member_key();
    me.nofailover = config_.nofailover;
    me.nosync = config_.nosync;
    me.failover_priority = config_.failover_priority;
    me.replicatefrom = config_.replicatefrom;
    if (auto put = dcs_.put(keys_.member(config_.name), encode_member(me), lease_id_); !put.ok()) {
      log().warn("{}: publishing the member key failed: {}", config_.name, put.status().to_string());
      etcd_write_failed_ = true;
    }
  }
  std::lock_guard lock(mutex_);
  status_ = std::move(status);
}

SwitchoverResult HaLoop::await_switchover(std::uint64_t after_sequence, const std::string& old_leader, bool failover) {
  SwitchoverOutcome outcome;
  {
    std::unique_lock lock(mutex_);
    const bool answered = cv_.wait_for(lock, timings_.outcome_wait, [&] { return outcome_.sequence > after_sequence; });
    if (!answered) {
      lock.unlock();
      (void)delete_failover_request("timed out");  // best effort: a stale request is refused by the leader
      return {503, "the HA loop did not act on the switchover within " + seconds_text(timings_.outcome_wait) +
                       "; the request was withdrawn and " + old_leader + " stays the leader"};
    }
    outcome = outcome_;
  }
  if (!outcome.handed_over) return {outcome.http_status, outcome.message};

  // Handed over: wait for the candidate to answer 200 on /primary, so the report can say how
  // long writes were refused.
  NodeStatusPtr now = status();
  const MemberStatus* candidate = now ? find_member(now->cluster, outcome.candidate) : nullptr;
  MemberStatus target = candidate ? *candidate : MemberStatus{};
  const auto deadline = Clock::now() + timings_.new_leader_wait;
  while (candidate != nullptr && Clock::now() < deadline) {
    if (peers_.answers_primary(target, timings_.candidate_check)) {
      const auto refused = std::chrono::duration_cast<Millis>(Clock::now() - outcome.writes_refused_since);
      return {200, outcome.message + ", writes refused for " + seconds_text(refused) + outcome.grace + "\n" +
                       "Successfully " + (failover ? "failed over" : "switched over") + " to \"" + outcome.candidate +
                       "\""};
    }
    std::this_thread::sleep_for(timings_.new_leader_poll);
  }
  return {503, outcome.message + outcome.grace + ", but " + outcome.candidate + " did not answer as the primary within " +
                   seconds_text(timings_.new_leader_wait) + "; the HA loops keep deciding"};
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
    const MemberStatus* candidate = find_member(view, request.candidate);
    if (candidate == nullptr || candidate->nofailover) {
      return {412, "candidate " + request.candidate + " is not an eligible member"};
    }
    if (view.leader && request.candidate == *view.leader) return {412, "candidate is already the leader"};
  }
  if (request.scheduled_at) return schedule_switchover(view, request, failover);

  // With a leader, the switchover runs in the leader's HA loop: forward the request there.
  if (view.leader && *view.leader != config_.name) {
    const MemberStatus* leader = find_member(view, *view.leader);
    if (leader == nullptr) return {503, "the leader " + *view.leader + " has no member key: cannot reach it"};
    const auto budget = timings_.outcome_wait + timings_.new_leader_wait + 10s;
    SwitchoverRequest forwarded = request;
    forwarded.leader = *view.leader;
    return peers_.forward_switchover(*leader, forwarded, failover, budget);
  }

  std::uint64_t sequence_before = 0;
  {
    std::lock_guard lock(mutex_);
    sequence_before = outcome_.sequence;
  }
  FailoverRequest key{view.leader.value_or(""), request.candidate};
  auto put = dcs_.put(keys_.failover(), encode_failover(key), 0);
  if (!put.ok()) return {503, "could not write the switchover request: " + put.status().message()};
  wake();
  if (view.leader) return await_switchover(sequence_before, *view.leader, failover);

  // A failover without a leader: the candidate campaigns (within maximum_lag_on_failover).
  const auto deadline = Clock::now() + timings_.outcome_wait;
  while (Clock::now() < deadline) {
    NodeStatusPtr s = status();
    if (s && s->leader && *s->leader == request.candidate) {
      return {200, "Successfully failed over to \"" + *s->leader + "\""};
    }
    std::this_thread::sleep_for(timings_.new_leader_poll);  // a REST worker thread polling our own snapshot
  }
  (void)delete_failover_request("timed out");  // best effort: the next leader drops a stale request
  return {503, "failover to " + request.candidate + " did not complete within " + seconds_text(timings_.outcome_wait) +
                   "; the request was withdrawn"};
}

void HaLoop::hold_scheduled_switchover(ClusterView& view) {
  scheduled_wake_.reset();
  if (!view.failover || view.failover->scheduled_at.empty()) return;
  const std::string text = view.failover->scheduled_at;
  bool has_zone = false;
  const auto at = parse_iso8601(text, &has_zone);
  const auto now = std::chrono::system_clock::now();
  const bool leader = view.leader && *view.leader == config_.name;
  const auto stale_after = std::chrono::duration_cast<std::chrono::system_clock::duration>(settings_.loop_wait * 3 / 2);
  // A leader that began the switchover on time releases the lock after its checkpoint and grace,
  // past the schedule's time: with no leader, the request still names who takes over (the next
  // leader drops it). Only with a leader is a missed schedule stale.
  const bool missed = at && now > *at + stale_after && view.leader.has_value();
  if (view.paused || !at || !has_zone || missed) {
    // As Patroni: a schedule missed (or unreadable, or made before a pause) is dropped, not run late.
    view.failover.reset();
    if (leader) {
      log().warn("{}: dropping a {} scheduled switchover ({})", config_.name,
                 !at || !has_zone ? "unreadable" : view.paused ? "paused" : "stale", printable_excerpt(text, 60));
      (void)delete_failover_request("scheduled switchover dropped");
    }
    return;
  }
  if (now < *at) {
    view.failover.reset();  // not due: nobody acts on it yet
    scheduled_wake_ = Clock::now() + std::chrono::duration_cast<Millis>(*at - now) + 1ms;
    if (leader && logged_schedule_ != text) {
      logged_schedule_ = text;
      log().info("{}: awaiting the switchover scheduled at {}", config_.name, text);
    }
    return;
  }
  if (leader) log().warn("{}: the switchover scheduled at {} is due", config_.name, text);
}

SwitchoverResult HaLoop::schedule_switchover(const ClusterView& view, const SwitchoverRequest& request, bool failover) {
  const std::string action = failover ? "failover" : "switchover";
  if (request.leader.empty()) return {400, "Scheduled " + action + " is possible only from a specific leader"};
  if (view.paused) return {400, "Can't schedule " + action + " in the paused state"};
  const ScheduleCheck at = check_schedule(*request.scheduled_at, action, std::chrono::system_clock::now());
  if (!at.at) return {at.http_status, at.error};
  FailoverRequest key{request.leader, request.candidate, format_iso8601(*at.at)};
  if (auto put = dcs_.put(keys_.failover(), encode_failover(key), 0); !put.ok()) {
    return {503, "failed to write " + action + " key into DCS: " + put.status().message()};
  }
  log().warn("{}: {} from {} to {} scheduled at {}", config_.name, action, request.leader,
             request.candidate.empty() ? "the healthiest member" : request.candidate, key.scheduled_at);
  wake();
  return {202, (failover ? std::string("Failover") : std::string("Switchover")) + " scheduled"};
}

SwitchoverResult HaLoop::cancel_scheduled_switchover() {
  auto range = dcs_.range_prefix(keys_.failover());
  if (!range.ok()) return {503, "cannot read " + keys_.failover() + ": " + range.status().message()};
  for (const KeyValue& kv : range.value().kvs) {
    if (kv.key != keys_.failover()) continue;
    const std::optional<FailoverRequest> request = decode_failover(kv.value);
    if (!request || request->scheduled_at.empty()) break;
    auto deleted = dcs_.delete_if_value(keys_.failover(), kv.value);
    if (deleted.ok()) {
      log().warn("{}: the switchover scheduled at {} was cancelled", config_.name, request->scheduled_at);
      wake();
      return {200, "scheduled switchover deleted"};
    }
    if (deleted.status().code() == EtcdStatus::Code::kTxnFailed) return {409, "the switchover request changed meanwhile"};
    return {503, "deleting " + keys_.failover() + " failed: " + deleted.status().message()};
  }
  return {404, "no switchover is scheduled"};
}

}  // namespace pgha::election
