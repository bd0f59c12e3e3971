// ListenerState: what all workers share about one listener: its config, its ServerPool and
// its counters. Counters are relaxed atomics updated once per session, never per chunk.
#pragma once

#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>

#include "proxy/config.h"
#include "proxy/server_pool.h"
#include "proxy/session_limit.h"

namespace pgha::proxy {

// Told of a server that failed client connects ("observe layer4"), once its error limit is
// reached. Thread-safe: called from any worker, once per such event, never per chunk.
class ConnectObserver {
 public:
  virtual ~ConnectObserver() = default;
  virtual void connect_errors(std::size_t listener, std::size_t server) = 0;
};

struct ListenerState {
  ListenerState(const ListenerConfig& cfg, std::vector<boost::asio::ip::tcp::endpoint> endpoints,
                SessionLimit& process_limit)
      : config(cfg), pool(cfg, std::move(endpoints)), sessions(cfg.maxconn), process(process_limit) {}

  // Idle limit of a session, HAProxy-style: "timeout tunnel" when set, else the smaller of
  // "timeout client" and "timeout server" that is set; zero means no limit.
  Millis idle_timeout() const {
    if (config.timeout_tunnel.count() > 0) return config.timeout_tunnel;
    const Millis c = config.timeout_client, s = config.timeout_server;
    if (c.count() > 0 && s.count() > 0) return std::min(c, s);
    return c.count() > 0 ? c : s;
  }

  // Reserves a session slot against the listener's and the process's maxconn (before accept,
  // so that two workers cannot both take the last slot). Session's destructor gives it back.
  bool try_reserve_slot() {
    if (!sessions.try_take()) return false;
    if (process.try_take()) return true;
    sessions.give_back();
    return false;
  }
  void release_slot() {
    process.give_back();
    sessions.give_back();
  }

  // A slot among the clients held while no server is UP (hold_max across workers).
  bool try_hold() { return held.try_take(); }
  void end_hold(std::chrono::steady_clock::duration waited) {
    held.give_back();
    const auto us = static_cast<std::uint64_t>(std::chrono::duration_cast<std::chrono::microseconds>(waited).count());
    held_wait_us.fetch_add(us, std::memory_order_relaxed);
    std::uint64_t max = held_wait_max_us.load(std::memory_order_relaxed);
    while (us > max && !held_wait_max_us.compare_exchange_weak(max, us, std::memory_order_relaxed)) {
    }
  }

  const ListenerConfig& config;
  ServerPool pool;
  ConnectObserver* observer = nullptr;           // set before the workers start
  SessionLimit sessions;                         // sessions open on this listener, all workers
  SessionLimit& process;                         // the process-wide limit (global maxconn)
  std::atomic<std::uint64_t> accepted{0};
  std::atomic<std::uint64_t> no_server{0};       // clients closed because no server was available
  std::atomic<std::uint64_t> connect_failed{0};  // clients closed after every connect attempt failed
  std::atomic<std::uint64_t> idle_closed{0};
  std::atomic<std::uint64_t> bytes_in{0};        // client → server, added when a session ends
  std::atomic<std::uint64_t> bytes_out{0};       // server → client, added when a session ends
  std::atomic<std::uint64_t> bytes_spliced{0};   // of bytes_in + bytes_out, moved with splice(2)
  SessionLimit held{config.hold_max};            // clients held now (no server UP)
  std::atomic<std::uint64_t> held_total{0};      // clients ever held
  std::atomic<std::uint64_t> held_expired{0};    // of which closed at hold_timeout
  std::atomic<std::uint64_t> held_refused{0};    // clients closed because hold_max was reached
  std::atomic<std::uint64_t> held_abandoned{0};  // held clients that hung up before a server came UP
  std::atomic<std::uint64_t> held_wait_us{0};    // time held clients waited, all of them
  std::atomic<std::uint64_t> held_wait_max_us{0};
};

}  // namespace pgha::proxy
