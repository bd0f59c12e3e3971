#include "proxy/worker.h"

#include <fcntl.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include <boost/asio/detached.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/use_awaitable.hpp>

#include "proxy/log.h"
#include "proxy/session.h"
#include "proxy/thread_failure.h"

namespace pgha::proxy {

namespace asio = boost::asio;
using asio::ip::tcp;
using boost::system::error_code;

namespace {
// 64 KiB per read keeps bulk transfers (COPY, large results) at a few syscalls per MB; buffers
// are only borrowed while data is in flight, so the size does not cost idle sessions anything.
constexpr std::size_t kBufferSize = 64 * 1024;
// Free buffers a worker keeps after a burst (1 MiB); more are freed as they come back.
constexpr std::size_t kMaxIdleBuffers = 16;
// Empty pipes a worker keeps for bulk streams (two descriptors each).
constexpr std::size_t kMaxIdlePipes = 16;
// Bytes per splice(2) for bulk streams: 1 MiB halves the syscalls and CPU per MB of 64 KiB.
constexpr int kPipeSize = 1024 * 1024;
// How long accept pauses when the listener is full or the process is out of descriptors.
constexpr std::chrono::milliseconds kAcceptBackoff{10};

void log_task_exception(std::exception_ptr e) {
  if (!e) return;
  try {
    std::rethrow_exception(e);
  } catch (const std::exception& ex) {
    log().error("worker task ended with an exception: {}", ex.what());
  }
}
}  // namespace

Worker::Worker(int id, std::vector<ListenerState*> listeners, HealthSnapshotPtr initial_health)
    : id_(id),
      listeners_(std::move(listeners)),
      health_(std::move(initial_health)),
      buffers_(kBufferSize, kMaxIdleBuffers),
      pipes_(kMaxIdlePipes, kPipeSize),
      held_(listeners_.size()) {}

Worker::~Worker() {
  io_.stop();
  poller_.wake();
  join();
  // Relaying sessions hold themselves; end them while what they touch is alive.
  close_relaying_sessions();
}

void Worker::close_relaying_sessions() {
  for (Session* s = sessions_; s != nullptr;) {
    Session* next = s->next;
    s->close();
    s = next;
  }
  deferred_.clear();
  running_deferred_.clear();
  retired_.clear();
  for (auto& held : held_) held.clear();
}

void Worker::bind(const std::vector<std::uint16_t>& ports, ListenerHandover* handover) {
  for (std::size_t i = 0; i < listeners_.size(); ++i) {
    const ListenerConfig& cfg = listeners_[i]->config;
    const std::uint16_t port = i < ports.size() && ports[i] != 0 ? ports[i] : cfg.bind_port;
    error_code ec;
    auto address = asio::ip::make_address(cfg.bind_host, ec);
    if (ec) throw boost::system::system_error(ec, "listener " + cfg.name + ": bad bind address " + cfg.bind_host);
    tcp::endpoint endpoint(address, port);
    auto acceptor = std::make_unique<tcp::acceptor>(io_);
    if (const int fd = handover && cfg.bind_port != 0 ? handover->take(ListenerHandover::key(cfg.bind_host, cfg.bind_port)) : -1;
        fd >= 0) {
      acceptor->assign(endpoint.protocol(), fd, ec);
      if (ec) {
        ::close(fd);
        throw boost::system::system_error(ec, "listener " + cfg.name + ": cannot adopt the listening socket");
      }
      acceptor->non_blocking(true);
      acceptors_.push_back(std::move(acceptor));
      continue;
    }
    acceptor->open(endpoint.protocol());
    acceptor->set_option(tcp::acceptor::reuse_address(true));
    int one = 1;
    if (::setsockopt(acceptor->native_handle(), SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one)) != 0) {
      throw boost::system::system_error(error_code(errno, boost::system::system_category()),
                                        "listener " + cfg.name + ": SO_REUSEPORT");
    }
    acceptor->bind(endpoint, ec);
    if (ec) {
      throw boost::system::system_error(ec, "listener " + cfg.name + ": cannot bind " + cfg.bind_host + ":" +
                                                std::to_string(port));
    }
    acceptor->non_blocking(true);
    not_listening_.push_back(acceptors_.size());
    acceptors_.push_back(std::move(acceptor));
  }
}

