#include "proxy/session.h"

#include <netinet/tcp.h>
#include <fcntl.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include <boost/asio/redirect_error.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>

#include "proxy/listener_state.h"
#include "proxy/log.h"
#include "proxy/worker.h"

namespace pgha::proxy {

namespace asio = boost::asio;
using asio::ip::tcp;
using boost::system::error_code;

namespace {
// HAProxy's default "retries 3": connect attempts per session before giving up.
constexpr int kConnectAttempts = 3;

std::string peer_of(int fd) {
  sockaddr_storage addr{};
  socklen_t len = sizeof(addr);
  if (fd < 0 || ::getpeername(fd, reinterpret_cast<sockaddr*>(&addr), &len) != 0) return "?";
  tcp::endpoint ep;
  ep.resize(len);
  std::memcpy(ep.data(), &addr, len);
  return ep.address().to_string() + ":" + std::to_string(ep.port());
}

bool would_block(int err) { return err == EAGAIN || err == EWOULDBLOCK; }
}  // namespace

Session::Session(Worker& worker, std::size_t listener_index, ListenerState& listener, int client_fd)
    : worker_(worker),
      listener_(listener),
      server_(worker.executor()),
      last_activity_(std::chrono::steady_clock::now()),
      fds_{client_fd, -1},
      listener_index_(static_cast<std::uint32_t>(listener_index)) {
  listener_.accepted.fetch_add(1, std::memory_order_relaxed);
  worker_.link(this);
}

Session::~Session() {
  end_hold();
  close_sockets();
  worker_.unlink(this);
  if (server_index_ >= 0) {
    ServerStats& stats = listener_.pool.stats(server_index_);
    stats.bytes_in.fetch_add(pumps_[0].bytes, std::memory_order_relaxed);
    stats.bytes_out.fetch_add(pumps_[1].bytes, std::memory_order_relaxed);
    listener_.pool.release(server_index_);
  }
  listener_.release_slot();
  listener_.bytes_in.fetch_add(pumps_[0].bytes, std::memory_order_relaxed);
  listener_.bytes_out.fetch_add(pumps_[1].bytes, std::memory_order_relaxed);
  listener_.bytes_spliced.fetch_add(pumps_[0].spliced + pumps_[1].spliced, std::memory_order_relaxed);
}

void Session::close_sockets() {
  for (int& fd : fds_) {
    if (fd >= 0) ::close(fd);  // also removes it from the worker's epoll set
    fd = -1;
  }
  error_code ignored;
  server_.close(ignored);  // cancels a connect in progress
}

void Session::close() {
  if (closed_) return;
  closed_ = true;
  close_sockets();
  for (Pump& p : pumps_) {
    p.buffer.reset();
    return_pipe(p);
  }
  if (self_) worker_.retire(std::move(self_));
}

asio::awaitable<void> Session::run(std::shared_ptr<Session> self) {
  if (self->closed_) co_return;  // closed while it was held
  // (A plain value, not a switch on the co_await: GCC 12 miscompiles the latter.)
  const Connect outcome = co_await self->connect_to_server();
  if (outcome == Connect::kConnected) {
    self->end_hold();
    self->start_relay();
  } else if (outcome == Connect::kFailed) {
    self->close();
  }
  // kHeld: the worker owns it until a server comes UP or the hold times out.
}

bool Session::begin_hold(std::chrono::steady_clock::time_point now) {
  if (holding_) return true;
  if (!listener_.try_hold()) return false;
  holding_ = true;
  held_since_ = now;
  listener_.held_total.fetch_add(1, std::memory_order_relaxed);
  return true;
}

bool Session::watch_while_held() {
  if (held_watched_) return true;
  if (!worker_.poller().watch(fds_[0], reinterpret_cast<std::uintptr_t>(this))) return false;
  held_watched_ = true;
  return true;
}

void Session::unwatch_held() {
  if (!held_watched_) return;
  held_watched_ = false;
  if (fds_[0] >= 0) worker_.poller().unwatch(fds_[0]);
}

void Session::end_hold() {
  if (!holding_) return;
  holding_ = false;
  listener_.end_hold(std::chrono::steady_clock::now() - held_since_);
}

bool Session::hold_or_give_up(bool no_server) {
  if (worker_.hold(shared_from_this())) return true;
  const ListenerConfig& cfg = listener_.config;
  if (no_server) {
    listener_.no_server.fetch_add(1, std::memory_order_relaxed);
    log().warn("{}: no server available, closing client {}", cfg.name, peer_of(fds_[0]));
  } else {
    listener_.connect_failed.fetch_add(1, std::memory_order_relaxed);
    log().warn("{}: could not connect client {} to any server", cfg.name, peer_of(fds_[0]));
  }
  return false;
}

void Session::count_connect_error(int server) {
  const health::ObserveSpec& observe = listener_.config.servers[server].check.observe;
  if (!observe.layer4 || !listener_.observer) return;
  std::atomic<int>& errors = listener_.pool.stats(server).consecutive_connect_errors;
  if (errors.fetch_add(1, std::memory_order_relaxed) + 1 < observe.error_limit) return;
  errors.store(0, std::memory_order_relaxed);
  listener_.observer->connect_errors(listener_index_, static_cast<std::size_t>(server));
}

void Session::start_relay() {
  error_code ec;
  fds_[1] = server_.release(ec);  // leaves Asio's reactor; stays non-blocking
  if (ec) {
    log().warn("{}: cannot take over the server socket: {}", listener_.config.name, ec.message());
    return close();
  }
  const int one = 1;
  for (const int fd : fds_) ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
  last_activity_ = std::chrono::steady_clock::now();
  // Registration reports the sockets' current state at once, so data the client sent while
  // the server was being connected is relayed by the first events.
  const auto token = reinterpret_cast<std::uintptr_t>(this);
  if (!worker_.poller().watch(fds_[0], token) || !worker_.poller().watch(fds_[1], token | 1)) {
    log().error("{}: cannot watch a relayed socket: {}", listener_.config.name, std::strerror(errno));
    return close();
  }
  self_ = shared_from_this();
  relaying_ = true;
}

asio::awaitable<Session::Connect> Session::connect_to_server() {
  const ListenerConfig& cfg = listener_.config;
  int failed = -1;
  for (int attempt = 0; attempt < kConnectAttempts && !closed_; ++attempt) {
    const auto& up = worker_.health().up[listener_index_];
    const int chosen = listener_.pool.pick(up, failed);
    if (chosen < 0 || !listener_.pool.acquire(chosen)) {
      // No server UP (other than the one that just failed), or every one full (maxconn): hold
      // the client (when the listener holds clients) until one comes UP or has room again.
      co_return hold_or_give_up(failed < 0) ? Connect::kHeld : Connect::kFailed;
    }
    server_index_ = chosen;
    error_code ec;
    asio::steady_timer deadline(server_.get_executor());
    const std::uint32_t attempt_id = ++connect_attempt_;
    connecting_ = true;
    bool timed_out = false;
    if (cfg.timeout_connect.count() > 0) {
      deadline.expires_after(cfg.timeout_connect);
      // The handler may run after this attempt ended (cancel cannot recall an expiry already
      // queued), so it acts only on the attempt it was armed for.
      deadline.async_wait([self = shared_from_this(), attempt_id, &timed_out](const error_code& wait_ec) {
        if (wait_ec || !self->connecting_ || self->connect_attempt_ != attempt_id) return;
        timed_out = true;
        error_code ignored;
        self->server_.close(ignored);
      });
    }
    // Only a failed connect is evidence against the server, not a local failure to open a
    // socket (EMFILE).
    bool connect_tried = false;
    server_.open(listener_.pool.endpoint(chosen).protocol(), ec);
    if (!ec) {
      connect_tried = true;
      co_await server_.async_connect(listener_.pool.endpoint(chosen), asio::redirect_error(asio::use_awaitable, ec));
    }
    connecting_ = false;
    deadline.cancel();
    ServerStats& stats = listener_.pool.stats(chosen);
    if (!ec && !closed_) {
      if (stats.consecutive_connect_errors.load(std::memory_order_relaxed) != 0) {
        stats.consecutive_connect_errors.store(0, std::memory_order_relaxed);
      }
      co_return Connect::kConnected;
    }
    if (closed_) co_return Connect::kFailed;  // session killed (server marked down, shutdown) while connecting

    stats.connect_failures.fetch_add(1, std::memory_order_relaxed);
    log().info("{}/{}: connect failed: {}", cfg.name, cfg.servers[chosen].name,
               timed_out ? "timeout after " + std::to_string(cfg.timeout_connect.count()) + " ms" : ec.message());
    if (connect_tried) count_connect_error(chosen);
    listener_.pool.release(chosen);
    server_index_ = -1;
    failed = chosen;
    error_code ignored;
    server_.close(ignored);
  }
  // Every attempt failed on servers still marked UP: hold the client while the failures are
  // checked ("observe layer4" marks such a server DOWN; a server coming UP releases it).
  if (closed_) co_return Connect::kFailed;
  co_return hold_or_give_up(false) ? Connect::kHeld : Connect::kFailed;
}

void Session::on_ready(int side, std::uint32_t events) {
  if (closed_) return;
  if (!relaying_) {
    // A held client: only a hang-up matters (its data waits in the kernel until it is released).
    if (held_watched_ && (events & (EPOLLRDHUP | EPOLLHUP | EPOLLERR))) {
      listener_.held_abandoned.fetch_add(1, std::memory_order_relaxed);
      close();
    }
    return;
  }
  if (events & (EPOLLRDHUP | EPOLLHUP | EPOLLERR)) peer_done_[side] = true;
  // Side s is the source of pump s and the destination of the other pump.
  if ((events & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR)) && pumps_[side].wait == Wait::kReadable) relay(side);
  if (closed_) return;
  const int other = 1 - side;
  if ((events & (EPOLLOUT | EPOLLHUP | EPOLLERR)) && pumps_[other].wait == Wait::kWritable) relay(other);
}

