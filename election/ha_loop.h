// HaLoop: pgha-agent's high-availability loop. Each iteration: keep our etcd lease alive, read
// the cluster (one range over the scope), probe the local PostgreSQL, ask decide() what to do,
// do it (bootstrap, clone, start, take the lock, promote, demote, follow, rewind, hand over in a
// switchover), publish our member key and the NodeStatus snapshot for the REST API. It sleeps
// loop_wait between iterations, but a watch on the scope wakes it at once (a vanished leader key
// is contested immediately), and while the lock is in doubt it retries every second so that it
// fences (demotes) within retry_timeout, before the lease can expire for the others.
//
// The loop talks to etcd, PostgreSQL and the other members only through narrow interfaces (Dcs,
// LocalPostgres, PeerClient), so tests drive it step by step with fakes.
//
// A planned switchover (we lead, a request names a candidate) runs here, on the HA thread:
// check the candidate (its REST API answers, it is a running replica without nofailover, within
// maximum_lag_on_failover); CHECKPOINT while still taking writes (so the shutdown checkpoint is
// quick); answer 503 on /primary from then on; give the sessions in a transaction a bounded grace
// to finish (a proxy in front marks us down on the 503 and holds new clients, so they drain);
// stop fast; read the shutdown checkpoint LSN; wait (bounded, keeping the lease alive) until the
// candidate has received past it; publish it as the handover position; only then delete the
// leader key, and follow the candidate. A failure before the stop changes nothing (we keep
// leading); any failure after it, before the key is deleted, keeps the lock and restarts
// PostgreSQL as the primary. The outcome (LSNs, how long writes were refused, what the grace
// waited for, or why it failed) goes back to the REST request that asked for it.
//
// Patroni's hooks (PostgresCallbacks) fire around what the loop does to PostgreSQL: a callback
// per start, stop, promotion, demotion or reload, never waited for; before_stop before a planned
// stop; pre_promote before a promotion, with a deadline within retry_timeout and the fencing
// deadline. When pre_promote says no, the loop does not promote, releases the lock and stays out
// of the leader race for ttl; when it says yes, the lease is refreshed again before the promotion.
//
// Failsafe mode (failsafe.h): while we lead and the lease cannot be refreshed, each iteration asks
// every member of the /failsafe key to confirm us (POST /failsafe, in parallel, bounded); a round
// that every member accepted counts as a refresh from the moment it started, for fencing, the
// watchdog and /primary alike. The leader keeps /failsafe up to date while etcd answers. As a
// member, accept_failsafe() gives or refuses the confirmation, and a member that gave one within
// ttl does not campaign.
//
// Planned work (ha_loop_planned_work.cc) runs here too: a restart (now, or at a scheduled time;
// a leader keeps its lease alive around the stop and the start, so it keeps the lock and comes
// back as the primary), a reload of PostgreSQL's configuration, and a reinitialize of a replica
// (stop, wipe, clone from the leader). The REST request hands the job over (PlannedWork) and
// waits, bounded, for the outcome.
//
// Threads: run() (or step()) on the agent's HA thread: blocking etcd and PostgreSQL calls live
// only there. status(), request_switchover(), the planned-work requests and stop() are
// thread-safe (REST and signal threads).
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>

#include "election/agent_config.h"
#include "election/dcs.h"
#include "election/dynamic_settings.h"
#include "election/failsafe.h"
#include "election/fence_watchdog.h"
#include "election/ha_decision.h"
#include "election/local_postgres.h"
#include "election/member_codec.h"
#include "election/node_status.h"
#include "election/peer_client.h"
#include "election/planned_work.h"
#include "election/postgres_callbacks.h"
#include "election/replication_slots.h"
#include "election/rest_api.h"
#include "election/sync_replication.h"

