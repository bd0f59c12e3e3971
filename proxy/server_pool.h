// ServerPool: the servers of one listener, their live counters, and the balancing rules
// (first, roundrobin, leastconn with HAProxy's rule; backup servers only when no active
// server is eligible). Shared by all workers: the counters are relaxed atomics touched once
// per session (pick/acquire/release), never per forwarded chunk. pick() is lock-free and
// callable from any worker thread with that worker's HealthSnapshot row.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <vector>

#include <boost/asio/ip/tcp.hpp>

#include "proxy/config.h"
#include "proxy/session_limit.h"

namespace pgha::proxy {

struct ServerStats {
  explicit ServerStats(int maxconn) : sessions(maxconn) {}
  SessionLimit sessions;                      // sessions currently assigned (connecting or relaying)
  std::atomic<std::uint64_t> total{0};        // sessions ever assigned
  std::atomic<std::uint64_t> connect_failures{0};
  std::atomic<std::uint64_t> killed_on_down{0};
  std::atomic<std::uint64_t> bytes_in{0};     // client → server, added when a session ends
  std::atomic<std::uint64_t> bytes_out{0};    // server → client, added when a session ends
  std::atomic<int> consecutive_connect_errors{0};  // "observe layer4": reset by a connect that works
};

class ServerPool {
 public:
  ServerPool(const ListenerConfig& listener, std::vector<boost::asio::ip::tcp::endpoint> endpoints);

  // Index of the server for a new session, or -1 when none is eligible. `up` is the
  // listener's row of the worker's HealthSnapshot; `exclude` (optional) is a server that just
  // failed to connect for this session. Eligible: up, weight > 0, below its maxconn.
  int pick(const std::vector<std::uint8_t>& up, int exclude = -1);

  // Counts a session on server i. Returns false (and counts nothing) if the server reached its
  // maxconn between pick() and acquire() on another worker.
  bool acquire(int i);
  // Whether any server other than `exclude` is UP in `up` (whatever its maxconn or weight).
  bool any_up(const std::vector<std::uint8_t>& up, int exclude = -1) const;
  // Whether pick() would find a server now (UP, weight > 0, below its maxconn).
  bool has_room(const std::vector<std::uint8_t>& up) const;
  void release(int i);

  int size() const { return static_cast<int>(stats_.size()); }
  const ServerConfig& config(int i) const { return listener_.servers[i]; }
  const boost::asio::ip::tcp::endpoint& endpoint(int i) const { return endpoints_[i]; }
  const ServerStats& stats(int i) const { return *stats_[i]; }
  ServerStats& stats(int i) { return *stats_[i]; }

 private:
  bool eligible(int i, const std::vector<std::uint8_t>& up, int exclude) const;
  int pick_first(const std::vector<std::uint8_t>& up, int exclude, bool backup) const;
  int pick_round_robin(const std::vector<std::uint8_t>& up, int exclude, bool backup);
  int pick_least_connections(const std::vector<std::uint8_t>& up, int exclude, bool backup);

  const ListenerConfig& listener_;
  std::vector<boost::asio::ip::tcp::endpoint> endpoints_;
  std::vector<std::unique_ptr<ServerStats>> stats_;
  std::atomic<std::uint32_t> rotation_{0};
};

}  // namespace pgha::proxy