void Session::relay(int i) {
  Pump& p = pumps_[i];
  if (closed_ || p.wait == Wait::kDone) return;
  // While the pump waited to write, the source's readable edges went by unheeded (reading then
  // would have queued data): it may hold data no future edge announces, so read before waiting.
  if (p.wait == Wait::kWritable) p.more = true;
  p.wait = Wait::kNothing;
  const int source = fds_[i];
  const int sink = fds_[1 - i];
  // A busy pump yields to the worker's other sessions after this many chunks.
  constexpr int kChunksPerTurn = 16;
  for (int turn = 0; turn < kChunksPerTurn; ++turn) {
    if (!p.buffer && p.in_pipe == 0) {
      // Nothing pending: read what is there. A stream that keeps filling the buffer is bulk
      // (COPY, large results): move it with splice(2), kernel to kernel, when a pipe is at hand.
      if (p.bulk && !p.pipe && listener_.config.splice) p.pipe = worker_.pipes().borrow();
      ssize_t n;
      std::size_t capacity;
      if (p.bulk && p.pipe) {
        capacity = static_cast<std::size_t>(p.pipe.capacity);
        n = ::splice(source, nullptr, p.pipe.write_fd, nullptr, capacity, SPLICE_F_MOVE | SPLICE_F_NONBLOCK);
      } else {
        p.buffer.emplace(worker_.buffers().borrow());
        capacity = p.buffer->size();
        n = ::recv(source, p.buffer->data(), capacity, 0);
      }
      if (n <= 0) {
        p.buffer.reset();
        return_pipe(p);
        if (n < 0 && would_block(errno)) {
          p.more = p.bulk = false;
          p.wait = Wait::kReadable;
          return;
        }
        if (n < 0 && errno == EINTR) continue;
        return pump_finished(i, n == 0);
      }
      if (p.buffer) {
        p.size = static_cast<std::uint32_t>(n);
        p.written = 0;
      } else {
        p.in_pipe = static_cast<std::uint32_t>(n);
        p.spliced += static_cast<std::uint64_t>(n);
      }
      // A recv that fills the buffer marks a bulk stream. A recv short of it emptied the socket:
      // the next data or FIN brings a new edge, unless the peer's end was already reported
      // (then read on to the EOF, there will be no edge). A spliced stream stays bulk and reads
      // on until the socket says it is empty: a short splice proves less (the pipe can run out
      // of slots before bytes).
      if (p.buffer) p.bulk = static_cast<std::size_t>(n) == capacity;
      p.more = p.bulk || peer_done_[i];
      p.bytes += static_cast<std::uint64_t>(n);
      last_activity_ = worker_.batch_time();
    }
    // Write all of it before reading more; if the receiver is slow, wait holding the buffer or
    // pipe (and so the reader): structural backpressure, nothing queued.
    while (p.buffer ? p.written < p.size : p.in_pipe > 0) {
      const ssize_t n = p.buffer ? ::send(sink, p.buffer->data() + p.written, p.size - p.written, MSG_NOSIGNAL)
                                 : ::splice(p.pipe.read_fd, nullptr, sink, nullptr, p.in_pipe,
                                            SPLICE_F_MOVE | SPLICE_F_NONBLOCK);
      if (n < 0) {
        if (would_block(errno)) {
          p.wait = Wait::kWritable;
          return;
        }
        if (errno == EINTR) continue;
        return pump_finished(i, false);
      }
      if (p.buffer) {
        p.written += static_cast<std::uint32_t>(n);
      } else {
        p.in_pipe -= static_cast<std::uint32_t>(n);
      }
    }
    p.buffer.reset();
    if (!p.more) {
      return_pipe(p);
      p.wait = Wait::kReadable;
      return;
    }
  }
  p.wait = Wait::kTurn;
  worker_.defer(self_, i);
}

void Session::return_pipe(Pump& p) {
  worker_.pipes().give_back(p.pipe, p.in_pipe == 0);
  p.pipe = {};
  p.in_pipe = 0;
}

void Session::pump_finished(int i, bool orderly_eof) {
  pumps_[i].buffer.reset();
  return_pipe(pumps_[i]);
  pumps_[i].wait = Wait::kDone;
  if (orderly_eof && !closed_) {
    // Half-close: pass the FIN on and let the other direction drain.
    ::shutdown(fds_[1 - i], SHUT_WR);
    if (++pumps_done_ == 2) close();
  } else {
    close();
  }
}

}  // namespace pgha::proxy