namespace pgha::election {

// Bounds of the switchover protocol; defaults suit a real cluster, tests shorten them.
struct SwitchoverTimings {
  std::chrono::milliseconds candidate_check{3000};    // the candidate's REST API and PostgreSQL must answer in this
  std::chrono::milliseconds catch_up{10000};          // the candidate must receive our last WAL within this
  std::chrono::milliseconds catch_up_poll{50};
  std::chrono::milliseconds outcome_wait{60000};      // a REST request waits this long for the outcome
  std::chrono::milliseconds new_leader_wait{30000};   // ... and then for the new leader to answer 200 on /primary
  std::chrono::milliseconds new_leader_poll{50};
  // After the 503, client sessions get up to `grace` to finish their transactions before the
  // fast stop (0: stop at once; AgentConfig::switchover_grace). A session that connected within
  // `recent_session` and has not sent a statement yet counts as busy: it is about to send its
  // query. The grace lasts at least `recent_session`, so that a client a proxy let through just
  // after the 503 is seen too: 300 ms covers a proxy that checks every 200 ms with fall 2 and
  // fastinter 50 ms (the tuned configuration).
  std::chrono::milliseconds grace{2000};
  std::chrono::milliseconds grace_poll{20};
  std::chrono::milliseconds recent_session{300};
};

class HaLoop {
 public:
  using Clock = std::chrono::steady_clock;

  // `watchdog` (optional) is kept armed just inside our lease while we lead. `callbacks`
  // (optional; none runs without it) fires the configured hooks.
  HaLoop(const AgentConfig& config, Dcs& dcs, LocalPostgres& postgres, PeerClient& peers,
         FenceWatchdog* watchdog = nullptr, SwitchoverTimings timings = {}, PostgresCallbacks* callbacks = nullptr);
  ~HaLoop();
  HaLoop(const HaLoop&) = delete;
  HaLoop& operator=(const HaLoop&) = delete;

  // Runs until stop(); then step_down_on_exit().
  void run();
  void stop();

  // One iteration of the loop (run() calls it; tests call it directly). Returns how long to wait
  // before the next one.
  std::chrono::milliseconds step();
  // Stops PostgreSQL and, only once it is stopped, releases the leader key and revokes the lease
  // so that the others take over at once instead of after ttl. If PostgreSQL cannot be stopped
  // the lock is kept (and the watchdog stays armed): the others must wait for the lease, because
  // this node may still be writable.
  void step_down_on_exit();

  NodeStatusPtr status() const;

  // For the service manager (pgha-agent's systemd notifications, AgentNotifications). Called on
  // the HA thread at the end of every iteration with its number (1, 2, ...) and the decision it
  // carried out (nullptr when it made none: PostgreSQL did not answer, or the iteration failed).
  // Must not block. Set before run().
  using IterationObserver = std::function<void(std::uint64_t iteration, const Decision* decision)>;
  void set_iteration_observer(IterationObserver observer) { iteration_observer_ = std::move(observer); }
  // Any thread: the number of iterations begun, and how long the one in progress has run (zero
  // between iterations): a stuck HA thread is one whose iteration never ends.
  std::uint64_t iterations_begun() const { return iterations_begun_.load(); }
  Clock::duration iteration_running_for() const;

  // POST /switchover and /failover. On the leader: validates against the current view, writes
  // the failover key, waits (bounded) for the HA loop's outcome and then for the new leader. On
  // another member, a switchover is forwarded to the leader; a failover without a leader writes
  // the key and waits for the named candidate.
  SwitchoverResult request_switchover(const SwitchoverRequest& request, bool failover);
  // DELETE /switchover: withdraws a scheduled switchover (200), 404 when none is scheduled, 409
  // when the request changed meanwhile, 503 without etcd.
  SwitchoverResult cancel_scheduled_switchover();
  // POST /failsafe from a leader that cannot reach etcd: 200 "Accepted" when we confirm it, 500
  // when we run a primary or campaign, 502 when failsafe mode is off, 400 for a bad body.
  SwitchoverResult accept_failsafe(const std::string& body);

  // Planned work (ha_loop_planned_work.cc), Patroni's answers. POST /restart: a restart now
  // (waits bounded for the HA loop's outcome: 200 "restarted successfully", 503 "restart
  // conditions are not satisfied", ...) or, with request.schedule, 202 "Restart scheduled" (409
  // when one is already). DELETE /restart: 200 / 404. POST /reload: 202 "reload scheduled".
  // POST /reinitialize: 200 "reinitialize started" once the HA loop has begun it, 503 on the
  // leader or without one.
  SwitchoverResult request_restart(const RestartRequest& request);
  SwitchoverResult cancel_scheduled_restart();
  SwitchoverResult request_reload();
  SwitchoverResult request_reinitialize(bool force);

 private:
  // What the HA loop did with a switchover request; the REST thread waiting for it reads it.
  struct SwitchoverOutcome {
    std::uint64_t sequence = 0;
    bool handed_over = false;
    int http_status = 0;
    std::string message;
    std::string candidate;
    std::int64_t checkpoint_lsn = 0;
    std::int64_t candidate_lsn = 0;
    Clock::time_point writes_refused_since{};
    std::string grace;  // ", waited 0.12 s for 2 sessions" (what the grace did; "" without one)
  };