void Worker::listen() {
  for (const std::size_t i : not_listening_) {
    error_code ec;
    acceptors_[i]->listen(asio::socket_base::max_listen_connections, ec);
    if (ec) throw boost::system::system_error(ec, "listener " + listeners_[i]->config.name + ": cannot listen");
  }
  not_listening_.clear();
}

tcp::endpoint Worker::local_endpoint(std::size_t listener) const { return acceptors_.at(listener)->local_endpoint(); }

void Worker::hand_over_listeners(ListenerHandover& handover) const {
  for (std::size_t i = 0; i < acceptors_.size(); ++i) {
    const int fd = ::fcntl(acceptors_[i]->native_handle(), F_DUPFD_CLOEXEC, 0);
    if (fd < 0) continue;  // the successor binds a socket of its own
    handover.add(ListenerHandover::key(listeners_[i]->config.bind_host, local_endpoint(i).port()), fd);
  }
}

void Worker::start() {
  listen();
  // An accept loop that ends with an exception would leave its acceptor open and unserved.
  for (std::size_t i = 0; i < acceptors_.size(); ++i) {
    asio::co_spawn(io_, accept_loop(i), [this](std::exception_ptr e) {
      if (e) exit_on_thread_failure("worker " + std::to_string(id_) + " accept loop", e);
    });
  }
  thread_ = std::thread([this] {
    try {
      run_loop();
    } catch (...) {
      exit_on_thread_failure("worker " + std::to_string(id_), std::current_exception());
    }
  });
}

void Worker::run_loop() {
  // The idle sweep is the loop's own timeout, not an Asio timer: the steady state of a relay then
  // allocates nothing at all (Asio's handler memory cache lives only as long as one poll()).
  const auto tick = sweep_tick();
  auto next_sweep = std::chrono::steady_clock::now() + tick;
  while (!io_.stopped()) {
    // Block only when no pump is waiting for its next turn, and not past the next sweep.
    const auto until_sweep = std::chrono::ceil<std::chrono::milliseconds>(next_sweep - batch_time_);
    const int timeout_ms = deferred_.empty() ? static_cast<int>(std::max<std::int64_t>(0, until_sweep.count())) : 0;
    const auto events = poller_.wait(timeout_ms);
    batch_time_ = std::chrono::steady_clock::now();
    for (const epoll_event& ev : events) {
      auto* session = reinterpret_cast<Session*>(ev.data.u64 & ~std::uint64_t{1});
      session->on_ready(static_cast<int>(ev.data.u64 & 1), ev.events);
    }
    run_deferred();
    if (batch_time_ >= next_sweep) {
      close_idle_sessions(batch_time_);
      expire_held(batch_time_);
      next_sweep = batch_time_ + tick;
      poller_.io_due();  // closing a session that is still connecting completes Asio handlers
    }
    retired_.clear();
  }
  close_relaying_sessions();
}

void Worker::run_deferred() {
  if (deferred_.empty()) return;
  // Pumps that yield again go to the next batch, not this one.
  running_deferred_.swap(deferred_);
  for (Deferred& d : running_deferred_) d.session->resume(d.pump);
  running_deferred_.clear();
}

void Worker::join() {
  if (thread_.joinable()) thread_.join();
}

void Worker::spawn(asio::awaitable<void> task) { asio::co_spawn(io_, std::move(task), log_task_exception); }

void Worker::post_health(HealthSnapshotPtr snapshot) {
  asio::post(io_, [this, snapshot = std::move(snapshot)]() mutable { apply_health(std::move(snapshot)); });
  poller_.wake();
}

