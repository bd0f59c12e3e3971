// ProxyService: assembles a running pgha-proxy from a ProxyConfig: resolves servers, binds
// every listener on every worker (SO_REUSEPORT) before anything else starts, then runs the
// workers, the HealthMonitor and the admin server, and stops them gracefully.
// Thread-safety: start()/stop() from one owning thread; the read accessors from any thread.
#pragma once

#include <chrono>
#include <memory>
#include <vector>

#include <boost/asio/ip/tcp.hpp>

#include "proxy/config.h"
#include "proxy/health_monitor.h"
#include "proxy/listener_state.h"
#include "proxy/session_limit.h"
#include "proxy/worker.h"

namespace pgha::proxy {

class AdminServer;

class ProxyService {
 public:
  // Resolves server addresses (start-up only). Throws std::runtime_error naming the server on
  // failure.
  explicit ProxyService(ProxyConfig config);
  ~ProxyService();
  ProxyService(const ProxyService&) = delete;
  ProxyService& operator=(const ProxyService&) = delete;

  // Binds all listeners and the admin port, then starts threads. Throws on a bind failure,
  // with nothing left running.
  void start();
  // Stops accepting, waits up to `grace` for sessions to end, closes the rest, joins threads.
  void stop(std::chrono::milliseconds grace);

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

 private:
  ProxyConfig config_;
  SessionLimit process_sessions_;  // global maxconn, shared by every listener
  std::vector<std::unique_ptr<ListenerState>> listeners_;
  std::vector<std::unique_ptr<Worker>> workers_;
  std::unique_ptr<HealthMonitor> health_;
  std::unique_ptr<AdminServer> admin_;
  bool running_ = false;
};

}  // namespace pgha::proxy
