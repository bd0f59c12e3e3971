// ProxyService: assembles a running pgha-proxy from a ProxyConfig: resolves servers, binds
// every listener on every worker (SO_REUSEPORT) before anything else starts, then runs the
// workers, the HealthMonitor and the admin server, and stops them gracefully.
//
// Reload (SIGHUP) replaces a running service with a new one built from the new configuration:
// the new one starts from the old one's server states (UP/DOWN, maint/drain) and adopts its
// listening sockets (ListenerHandover), then the old one stops accepting and drains its
// sessions, which keep the configuration they started with (as HAProxy's old process does).
// Thread-safety: start()/stop()/reload steps from one owning thread; the read accessors from any
// thread.
#pragma once

#include <atomic>
#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include <boost/asio/ip/tcp.hpp>

#include "proxy/config.h"
#include "proxy/health_monitor.h"
#include "proxy/listener_handover.h"
#include "proxy/listener_state.h"
#include "proxy/session_limit.h"
#include "proxy/worker.h"
#include "proxy/worker_ping.h"

namespace pgha::proxy {

class AdminServer;

class ProxyService {
 public:
  // Resolves server addresses (start-up only). Throws std::runtime_error naming the server on
  // failure. With `previous` (a reload), servers it also has (same listener, name and address)
  // start in the state they have there instead of their configured init-state, and keep their
  // admin state.
  explicit ProxyService(ProxyConfig config, const ProxyService* previous = nullptr);
  ~ProxyService();
  ProxyService(const ProxyService&) = delete;
  ProxyService& operator=(const ProxyService&) = delete;

  // Binds all listeners and the admin port, then starts threads. Throws on a bind failure,
  // with nothing left running.
  void start(ListenerHandover* handover = nullptr);
  // Reload steps on the old service: duplicates of its listening sockets for its successor;
  // stopping its admin server so that the successor can bind the port; restarting it when the
  // successor failed to start.
  ListenerHandover hand_over_listeners() const;
  void stop_admin();
  void restart_admin();
  // Stops accepting, waits up to `grace` for sessions to end, closes the rest, joins threads.
  void stop(std::chrono::milliseconds grace);
  // Thread-safe: a stop() in progress closes the remaining sessions after at most `grace` from
  // now (used to end a reload's drain when the process is asked to stop).
  void hurry_stop(std::chrono::milliseconds grace);

  const ProxyConfig& config() const { return config_; }
  std::size_t listener_count() const { return listeners_.size(); }
  const ListenerState& listener(std::size_t i) const { return *listeners_[i]; }
  HealthMonitor& health() { return *health_; }
  const HealthMonitor& health() const { return *health_; }
  std::size_t session_count() const;
  const SessionLimit& process_sessions() const { return process_sessions_; }
  // The bound address of listener i (useful with port 0 in tests).
  boost::asio::ip::tcp::endpoint listener_endpoint(std::size_t i) const;
  // The bound admin port (0 when the admin server is disabled).
  int admin_port() const;
  // Posts a no-op to every worker (any thread): the round is answered once each has run it.
  std::shared_ptr<WorkerPing> ping_workers();
  // The relay workers (tests post tasks to them).
  std::size_t worker_count() const { return workers_.size(); }
  Worker& worker(std::size_t i) { return *workers_[i]; }
  // One line for the service manager: listeners, servers UP of those configured, sessions.
  std::string status_line() const;

 private:
  ProxyConfig config_;
  int worker_count_;
  // Global maxconn, shared by every listener; capped to what the descriptor limit carries.
  SessionLimit process_sessions_;
  std::vector<std::unique_ptr<ListenerState>> listeners_;
  std::vector<std::unique_ptr<Worker>> workers_;
  std::unique_ptr<HealthMonitor> health_;
  std::unique_ptr<AdminServer> admin_;
  struct InheritedAdminState {
    std::string listener;
    std::string server;
    HealthMonitor::AdminState state;
  };
  void inherit_server_states(const ProxyService& previous);

  std::vector<InheritedAdminState> inherited_admin_states_;
  bool running_ = false;
  // When a stop() in progress gives up waiting for sessions (steady_clock ticks).
  std::atomic<std::chrono::steady_clock::rep> stop_deadline_{std::chrono::steady_clock::time_point::max().time_since_epoch().count()};
};

}  // namespace pgha::proxy
