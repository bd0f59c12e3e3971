// FenceWatchdog: a software watchdog in a separate process, forked by pgha-agent at start-up
// (before any thread exists). While the agent leads, it keeps the watchdog armed with a deadline
// just inside its etcd lease (last refresh + ttl - margin). If the deadline passes without being
// pushed forward (agent hung or SIGSTOPped), or the agent dies while armed (kill -9: the pipe
// closes), the watchdog stops this node's PostgreSQL at once (SIGQUIT to the postmaster:
// immediate shutdown), so an old primary can never take writes once its lease may have expired
// and another node may have been promoted. Until the agent renews the deadline or disarms, a
// postmaster that starts again in the data directory is stopped too (an agent that resumes after a
// pause may act once on what it knew before it). Patroni relies on the kernel's watchdog for this; we
// need no device, because the fencing process outlives the agent.
//
// When the agent dies while leading, the watchdog also revokes the agent's etcd lease once the
// postmaster has exited (not before: the lease is what keeps the others from promoting), so a
// replica takes over at once instead of waiting for the lease to run out.
//
// Thread-safety: arm()/disarm() from the HA thread only. The watchdog process itself is
// single-threaded and exits when the agent closes the pipe while disarmed.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>

#include "election/etcd_options.h"

namespace pgha::election {

class FenceWatchdog {
 public:
  using Clock = std::chrono::steady_clock;  // CLOCK_MONOTONIC: shared by both processes

  // Forks the watchdog for the PostgreSQL of `data_dir`; `etcd` is how it reaches etcd to revoke
  // the agent's lease (no endpoints: it never revokes). Returns nullptr (and logs) on failure.
  static std::unique_ptr<FenceWatchdog> start(const std::string& data_dir, EtcdClientOptions etcd = {});
  ~FenceWatchdog();  // disarms and closes the pipe: the watchdog exits
  FenceWatchdog(const FenceWatchdog&) = delete;
  FenceWatchdog& operator=(const FenceWatchdog&) = delete;

  // PostgreSQL is fenced at `deadline` unless arm() is called again before it. False (logged)
  // when the watchdog could not be told: it may be gone, and then nothing fences for us.
  [[nodiscard]] bool arm(Clock::time_point deadline);
  [[nodiscard]] bool disarm();
  // The agent's current etcd lease (0: none), revoked after fencing if the agent dies.
  [[nodiscard]] bool set_lease(std::int64_t lease_id);
  int pid() const { return pid_; }

  // The watchdog process's main loop (exposed for tests): reads deadlines from `fd` and fences
  // the postmaster of `data_dir` when one passes or the pipe closes while armed. Returns the
  // number of times it fenced when the pipe closes.
  static int watch(int fd, const std::string& data_dir, const EtcdClientOptions& etcd = {});

 private:
  FenceWatchdog(int fd, int pid) : fd_(fd), pid_(pid) {}
  bool send(long long kind, long long value, long long& last_sent);

  int fd_;
  int pid_;
  long long last_deadline_ = -1;
  long long last_lease_ = -1;
};

}  // namespace pgha::election
