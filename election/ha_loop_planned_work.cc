// HaLoop's planned work: POST/DELETE /restart, POST /reload and POST /reinitialize as Patroni
// answers them, and what the HA thread does for them. The requests (REST threads) only hand a
// job to PlannedWork and wait, bounded; every PostgreSQL call is made here on the HA thread,
// from run_planned_work(), which iteration() calls once decide() has spoken. See ha_loop.h.
#include <algorithm>
#include <cstdio>
#include <thread>

#include <nlohmann/json.hpp>

#include "election/ha_loop.h"
#include "election/ha_loop_bounds.h"
#include "election/log.h"

namespace pgha::election {

using namespace std::chrono_literals;
using namespace ha_loop_bounds;
using Millis = std::chrono::milliseconds;

namespace {

constexpr Millis kReloadTimeout = 10s;
constexpr Millis kAcceptingPoll = 100ms;
constexpr Millis kReinitializeStartWait = 30s;  // until the HA loop has taken the job

}  // namespace

SwitchoverResult HaLoop::request_restart(const RestartRequest& request) {
  const NodeStatusPtr now = status();
  if (!now) return {503, "the HA loop has not looked at PostgreSQL yet"};
  if (request.schedule) {
    if (now->cluster.paused) return {500, "Can't schedule restart in the paused state"};
    if (!planned_.schedule({request, now->postmaster_start_time})) return {409, "Another restart is already scheduled"};
    log().warn("{}: restart scheduled at {}", config_.name, format_iso8601(*request.schedule));
    publish_schedule();
    wake();  // the member key shows it at the next iteration, at once
    return {202, "Restart scheduled"};
  }
  const Millis start = request.timeout ? Millis(*request.timeout) : kStartTimeout;
  // A leader's CHECKPOINT before the stop (bounded by retry_timeout slices), the stop, the start.
  const Millis wait = Millis(loop_wait_ms_.load()) + kCheckpointTimeout + kStopTimeout + start;
  return planned_.submit(PlannedWork::Kind::kRestart, request, /*force=*/false, wait, [this] { wake(); });
}

SwitchoverResult HaLoop::cancel_scheduled_restart() {
  if (!planned_.cancel_schedule()) return {404, "no restarts are scheduled"};
  log().warn("{}: scheduled restart deleted", config_.name);
  publish_schedule();
  wake();
  return {200, "scheduled restart deleted"};
}

SwitchoverResult HaLoop::request_reload() {
  planned_.request_reload();
  wake();
  return {202, "reload scheduled"};
}

SwitchoverResult HaLoop::request_reinitialize(bool force) {
  const NodeStatusPtr now = status();
  if (!now) return {503, "the HA loop has not looked at the cluster yet"};
  // Patroni's refusals, answered at once; the HA thread checks again with what it reads then.
  if (!now->leader) return {503, "Cluster has no leader, can not reinitialize"};
  if (*now->leader == config_.name) return {503, "I am the leader, can not reinitialize"};
  return planned_.submit(PlannedWork::Kind::kReinitialize, {}, force, kReinitializeStartWait, [this] { wake(); });
}

bool HaLoop::run_planned_work(const ClusterView& view, const PgProbe& probe, const Decision& decision) {
  if (planned_.take_reload()) reload_postgres(probe);
  // A restart waits for a settled node: anything else decide() asks for comes first.
  const bool settled = decision.action == Action::kNothing || decision.action == Action::kRefreshLock;
  const std::string not_now = std::string("the HA loop has to ") + action_name(decision.action) + " first (" +
                              decision.reason + ")";

  if (scheduled_restart_due(view, probe)) {
    if (!settled) {
      log().info("{}: scheduled restart waits: {}", config_.name, not_now);
    } else {
      const auto scheduled = planned_.scheduled();
      // As Patroni: the schedule is used up by this attempt, whatever its outcome.
      (void)planned_.cancel_schedule();
      log().warn("{}: scheduled restart at {}", config_.name, format_iso8601(*scheduled->request.schedule));
      const SwitchoverResult result = restart_postgres(view, probe, scheduled->request);
      log().warn("{}: scheduled restart: {}", config_.name, result.message);
      immediate_ = true;
      return true;
    }
  }

  const std::optional<PlannedWork::Job> job = planned_.take();
  if (!job) return false;
  if (job->kind == PlannedWork::Kind::kReinitialize) {
    const bool done = reinitialize(view, job->id);
    planned_.finish(job->id);
    if (done) immediate_ = true;
    return done;
  }
  if (!settled) {
    planned_.answer(job->id, {503, "restart not possible now: " + not_now});
    planned_.finish(job->id);
    return false;
  }
  const SwitchoverResult result = restart_postgres(view, probe, job->restart);
  planned_.answer(job->id, result);
  planned_.finish(job->id);
  immediate_ = true;
  return true;
}

SwitchoverResult HaLoop::restart_postgres(const ClusterView& view, const PgProbe& probe, const RestartRequest& request) {
  const bool primary = holds_lock_ && probe.running && probe.accepting && !probe.in_recovery;
  if (const std::string unmet =
          restart_conditions_unmet(request, primary, probe.server_version, probe.pending_restart);
      !unmet.empty()) {
    log().info("{}: not proceeding with the restart: {}", config_.name, unmet);
    return {503, "restart conditions are not satisfied"};
  }
  if (!probe.running || !probe.accepting) return {503, "restart failed: PostgreSQL is not running"};
  if (!probe.in_recovery && !holds_lock_) {
    return {503, "restart failed: PostgreSQL runs out of recovery without the leader lock"};
  }
  const auto begun = Clock::now();
  // A replica comes back streaming from where it did (a cascade too), else from the leader.
  std::optional<PgUpstream> upstream;
  if (!primary) {
    upstream = PgUpstream::parse(probe.following);
    if (!upstream && view.leader && *view.leader != config_.name) upstream = upstream_of(view, *view.leader);
  }
  log().warn("{}: restarting PostgreSQL as {}", config_.name,
             primary ? "the primary (the lock is kept)" : "a replica");
  if (primary) {
    // A leader stops only under a lease just refreshed (not one in doubt: etcd unreachable), and
    // starts again as the primary only if the refresh after the stop succeeds too.
    if (!lease_refreshed_for_restart()) {
      return {503, "restart failed, nothing was stopped: the leader lease could not be refreshed"};
    }
    // As before a switchover: the shutdown checkpoint after it is quick, so writes pause briefly.
    if (PgStatus s = checkpoint_keeping_the_lease(); !s.ok()) {
      log().warn("{}: restart: {}; stopping anyway", config_.name, s.message());
    }
  }
  // From here /primary (or /replica) answers 503: a proxy sends no new client here meanwhile.
  publish_interim("restarting", "restart: stopping and starting PostgreSQL");
  if (callbacks_->has_before_stop()) {
    if (primary) (void)keep_lock_during_switchover();
    callbacks_->before_stop(hook_timeout());
  }
  if (primary && !lease_refreshed_for_restart()) {
    return {503, "restart failed, nothing was stopped: the leader lease could not be refreshed"};
  }
  callbacks_->starting(primary, /*running=*/true);  // on_restart once it answers again
  if (PgStatus s = postgres_.stop(LocalPostgres::StopMode::kFast, kStopTimeout); !s.ok()) {
    log().error("{}: restart: stopping PostgreSQL failed: {}", config_.name, s.message());
    return {503, "restart failed: " + s.message()};
  }
  if (primary && !lease_refreshed_for_restart()) {
    // Stopped, and the lease is gone or in doubt: who starts as what is for decide() (as a
    // standby unless this node holds the lock under a live lease).
    log().error("{}: restart: the leader lease could not be refreshed while PostgreSQL was stopped", config_.name);
    return {503, "restart failed: the leader lease was lost while PostgreSQL was stopped; the HA loop decides how "
                 "it starts again"};
  }
  const auto deadline = Clock::now() + (request.timeout ? Millis(*request.timeout) : kStartTimeout);
  // pg_ctl's wait may end before the server answers; the postmaster goes on starting. A leader
  // waits in slices that keep its lease (and the watchdog) ahead of the fencing deadline.
  const Millis left = std::max<Millis>(1s, std::chrono::duration_cast<Millis>(deadline - Clock::now()));
  const Millis slice = primary ? std::min<Millis>(left, settings_.retry_timeout) : left;
  PgStatus started = primary ? postgres_.start_primary(slice)
                             : postgres_.start_standby(slice, upstream, /*in_sync_with_upstream=*/true);
  if (!started.ok() && !postgres_.probe(kProbeTimeout).running) {
    log().error("{}: restart: starting PostgreSQL failed: {}", config_.name, started.message());
    return {503, "restart failed: " + started.message()};
  }
  if (!wait_until_accepting(deadline)) return {503, "postgres is still starting"};
  if (primary) (void)keep_lock_during_switchover();
  log().warn("{}: PostgreSQL restarted in {}", config_.name,
             seconds_text(std::chrono::duration_cast<Millis>(Clock::now() - begun)));
  return {200, "restarted successfully"};
}

bool HaLoop::lease_refreshed_for_restart() {
  const bool refreshed = keep_lease_alive();
  update_watchdog();
  return refreshed && holds_lock_;
}

bool HaLoop::wait_until_accepting(Clock::time_point deadline) {
  for (;;) {
    const PgProbe probe = postgres_.probe(kProbeTimeout);
    if (probe.running && probe.accepting) return true;
    if (!probe.running || Clock::now() >= deadline) return false;
    if (holds_lock_ && Clock::now() - last_refresh_ >= std::min<Millis>(settings_.loop_wait, settings_.retry_timeout / 2)) {
      (void)keep_lock_during_switchover();
    }
    const auto left = std::chrono::duration_cast<Millis>(deadline - Clock::now());
    std::this_thread::sleep_for(std::clamp<Millis>(left, 0ms, kAcceptingPoll));
  }
}

bool HaLoop::reinitialize(const ClusterView& view, std::uint64_t job) {
  const auto refuse = [&](const std::string& why) {
    log().warn("{}: reinitialize refused: {}", config_.name, why);
    planned_.answer(job, {503, why});
    return false;
  };
  if (!view.dcs_reachable) return refuse("etcd is not reachable, can not reinitialize");
  if (!view.leader) return refuse("Cluster has no leader, can not reinitialize");
  if (holds_lock_ || *view.leader == config_.name) return refuse("I am the leader, can not reinitialize");
  const std::string leader = *view.leader;
  const std::optional<PgUpstream> upstream = upstream_of(view, leader);
  if (!upstream) return refuse("the leader " + leader + " publishes no usable conn_url, can not reinitialize");
  // Shown before the answer, so that a client polling GET /patroni after it sees the work.
  publish_interim("creating replica", "reinitialize: cloning from the leader " + leader);
  planned_.answer(job, {200, "reinitialize started"});
  log().warn("{}: reinitializing: wiping the data directory and cloning from the leader {}", config_.name, leader);
  // As Patroni: an immediate stop, the data directory is about to go anyway.
  const bool was_running = postgres_.probe(kProbeTimeout).running;
  if (PgStatus s = postgres_.stop(LocalPostgres::StopMode::kImmediate, kStopTimeout); !s.ok()) {
    log().error("{}: reinitialize: stopping PostgreSQL failed, nothing was wiped: {}", config_.name, s.message());
    return true;
  }
  if (was_running) callbacks_->stopped();
  // clone_from() keeps its safety checks: it refuses while PostgreSQL runs, and a directory
  // that holds files but no PostgreSQL data is left alone.
  if (PgStatus s = clone_and_start_standby(*upstream); !s.ok()) {
    log().error("{}: reinitialize from {} failed: {}", config_.name, leader, s.message());
  } else {
    log().warn("{}: reinitialized from {}: {}", config_.name, leader, s.message());
  }
  return true;
}

void HaLoop::reload_postgres(const PgProbe& probe) {
  PgStatus s = postgres_.reload_config(kReloadTimeout);
  if (!s.ok()) {
    log().error("{}: reload failed: {}", config_.name, s.message());
    return;
  }
  log().info("{}: reload: {}", config_.name, s.message());
  if (probe.running) callbacks_->reloaded();
}

bool HaLoop::scheduled_restart_due(const ClusterView& view, const PgProbe& probe) {
  const auto scheduled = planned_.scheduled();
  if (!scheduled || view.paused) return false;
  if (!scheduled->postmaster_start_time.empty() && !probe.postmaster_start_time.empty() &&
      probe.postmaster_start_time != scheduled->postmaster_start_time) {
    log().info("{}: cancelling the scheduled restart: PostgreSQL restarted already at {}", config_.name,
               probe.postmaster_start_time);
    (void)planned_.cancel_schedule();
    return false;
  }
  const auto now = std::chrono::system_clock::now();
  const auto at = *scheduled->request.schedule;
  if (now < at) return false;
  // As Patroni: a schedule missed by more than 1.5 loop_wait (the agent was stopped, the loop
  // stalled) is dropped rather than run late.
  if (now - at > settings_.loop_wait * 3 / 2) {
    log().warn("{}: found a stale scheduled restart ({}), cleaning up", config_.name, format_iso8601(at));
    (void)planned_.cancel_schedule();
    return false;
  }
  return true;
}

Millis HaLoop::until_scheduled_restart() const {
  const auto scheduled = planned_.scheduled();
  if (!scheduled) return settings_.loop_wait;
  const auto now = std::chrono::system_clock::now();
  const auto at = *scheduled->request.schedule;
  // Due already: the iteration ran it or had reasons not to (paused, busy): loop_wait as usual.
  if (at <= now) return settings_.loop_wait;
  return std::chrono::ceil<Millis>(at - now);
}

std::string HaLoop::scheduled_restart_for_member_key() const {
  const auto scheduled = planned_.scheduled();
  if (!scheduled) return "";
  nlohmann::ordered_json j = scheduled_restart_json(scheduled->request);
  j["postmaster_start_time"] = scheduled->postmaster_start_time;
  return j.dump();
}

void HaLoop::publish_schedule() {
  const auto scheduled = planned_.scheduled();
  std::lock_guard lock(mutex_);
  if (!status_) return;
  auto copy = std::make_shared<NodeStatus>(*status_);
  copy->scheduled_restart.reset();
  if (scheduled) copy->scheduled_restart = scheduled->request;
  status_ = std::move(copy);
}

void HaLoop::publish_interim(const std::string& state, const std::string& action) {
  std::lock_guard lock(mutex_);
  if (!status_) return;
  auto copy = std::make_shared<NodeStatus>(*status_);
  copy->postgres_running = false;
  copy->state = state;
  copy->stepping_down = copy->holds_lock;
  copy->replication.clear();
  copy->last_action = action;
  status_ = std::move(copy);
}

}  // namespace pgha::election
