// HaLoop: pgha-agent's high-availability loop. Each iteration: keep our etcd lease alive, read
// the cluster (one range over the scope), probe the local PostgreSQL, ask decide() what to do,
// do it (bootstrap, clone, start, take the lock, promote, demote, follow, rewind, step down),
// publish our member key and the NodeStatus snapshot for the REST API. It sleeps loop_wait
// between iterations, but a watch on the scope wakes it at once (a vanished leader key is
// contested immediately), and while the lock is in doubt it retries every second so that it
// fences (demotes) within retry_timeout, before the lease can expire for the others.
//
// Threads: run() on the agent's HA thread (blocking etcd and PostgreSQL calls live only
// there). status(), request_switchover() and stop() are thread-safe (REST and signal threads).
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <optional>
#include <string>

#include "election/agent_config.h"
#include "election/etcd_client.h"
#include "election/fence_watchdog.h"
#include "election/ha_decision.h"
#include "election/member_codec.h"
#include "election/node_status.h"
#include "election/postgres_control.h"
#include "election/rest_api.h"

namespace pgha::election {

class HaLoop {
 public:
  // `watchdog` (optional) is kept armed just inside our lease while we lead.
  HaLoop(const AgentConfig& config, EtcdClient& etcd, PostgresControl& postgres, FenceWatchdog* watchdog = nullptr);
  ~HaLoop();
  HaLoop(const HaLoop&) = delete;
  HaLoop& operator=(const HaLoop&) = delete;

  // Runs until stop(); then steps down cleanly (stops PostgreSQL, releases the leader key and
  // revokes the lease, so the others take over at once instead of after ttl).
  void run();
  void stop();

  NodeStatusPtr status() const;
  // POST /switchover and /failover: validates against the current view, writes the failover key,
  // and waits (bounded) for the new leader.
  SwitchoverResult request_switchover(const SwitchoverRequest& request, bool failover);

 private:
  using Clock = std::chrono::steady_clock;

  void iteration();
  bool keep_lease_alive();
  void act(const Decision& decision, const ClusterView& view, const LocalState& local);
  bool take_lock();
  void release_lock();
  void publish(const ClusterView& view, const LocalState& local, const PgProbe& probe, const Decision& decision);
  std::optional<PgUpstream> upstream_of(const ClusterView& view, const std::string& member) const;
  void wake();
  void update_watchdog();
  void sleep_until_next_iteration(std::chrono::milliseconds delay);

  const AgentConfig& config_;
  EtcdClient& etcd_;
  PostgresControl& postgres_;
  FenceWatchdog* watchdog_;
  KeyLayout keys_;
  HaSettings settings_;
  std::string conn_url_;
  std::string api_url_;

  std::int64_t lease_id_ = 0;
  Clock::time_point last_refresh_{};            // last successful lease keepalive/grant
  std::optional<Clock::time_point> doubt_since_;  // first failed refresh after the last success
  std::optional<Clock::time_point> not_streaming_since_;  // replica of the leader, receiver not streaming
  bool holds_lock_ = false;
  bool immediate_ = false;                      // run the next iteration without waiting
  std::unique_ptr<EtcdWatch> watch_;

  mutable std::mutex mutex_;  // guards status_, wake_/stop_ flags with cv_
  std::condition_variable cv_;
  bool woken_ = false;
  std::atomic<bool> stopping_{false};
  NodeStatusPtr status_;
};

}  // namespace pgha::election
