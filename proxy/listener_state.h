// ListenerState: what all workers share about one listener: its config, its ServerPool and
// its counters. Counters are relaxed atomics updated once per session, never per chunk.
#pragma once

#include <atomic>
#include <cstdint>

#include "proxy/config.h"
#include "proxy/server_pool.h"

namespace pgha::proxy {

struct ListenerState {
  ListenerState(const ListenerConfig& cfg, std::vector<boost::asio::ip::tcp::endpoint> endpoints)
      : config(cfg), pool(cfg, std::move(endpoints)) {}

  // Idle limit of a session, HAProxy-style: "timeout tunnel" when set, else the smaller of
  // "timeout client" and "timeout server" that is set; zero means no limit.
  Millis idle_timeout() const {
    if (config.timeout_tunnel.count() > 0) return config.timeout_tunnel;
    const Millis c = config.timeout_client, s = config.timeout_server;
    if (c.count() > 0 && s.count() > 0) return std::min(c, s);
    return c.count() > 0 ? c : s;
  }

  // Reserves a session slot against maxconn across all workers (before accept, so that two
  // workers cannot both take the last slot). Session's destructor gives it back.
  bool try_reserve_slot() {
    const int maxconn = config.maxconn;
    int current = active.load(std::memory_order_relaxed);
    do {
      if (maxconn > 0 && current >= maxconn) return false;
    } while (!active.compare_exchange_weak(current, current + 1, std::memory_order_relaxed));
    return true;
  }
  void release_slot() { active.fetch_sub(1, std::memory_order_relaxed); }

  const ListenerConfig& config;
  ServerPool pool;
  std::atomic<int> active{0};                    // sessions open on this listener, all workers
  std::atomic<std::uint64_t> accepted{0};
  std::atomic<std::uint64_t> no_server{0};       // clients closed because no server was available
  std::atomic<std::uint64_t> connect_failed{0};  // clients closed after every connect attempt failed
  std::atomic<std::uint64_t> idle_closed{0};
  std::atomic<std::uint64_t> bytes_in{0};        // client → server, added when a session ends
  std::atomic<std::uint64_t> bytes_out{0};       // server → client, added when a session ends
};

}  // namespace pgha::proxy
