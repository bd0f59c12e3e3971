// PlannedWork: the operator's planned work on this node on its way from the REST API to the HA
// loop, and the outcomes on their way back: a restart or a reinitialize (one job at a time, run
// by the HA thread, the request waiting bounded for its answer), a reload (a flag), and the one
// scheduled restart (kept here, as Patroni keeps it in memory, and published in the member key).
//
// Owned by HaLoop. submit(), schedule(), cancel_schedule(), request_reload() and the readers are
// called from REST threads; take(), answer(), finish() and take_reload() from the HA thread. All
// thread-safe.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <mutex>
#include <optional>
#include <string>

#include "election/rest_api.h"
#include "election/restart_request.h"

namespace pgha::election {

class PlannedWork {
 public:
  using Millis = std::chrono::milliseconds;
  enum class Kind { kRestart, kReinitialize };

  struct Job {
    std::uint64_t id = 0;
    Kind kind = Kind::kRestart;
    RestartRequest restart;  // kRestart
  };

  struct ScheduledRestart {
    RestartRequest request;             // request.schedule is set
    std::string postmaster_start_time;  // when it was scheduled: a restart since cancels it
  };

  // Hands a job to the HA thread, calls `wake`, and waits up to `wait` for its answer (for a
  // restart its outcome; for a reinitialize that it started). While another job waits or runs:
  // 503 "<restart|reinitialize> already in progress", as Patroni answers; with `force` a job that
  // has not started yet is withdrawn instead (its request gets 503) and this one takes its place.
  // A job the HA loop has not taken within `wait` is withdrawn (503).
  SwitchoverResult submit(Kind kind, const RestartRequest& restart, bool force, Millis wait,
                          const std::function<void()>& wake);
  // HA thread: the job to run now (it counts as running until finish()).
  std::optional<Job> take();
  // HA thread: the answer for the job's request (sent at once; the job may still run).
  void answer(std::uint64_t id, SwitchoverResult result);
  // HA thread: the job is over.
  void finish(std::uint64_t id);

  void request_reload();
  bool take_reload();

  // False when one is already scheduled (Patroni's 409).
  bool schedule(ScheduledRestart restart);
  // False when none was scheduled.
  bool cancel_schedule();
  std::optional<ScheduledRestart> scheduled() const;

  static const char* name(Kind kind) { return kind == Kind::kRestart ? "restart" : "reinitialize"; }

 private:
  mutable std::mutex mutex_;
  std::condition_variable cv_;
  std::uint64_t next_id_ = 0;
  std::optional<Job> queued_;
  std::optional<Job> running_;
  std::uint64_t answered_id_ = 0;
  SwitchoverResult answer_;
  bool reload_ = false;
  std::optional<ScheduledRestart> scheduled_;
};

}  // namespace pgha::election