void Worker::post_task(std::function<void()> task) {
  asio::post(io_, std::move(task));
  poller_.wake();
}

void Worker::post_stop_accepting() {
  asio::post(io_, [this] {
    for (auto& a : acceptors_) {
      // Release (EPOLL_CTL_DEL) before closing: after a reload hand-over the socket lives on in
      // the successor, and a socket that stays open would stay in this reactor's epoll set.
      error_code ec;
      const int fd = a->release(ec);
      if (!ec) ::close(fd);
      a->close(ec);
    }
  });
  poller_.wake();
}

void Worker::post_close_all_sessions() {
  asio::post(io_, [this] {
    for (Session* s = sessions_; s != nullptr; s = s->next) s->close();
  });
  poller_.wake();
}

void Worker::post_stop() {
  asio::post(io_, [this] { io_.stop(); });
  poller_.wake();
}

void Worker::link(Session* session) {
  session->next = sessions_;
  if (sessions_) sessions_->prev = session;
  sessions_ = session;
  session_count_.fetch_add(1, std::memory_order_relaxed);
}

void Worker::unlink(Session* session) {
  if (session->prev) session->prev->next = session->next;
  if (session->next) session->next->prev = session->prev;
  if (sessions_ == session) sessions_ = session->next;
  session->prev = session->next = nullptr;
  session_count_.fetch_sub(1, std::memory_order_relaxed);
}

asio::awaitable<void> Worker::accept_loop(std::size_t index) {
  tcp::acceptor& acceptor = *acceptors_[index];
  ListenerState& listener = *listeners_[index];
  asio::steady_timer backoff(io_);
  while (acceptor.is_open()) {
    error_code ec;
    co_await acceptor.async_wait(tcp::acceptor::wait_read, asio::redirect_error(asio::use_awaitable, ec));
    if (ec == asio::error::operation_aborted || !acceptor.is_open()) co_return;
    // A slot is reserved only once a client is waiting, so an idle worker holds none. A full
    // listener stops accepting; clients wait in the kernel's backlog, as with HAProxy.
    if (!listener.try_reserve_slot()) {
      backoff.expires_after(kAcceptBackoff);
      co_await backoff.async_wait(asio::redirect_error(asio::use_awaitable, ec));
      continue;
    }
    // Accepted outside Asio's reactor: the session's EdgePoller watches the socket.
    const int fd = ::accept4(acceptor.native_handle(), nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd < 0) {
      const int err = errno;
      listener.release_slot();
      if (err == EAGAIN || err == EWOULDBLOCK || err == EINTR || err == ECONNABORTED) continue;
      if (!acceptor.is_open()) co_return;
      // EMFILE/ENFILE/ENOBUFS: back off instead of spinning; the client stays queued.
      log().error("{}: accept failed: {}", listener.config.name, std::strerror(err));
      backoff.expires_after(kAcceptBackoff * 10);
      co_await backoff.async_wait(asio::redirect_error(asio::use_awaitable, ec));
      continue;
    }
    auto session = std::make_shared<Session>(*this, index, listener, fd);
    spawn(Session::run(std::move(session)));
  }
}

std::chrono::milliseconds Worker::sweep_tick() const {
  // A quarter of the smallest idle or hold timeout (10 ms .. 1 s), so that idle sessions and
  // held clients are closed within ~25% of their limit, without a timer per session.
  std::chrono::milliseconds tick{1000};
  for (ListenerState* l : listeners_) {
    for (const auto idle : {l->idle_timeout(), l->config.timeout_fin, l->config.hold_timeout}) {
      if (idle.count() > 0) tick = std::min(tick, std::max(std::chrono::milliseconds{10}, idle / 4));
    }
  }
  return tick;
}