  void iteration();
  bool keep_lease_alive();
  void act(const Decision& decision, const ClusterView& view, const LocalState& local);
  void bootstrap();
  // The leader records its PostgreSQL system identifier in /initialize, as Patroni does.
  void record_system_identifier(const ClusterView& view, const PgProbe& probe);
  // The leader adds its promotion to /history (timeline_history.h) once per timeline.
  void record_history(const ClusterView& view, const PgProbe& probe);
  // The leader's replication slots, one per member (replication_slots.h).
  void keep_replication_slots(const ClusterView& view, const PgProbe& probe);
  // Failsafe mode, as the leader: keeps the /failsafe key naming every member (deletes it when
  // failsafe mode is off), and remembers whom a round must ask.
  void keep_failsafe_key(const ClusterView& view);
  // A scheduled switchover (Patroni's checks and answers): the /failover key with scheduled_at,
  // answered 202 at once.
  SwitchoverResult schedule_switchover(const ClusterView& view, const SwitchoverRequest& request, bool failover);
  // A scheduled switchover in `view` that is not due yet is left out of it, and the next
  // iteration is set for its time; a stale one (missed by more than 1.5 x loop_wait) or an
  // unreadable one is deleted by the leader.
  void hold_scheduled_switchover(ClusterView& view);
  // A round of POST /failsafe to every other member of the key; true when all accepted (the
  // round's start then counts as a refresh).
  bool confirm_failsafe_round();
  // Quorum commit (sync_state.h): before taking the lock, the /sync key's quorum of other voters
  // must answer (their received WAL, asked directly) and none may be ahead of us. "" when we may
  // campaign (or quorum mode does not apply), else why not. Skipped after a switchover's handover,
  // whose candidate has all of the old leader's WAL.
  std::string quorum_refuses(const ClusterView& view, const LocalState& local);
  // Failsafe mode is on, and we hold the lock over a running primary (as last published).
  bool failsafe_applies() const;
  // A round that every member accepted since the last lease refresh: we lead on its strength.
  bool failsafe_active() const;
  // The later of the last lease refresh and the start of the last round every member accepted.
  Clock::time_point last_confirmed() const;
  // A standby makes (unreserved) slots for the other members, so that when it is promoted they
  // exist before the replicas reconnect: a replica whose slot is missing waits 5 s to retry.
  void prepare_slots_for_promotion(const ClusterView& view);
  void start_as_standby(const Decision& decision, const ClusterView& view);
  // kStartAsPrimary: as the primary after a clean stop, read-only (promoted later) after a crash.
  void start_as_leader();
  void switch_over(const ClusterView& view, const LocalState& local, const std::string& requested_candidate);
  // Called when the switchover failed before the lock was released: keep leading.
  void abandon_switchover(const std::string& why, int http_status, bool restart_postgres);
  // The switchover's CHECKPOINT, in slices that keep the lease (and the watchdog) refreshed.
  PgStatus checkpoint_keeping_the_lease();
  // The switchover's grace: polls the busy client sessions until none is left or the grace runs
  // out; returns what happened as a note for the answer.
  std::string let_sessions_finish();
  // Between a switchover's long steps (the loop does not iterate meanwhile): refreshes the lease
  // and the watchdog's deadline. False once the lease is known to be gone.
  bool keep_lock_during_switchover();
  void answer_request(const SwitchoverOutcome& outcome);
  // Deletes the failover key; false (logged) when that failed. Any thread.
  [[nodiscard]] bool delete_failover_request(const char* why);
  // HA thread: the same, retried at once (next iteration) when it failed.
  void drop_failover_request(const char* why);
  bool take_lock();
  [[nodiscard]] bool release_lock();
  // Runs pre_promote (if any): true when the promotion may go ahead under a freshly refreshed
  // lease; false after a refusal (the lock is released, the leader race left for ttl) or when
  // the lease could not be refreshed after it.
  bool pre_promote_allows();
  // The deadline of a synchronous hook: retry_timeout, and while we hold the lock no more than
  // half the time left before the fencing deadline, so that the loop refreshes the lease in time.
  std::chrono::milliseconds hook_timeout() const;
  // Whether pre_promote's refusal still holds: until the lock is let go, then for ttl.
  bool promotion_refused();
  void publish(const ClusterView& view, const LocalState& local, const PgProbe& probe, const Decision& decision);
  void publish_stepping_down();
  std::optional<PgUpstream> upstream_of(const ClusterView& view, const std::string& member) const;
  void wake();
  void update_watchdog();
  // When this node's PostgreSQL is fenced unless the lease is refreshed again: last refresh +
  // ttl - a margin. Also how long the published status may say "primary".
  Clock::time_point fencing_deadline() const;
  // After a lease refresh in the middle of a long step (a CHECKPOINT, a switchover), the
  // published status keeps saying "primary" for as long as the new fencing deadline allows.
  void extend_published_lock();
  void sleep_until_next_iteration(std::chrono::milliseconds delay);
  SwitchoverResult await_switchover(std::uint64_t after_sequence, const std::string& old_leader, bool failover);
  // Clones from `upstream` into a fresh data dir and starts as its standby (a replica without
  // data, and a reinitialize).
  PgStatus clone_and_start_standby(const PgUpstream& upstream);

