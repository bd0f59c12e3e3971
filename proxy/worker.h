// Worker: one relay thread with its own io_context, its own SO_REUSEPORT acceptor per
// listener, its BufferPool, its EdgePoller and the sessions it accepted (which never leave it).
// Its thread runs the EdgePoller's loop: relay events go to their sessions, and the io_context
// (accept, connect, timers, posted messages) runs inside it. It receives HealthSnapshots as
// posted messages, closes the sessions of servers whose shut flag rose, and sweeps idle
// sessions once per tick.
// A worker whose loop or accept loop fails with an exception ends the process (thread_failure.h).
// Thread-safety: bind() and start()/join() from the owning thread; post_* from any thread;
// everything else runs on the worker's thread.
#pragma once

#include <atomic>
#include <chrono>
#include <deque>
#include <functional>
#include <memory>
#include <thread>
#include <vector>

#include <boost/asio/awaitable.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/steady_timer.hpp>

#include "proxy/buffer_pool.h"
#include "proxy/pipe_pool.h"
#include "proxy/edge_poller.h"
#include "proxy/health_snapshot.h"
#include "proxy/listener_handover.h"
#include "proxy/listener_state.h"

namespace pgha::proxy {

class Session;

class Worker {
 public:
  Worker(int id, std::vector<ListenerState*> listeners, HealthSnapshotPtr initial_health);
  ~Worker();
  Worker(const Worker&) = delete;
  Worker& operator=(const Worker&) = delete;

  // Opens and binds this worker's acceptors (SO_REUSEPORT), without listening yet. ports[i], when
  // given and non-zero, replaces listener i's configured port (so that every worker shares the
  // port the first one got for a configured port 0). A listener whose configured address is in
  // `handover` adopts one of those listening sockets instead of binding a new one. Throws
  // boost::system::system_error naming the listener on failure. Call before start().
  void bind(const std::vector<std::uint16_t>& ports = {}, ListenerHandover* handover = nullptr);
  // listen() on the acceptors bind() opened: from then on the kernel counts them in the port's
  // reuseport group and queues clients on them. Throws like bind(). start() does it when not done.
  void listen();
  // True once every acceptor listens (adopted ones from a handover always do).
  bool listening() const { return not_listening_.empty(); }
  // Adds a duplicate of each of this worker's listening sockets to `handover` (reload).
  void hand_over_listeners(ListenerHandover& handover) const;
  void start();
  void join();

  // Thread-safe: queue work on the worker's thread.
  void post_health(HealthSnapshotPtr snapshot);
  void post_stop_accepting();
  void post_close_all_sessions();
  void post_stop();  // stops the io_context (after sessions are closed)
  // Runs `task` on the worker's thread. A task that throws fails the worker like any failure of
  // its loop: the process exits (thread_failure.h). Tests inject such failures with it.
  void post_task(std::function<void()> task);

  int id() const { return id_; }
  std::size_t session_count() const { return session_count_.load(std::memory_order_relaxed); }
  boost::asio::ip::tcp::endpoint local_endpoint(std::size_t listener) const;

  // Worker-thread only: used by Session.
  const HealthSnapshot& health() const { return *health_; }
  BufferPool& buffers() { return buffers_; }
  PipePool& pipes() { return pipes_; }
  // When the current batch of relay events was fetched: activity stamps without a clock read per
  // forwarded chunk (idle timeouts are swept at a tick of 10 ms or more).
  std::chrono::steady_clock::time_point batch_time() const { return batch_time_; }
  void link(Session* session);
  void unlink(Session* session);
  void spawn(boost::asio::awaitable<void> task);
  boost::asio::io_context::executor_type executor() { return io_.get_executor(); }
  EdgePoller& poller() { return poller_; }
  // A pump that spent its fairness budget continues after the current batch of events.
  void defer(std::shared_ptr<Session> session, int pump) { deferred_.push_back({std::move(session), pump}); }
  // Holds a client that found no server UP, when its listener holds clients: the worker keeps
  // it (nothing read, no buffer, no coroutine) and runs it again, oldest first, when a health
  // snapshot shows a server of its listener UP. False (the caller closes it): the listener does
  // not hold, hold_max is reached, or this client's hold_timeout has passed.
  bool hold(std::shared_ptr<Session> session);
  // A closed session's last reference, dropped once the current batch of events is handled.
  void retire(std::shared_ptr<Session> session) { retired_.push_back(std::move(session)); }

 private:
  struct Deferred {
    std::shared_ptr<Session> session;
    int pump;
  };
  void run_loop();
  void run_deferred();
  void close_relaying_sessions();
  boost::asio::awaitable<void> accept_loop(std::size_t listener_index);
  std::chrono::milliseconds sweep_tick() const;
  void apply_health(HealthSnapshotPtr snapshot);
  void close_sessions_of(std::size_t listener, int server);
  void close_idle_sessions(std::chrono::steady_clock::time_point now);
  void release_held(std::size_t listener);
  void expire_held(std::chrono::steady_clock::time_point now);

  // Declaration order matters: io_ is destroyed after the acceptors and the poller, and before
  // what pending sessions touch when their coroutine frames are destroyed (buffers_, the
  // session list, the retired and deferred sessions).
  const int id_;
  std::vector<ListenerState*> listeners_;
  HealthSnapshotPtr health_;
  BufferPool buffers_;
  PipePool pipes_;
  Session* sessions_ = nullptr;  // intrusive list head
  std::atomic<std::size_t> session_count_{0};
  std::vector<Deferred> deferred_;
  std::vector<Deferred> running_deferred_;
  std::vector<std::shared_ptr<Session>> retired_;
  std::vector<std::deque<std::shared_ptr<Session>>> held_;  // per listener, oldest first
  std::chrono::steady_clock::time_point batch_time_ = std::chrono::steady_clock::now();
  boost::asio::io_context io_{1};
  boost::asio::executor_work_guard<boost::asio::io_context::executor_type> work_{io_.get_executor()};
  EdgePoller poller_{io_};
  std::vector<std::unique_ptr<boost::asio::ip::tcp::acceptor>> acceptors_;
  std::vector<std::size_t> not_listening_;  // acceptors bound by bind() that listen() has not started
  std::thread thread_;
};

}  // namespace pgha::proxy
