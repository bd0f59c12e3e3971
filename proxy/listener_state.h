// ListenerState: what all workers share about one listener: its config, its ServerPool and
// its counters. Counters are relaxed atomics updated once per session, never per chunk.
#pragma once

#include <atomic>
#include <cstdint>

#include "proxy/config.h"
#include "proxy/server_pool.h"
#include "proxy/session_limit.h"

namespace pgha::proxy {

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

  const ListenerConfig& config;
  ServerPool pool;
  SessionLimit sessions;                         // sessions open on this listener, all workers
  SessionLimit& process;                         // the process-wide limit (global maxconn)
  std::atomic<std::uint64_t> accepted{0};
  std::atomic<std::uint64_t> no_server{0};       // clients closed because no server was available
  std::atomic<std::uint64_t> connect_failed{0};  // clients closed after every connect attempt failed
  std::atomic<std::uint64_t> idle_closed{0};
  std::atomic<std::uint64_t> bytes_in{0};        // client → server, added when a session ends
  std::atomic<std::uint64_t> bytes_out{0};       // server → client, added when a session ends
  std::atomic<std::uint64_t> bytes_spliced{0};   // of bytes_in + bytes_out, moved with splice(2)
};

}  // namespace pgha::proxy
