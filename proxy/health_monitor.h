// HealthMonitor: runs one Checker + CheckState per checked server on its own io thread,
// keeps each server's latest check detail for the admin API, and on every UP/DOWN
// transition publishes a new immutable HealthSnapshot through the callback (which posts it
// to the workers). Also applies admin overrides (maint/drain/ready).
// Thread-safety: start()/stop() from the owning (main) thread; snapshot() and status() from
// any thread (they take a mutex that the forwarding path never touches).
#pragma once

#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include <boost/asio/awaitable.hpp>
#include <boost/asio/io_context.hpp>

#include "health/check_state.h"
#include "proxy/config.h"
#include "proxy/health_snapshot.h"

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
  std::string last_detail;     // e.g. "HTTP 200", "timeout after 500 ms"
  double last_duration_ms = 0;
  std::int64_t last_change_unix_ms = 0;
};

class HealthMonitor {
 public:
  using Publish = std::function<void(HealthSnapshotPtr)>;

  HealthMonitor(const ProxyConfig& config, Publish publish);
  ~HealthMonitor();
  HealthMonitor(const HealthMonitor&) = delete;
  HealthMonitor& operator=(const HealthMonitor&) = delete;

  void start();
  void stop();

  HealthSnapshotPtr snapshot() const;
  ServerHealth status(std::size_t listener, std::size_t server) const;

  enum class AdminState { kReady, kDrain, kMaint };
  // Returns false when the listener/server does not exist.
  bool set_admin_state(const std::string& listener, const std::string& server, AdminState state);

 private:
  boost::asio::awaitable<void> check_loop(std::size_t listener, std::size_t server);
  // Rebuild the snapshot from status_ (and publish it). Caller holds mutex_.
  HealthSnapshotPtr build_snapshot_locked();
  void publish_locked();

  const ProxyConfig& config_;
  Publish publish_;
  boost::asio::io_context io_{1};
  std::thread thread_;
  mutable std::mutex mutex_;
  std::vector<std::vector<ServerHealth>> status_;
  HealthSnapshotPtr snapshot_;
  std::uint64_t version_ = 0;
};

}  // namespace pgha::proxy