  // Planned work on the HA thread (ha_loop_planned_work.cc). Runs what is due after decide():
  // a reload (the iteration goes on: false), a requested or scheduled restart, or a reinitialize
  // (true: it replaced the decision's action; the next iteration runs at once).
  bool run_planned_work(const ClusterView& view, const PgProbe& probe, const Decision& decision);
  SwitchoverResult restart_postgres(const ClusterView& view, const PgProbe& probe, const RestartRequest& request);
  // A leader's restart: the lease refreshed now (not merely still believed) and the lock held.
  bool lease_refreshed_for_restart();
  // Polls until PostgreSQL answers, keeping the lease alive when we lead; false at the deadline
  // or when the postmaster is gone.
  bool wait_until_accepting(Clock::time_point deadline);
  // The reinitialize job `job`: answers its request (refused, or started), then stops, wipes and
  // clones. False when refused (nothing was done).
  bool reinitialize(const ClusterView& view, std::uint64_t job);
  void reload_postgres(const PgProbe& probe);
  // Whether the scheduled restart is due now; drops one that is stale or was overtaken by a
  // restart since it was scheduled. Never while paused.
  bool scheduled_restart_due(const ClusterView& view, const PgProbe& probe);
  // How long step() may sleep before the scheduled restart falls due (loop_wait when none).
  std::chrono::milliseconds until_scheduled_restart() const;
  // The member key's "scheduled_restart" (JSON text, "" when none).
  std::string scheduled_restart_for_member_key() const;
  // GET /patroni shows a scheduled restart at once, as Patroni's does (the member key follows at
  // the next iteration). Any thread.
  void publish_schedule();
  // Between iterations, while a long planned step runs: /primary and /replica answer 503 and
  // GET /patroni shows `state` (Patroni's "restarting", "creating replica").
  void publish_interim(const std::string& state, const std::string& action);

  // ha_loop_dynamic_config.cc: the dynamic configuration (/config) applied at run time. Each
  // iteration, from the keys read with the cluster, the HA settings, synchronous replication and
  // PostgreSQL's parameters follow /config; each change (or refusal) is logged once.
  void apply_dynamic_config(const RangeResponse& range);
  // ttl, loop_wait, retry_timeout, maximum_lag_on_failover. loop_wait and retry_timeout take
  // effect only once they fit the lease actually held (a lease of the new ttl is asked for at once).
  void apply_timing(const DynamicSettings& wanted);
  // synchronous_mode and its settings; off: the leader deletes /sync, then (only then) the
  // agent's synchronous_standby_names goes. Returns whether that file is still to be kept.
  bool apply_synchronous_mode(const DynamicSettings& wanted, const RangeResponse& range);
  // Synchronous replication from now on, with the settings of `wanted`.
  void start_synchronous_replication(const DynamicSettings& wanted);
  void apply_postgresql_parameters(const DynamicSettings& wanted, bool keep_sync_file);
  // A lease of settings_.ttl replaces ours; while we lead, the leader key moves onto it first
  // (the watchdog already armed for the earlier of both leases). False: the old lease stays.
  bool renew_lease_for_new_ttl();
  // Revokes the lease a ttl change replaced (its member key has moved by now), and lets go of a
  // new lease whose leader-key move went unanswered.
  void retire_replaced_lease();