void Worker::close_idle_sessions(std::chrono::steady_clock::time_point now) {
  for (Session* s = sessions_; s != nullptr; s = s->next) {
    ListenerState& l = *listeners_[s->listener_index()];
    auto idle = l.idle_timeout();
    if (s->half_closed() && l.config.timeout_fin.count() > 0 && (idle.count() == 0 || l.config.timeout_fin < idle)) {
      idle = l.config.timeout_fin;
    }
    if (idle.count() > 0 && now - s->last_activity() > idle) {
      l.idle_closed.fetch_add(1, std::memory_order_relaxed);
      s->close();
    }
  }
}

void Worker::apply_health(HealthSnapshotPtr snapshot) {
  HealthSnapshotPtr previous = std::move(health_);
  health_ = std::move(snapshot);
  for (std::size_t li = 0; li < health_->shut.size(); ++li) {
    for (std::size_t si = 0; si < health_->shut[li].size(); ++si) {
      if (health_->shut[li][si] && !previous->shut[li][si]) close_sessions_of(li, static_cast<int>(si));
    }
  }
  for (std::size_t li = 0; li < held_.size() && li < health_->up.size(); ++li) {
    if (!held_[li].empty() && listeners_[li]->pool.any_up(health_->up[li])) release_held(li);
  }
}

bool Worker::hold(std::shared_ptr<Session> session) {
  const std::size_t li = session->listener_index();
  ListenerState& l = *listeners_[li];
  if (l.config.hold_timeout.count() <= 0 || session->closed()) return false;
  const auto now = std::chrono::steady_clock::now();
  if (!session->begin_hold(now)) {
    l.held_refused.fetch_add(1, std::memory_order_relaxed);
    return false;
  }
  if (now - session->held_since() >= l.config.hold_timeout) {
    l.held_expired.fetch_add(1, std::memory_order_relaxed);
    return false;
  }
  if (!session->watch_while_held()) return false;
  held_[li].push_back(std::move(session));
  return true;
}

void Worker::release_held(std::size_t li) {
  // Each runs again in arrival order (co_spawn posts them in this order); one that finds no
  // server UP after all comes back to the end of the queue, keeping its first held_since().
  std::deque<std::shared_ptr<Session>> released;
  released.swap(held_[li]);
  for (auto& session : released) {
    if (session->closed()) continue;
    session->unwatch_held();  // its relay registers it again, and reads what it sent meanwhile
    spawn(Session::run(std::move(session)));
  }
}

void Worker::expire_held(std::chrono::steady_clock::time_point now) {
  for (std::size_t li = 0; li < held_.size(); ++li) {
    auto& held = held_[li];
    if (held.empty()) continue;
    ListenerState& l = *listeners_[li];
    // Clients held because every server UP was full (maxconn) are retried once a slot is free,
    // at this sweep's pace (sessions end on any worker; a health event releases them at once).
    if (li < health_->up.size() && l.pool.has_room(health_->up[li])) {
      release_held(li);
      continue;
    }
    std::erase_if(held, [&](const std::shared_ptr<Session>& s) {
      if (s->closed()) return true;
      if (now - s->held_since() < l.config.hold_timeout) return false;
      l.held_expired.fetch_add(1, std::memory_order_relaxed);
      l.no_server.fetch_add(1, std::memory_order_relaxed);
      log().warn("{}: no server came UP within {} ms, closing a held client", l.config.name,
                 l.config.hold_timeout.count());
      s->close();
      return true;
    });
  }
}

void Worker::close_sessions_of(std::size_t listener, int server) {
  std::size_t closed = 0;
  for (Session* s = sessions_; s != nullptr; s = s->next) {
    if (s->listener_index() == listener && s->server_index() == server) {
      s->close();
      ++closed;
    }
  }
  if (closed > 0) {
    ListenerState& l = *listeners_[listener];
    l.pool.stats(server).killed_on_down.fetch_add(closed, std::memory_order_relaxed);
    log().warn("{}/{}: shut down {} session(s) on worker {}", l.config.name, l.config.servers[server].name, closed, id_);
  }
}

}  // namespace pgha::proxy
