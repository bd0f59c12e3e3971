// HealthMonitor: runs one Checker + CheckState per checked server on its own io thread,
// keeps each server's latest check detail for the admin API, and on every UP/DOWN
// transition publishes a new immutable HealthSnapshot through the callback (which posts it
// to the workers). Also applies admin overrides (maint/drain/ready), acts on failed client
// connects ("observe layer4": ConnectObserver), and delays the shutdown of sessions of a server
// that declined a check while it steps down (ServerConfig::shutdown_grace).
// A check loop or a handler that fails with an exception ends the process (thread_failure.h).
// Thread-safety: start()/stop() from the owning (main) thread; snapshot() and status() from
// any thread (they take a mutex that the forwarding path never touches).
#pragma once

#include <chrono>
#include <condition_variable>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include <boost/asio/awaitable.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>

#include "health/check_state.h"
#include "proxy/config.h"
#include "proxy/health_snapshot.h"
#include "proxy/listener_state.h"

namespace pgha::proxy {

// What the admin API shows for one server.
struct ServerHealth {
  bool up = false;
  bool checked = false;        // at least one check result (always true for unchecked servers)
  bool maintenance = false;    // admin "maint": no new sessions, existing ones closed
  bool draining = false;       // admin "drain": no new sessions, existing ones kept
  int health = 0;              // HAProxy's health counter
  int consecutive_failures = 0;
  int consecutive_successes = 0;
  std::uint64_t checks = 0;
  std::uint64_t transitions = 0;
  std::uint64_t checks_not_run = 0;  // checks that could not get a socket here (state unchanged)
  bool shutdown_pending = false;  // marked DOWN by a declining answer; sessions cut at the grace's end
  std::uint64_t observed_error_events = 0;  // times failed client connects reached the error limit
  std::string last_detail;     // e.g. "HTTP 200", "timeout after 500 ms"
  bool last_check_ok = false;        // the latest check that ran passed
  bool last_check_not_run = false;   // the latest probe could not get a socket here
  double last_duration_ms = 0;
  std::int64_t last_change_unix_ms = 0;
};

class HealthMonitor : public ConnectObserver {
 public:
  using Publish = std::function<void(HealthSnapshotPtr)>;

  HealthMonitor(const ProxyConfig& config, Publish publish);
  ~HealthMonitor() override;
  HealthMonitor(const HealthMonitor&) = delete;
  HealthMonitor& operator=(const HealthMonitor&) = delete;

  void start();
  void stop();

  // Waits until first_checks_done() or `timeout` passed; returns first_checks_done(). Any thread
  // but the monitor's own.
  bool wait_for_first_checks(std::chrono::milliseconds timeout);

  HealthSnapshotPtr snapshot() const;
  ServerHealth status(std::size_t listener, std::size_t server) const;

  // Whether every checked server has had its first check (a result, or a check that could not
  // run). Any thread.
  bool first_checks_done() const;
  // The longest deadline of one check of any server: the first round ends within it (0 without
  // checked servers).
  std::chrono::milliseconds longest_check_deadline() const;

  enum class AdminState { kReady, kDrain, kMaint };
  // Returns false when the listener/server does not exist.
  bool set_admin_state(const std::string& listener, const std::string& server, AdminState state);

  // ConnectObserver: applies the server's on-error action and checks it at once (any thread).
  void connect_errors(std::size_t listener, std::size_t server) override;

 private:
  // One checked server's loop state, touched only on the monitor's thread.
  struct Probe {
    health::CheckState state;
    boost::asio::steady_timer timer;
    bool checking = false;    // a check is running (a wake-up then means "check again at once")
    bool check_now = false;
    std::chrono::steady_clock::time_point shutdown_at{};  // with ServerHealth::shutdown_pending
  };
  boost::asio::awaitable<void> check_loop(std::size_t listener, std::size_t server);
  void on_connect_errors(std::size_t listener, std::size_t server);
  bool first_checks_done_locked() const;  // caller holds mutex_
  // Records a transition of server (li, si) and publishes it. Caller holds mutex_.
  void record_transition_locked(std::size_t li, std::size_t si, bool up, bool declined,
                                const std::string& reason, long long duration_ms);
  // Rebuild the snapshot from status_ (and publish it). Caller holds mutex_.
  HealthSnapshotPtr build_snapshot_locked();
  void publish_locked();

  const ProxyConfig& config_;
  Publish publish_;
  boost::asio::io_context io_{1};
  std::thread thread_;
  mutable std::mutex mutex_;
  std::condition_variable first_check_done_;  // notified (under mutex_) when a server's first check ends
  std::vector<std::vector<ServerHealth>> status_;
  std::vector<std::vector<std::unique_ptr<Probe>>> probes_;  // null for unchecked servers
  HealthSnapshotPtr snapshot_;
  std::uint64_t version_ = 0;
};

}  // namespace pgha::proxy