  const AgentConfig& config_;
  Dcs& dcs_;
  LocalPostgres& postgres_;
  PeerClient& peers_;
  FenceWatchdog* watchdog_;
  SwitchoverTimings timings_;
  std::unique_ptr<PostgresCallbacks> no_callbacks_;  // when none was given
  PostgresCallbacks* callbacks_;
  KeyLayout keys_;
  HaSettings settings_;
  std::string conn_url_;
  std::string api_url_;

  std::int64_t lease_id_ = 0;
  Clock::time_point last_refresh_{};            // last successful lease keepalive/grant
  std::optional<SyncReplication> sync_;           // synchronous_mode only
  std::optional<Clock::time_point> doubt_since_;  // first failed refresh after the last success
  std::optional<Clock::time_point> not_streaming_since_;  // replica of the leader, receiver not streaming
  bool checkpoint_after_promotion_ = false;  // promoted: CHECKPOINT once the new role is published
  // pre_promote refused a promotion: when, or when the lock was let go after it.
  std::optional<Clock::time_point> promotion_refused_at_;
  bool holds_lock_ = false;
  bool immediate_ = false;                      // run the next iteration without waiting
  bool initialize_key_stale_ = false;           // a failed bootstrap's initialize key still to delete
  std::vector<std::string> logged_unreadable_;  // the etcd keys last reported as unreadable
  MemberSlots slots_;                           // the leader's replication slots
  // Failsafe mode: as last read from /config (read by REST threads too); the members a round
  // asks (the /failsafe key as last read, with what we last wrote); the start of the last round
  // that every one of them accepted; what this member confirmed to others.
  std::atomic<bool> failsafe_mode_{false};
  FailsafeTopology failsafe_topology_;
  std::optional<Clock::time_point> failsafe_confirmed_at_;
  std::string failsafe_refusal_logged_;
  bool etcd_write_failed_ = false;  // a put of this iteration failed
  FailsafeWitness witness_;
  // settings_.ttl and loop_wait as of the last iteration, for the REST threads.
  std::atomic<std::chrono::milliseconds::rep> witness_ttl_ms_{10000};
  std::atomic<std::chrono::milliseconds::rep> loop_wait_ms_{2000};
  std::optional<Clock::time_point> scheduled_wake_;  // a scheduled switchover's time (steady clock)
  std::string logged_schedule_;                      // the schedule last reported as awaited
  int history_recorded_for_ = 0;                // the timeline /history was last brought up to date for
  std::string logged_identifier_mismatch_;      // the /initialize value last reported as another cluster's
  bool watchdog_lost_ = false;                  // the fencing process is gone: never lead again
  bool warned_granted_ttl_ = false;             // etcd's granted TTL differed from ttl (said once)
  // The dynamic configuration: what applies where /config says nothing, what was last applied,
  // and the refusals last logged.
  DynamicSettings local_dynamic_;
  DynamicSettings dynamic_;
  std::vector<std::string> logged_config_errors_;
  bool logged_timing_wait_ = false;
  // The ttl of the lease we hold: fencing follows it, not settings_.ttl.
  std::chrono::milliseconds held_lease_ttl_{0};
  std::int64_t replaced_lease_ = 0;  // revoked at the next iteration
  // A new lease the leader key may have moved onto (the move went unanswered), and when it
  // expires: fencing also counts from it until it is revoked or expired.
  std::int64_t unsure_lease_ = 0;
  Clock::time_point unsure_lease_expiry_{};
  Clock::time_point unsure_lease_fence_{};  // its expiry less the fencing margin
  std::map<std::string, std::string> applied_parameters_;  // what PostgreSQL was last given
  bool applied_sync_file_ = false;
  std::unique_ptr<EtcdWatch> watch_;
  PlannedWork planned_;  // restart, reload, reinitialize requests and the scheduled restart

  mutable std::mutex mutex_;  // guards status_, outcome_, woken_ (with cv_)
  std::condition_variable cv_;
  bool woken_ = false;
  std::atomic<bool> stopping_{false};
  IterationObserver iteration_observer_;
  std::optional<Decision> carried_out_;  // this iteration's decision, once made (HA thread)
  std::atomic<std::uint64_t> iterations_begun_{0};
  std::atomic<Clock::rep> iteration_began_{0};  // steady_clock ticks; 0 between iterations
  NodeStatusPtr status_;
  SwitchoverOutcome outcome_;  // the latest; sequence 0 = none yet
};

}  // namespace pgha::election
