#include "proxy/session.h"

#include <boost/asio/redirect_error.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>

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

std::string peer_of(const tcp::socket& s) {
  error_code ec;
  auto ep = s.remote_endpoint(ec);
  if (ec) return "?";
  return ep.address().to_string() + ":" + std::to_string(ep.port());
}
}  // namespace

Session::Session(Worker& worker, std::size_t listener_index, ListenerState& listener, tcp::socket client)
    : worker_(worker),
      listener_index_(listener_index),
      listener_(listener),
      client_(std::move(client)),
      server_(client_.get_executor()),
      last_activity_(std::chrono::steady_clock::now()) {
  listener_.accepted.fetch_add(1, std::memory_order_relaxed);
  worker_.link(this);
}

Session::~Session() {
  worker_.unlink(this);
  if (server_index_ >= 0) listener_.pool.release(server_index_);
  listener_.release_slot();
  listener_.bytes_in.fetch_add(bytes_to_server_, std::memory_order_relaxed);
  listener_.bytes_out.fetch_add(bytes_to_client_, std::memory_order_relaxed);
}

void Session::close() {
  if (closed_) return;
  closed_ = true;
  error_code ignored;
  client_.close(ignored);
  server_.close(ignored);
}

asio::awaitable<void> Session::run(std::shared_ptr<Session> self) {
  if (!co_await self->connect_to_server()) {
    self->close();
    co_return;
  }
  error_code ignored;
  self->client_.set_option(tcp::no_delay(true), ignored);
  self->server_.set_option(tcp::no_delay(true), ignored);
  self->client_.non_blocking(true, ignored);
  self->server_.non_blocking(true, ignored);
  self->last_activity_ = std::chrono::steady_clock::now();
  self->worker_.spawn(pump(self, Direction::kToServer));
  self->worker_.spawn(pump(self, Direction::kToClient));
}

asio::awaitable<bool> Session::connect_to_server() {
  const ListenerConfig& cfg = listener_.config;
  int failed = -1;
  for (int attempt = 0; attempt < kConnectAttempts && !closed_; ++attempt) {
    const int chosen = listener_.pool.pick(worker_.health().up[listener_index_], failed);
    if (chosen < 0 || !listener_.pool.acquire(chosen)) {
      if (failed < 0) {
        listener_.no_server.fetch_add(1, std::memory_order_relaxed);
        log().warn("{}: no server available, closing client {}", cfg.name, peer_of(client_));
        co_return false;
      }
      break;
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
    server_.open(listener_.pool.endpoint(chosen).protocol(), ec);
    if (!ec) co_await server_.async_connect(listener_.pool.endpoint(chosen), asio::redirect_error(asio::use_awaitable, ec));
    connecting_ = false;
    deadline.cancel();
    if (!ec && !closed_) co_return true;
    if (closed_) co_return false;  // session killed (server marked down, shutdown) while connecting

    ServerStats& stats = listener_.pool.stats(chosen);
    stats.connect_failures.fetch_add(1, std::memory_order_relaxed);
    log().info("{}/{}: connect failed: {}", cfg.name, cfg.servers[chosen].name,
               timed_out ? "timeout after " + std::to_string(cfg.timeout_connect.count()) + " ms" : ec.message());
    listener_.pool.release(chosen);
    server_index_ = -1;
    failed = chosen;
    error_code ignored;
    server_.close(ignored);
  }
  listener_.connect_failed.fetch_add(1, std::memory_order_relaxed);
  log().warn("{}: could not connect client {} to any server", cfg.name, peer_of(client_));
  co_return false;
}

asio::awaitable<void> Session::pump(std::shared_ptr<Session> self, Direction direction) {
  Session& s = *self;
  tcp::socket& from = direction == Direction::kToServer ? s.client_ : s.server_;
  tcp::socket& to = direction == Direction::kToServer ? s.server_ : s.client_;
  std::uint64_t& counter = direction == Direction::kToServer ? s.bytes_to_server_ : s.bytes_to_client_;
  BufferPool& buffers = s.worker_.buffers();
  error_code ec;
  bool peer_finished = false;  // orderly EOF from `from`
  while (!s.closed_) {
    co_await from.async_wait(tcp::socket::wait_read, asio::redirect_error(asio::use_awaitable, ec));
    if (ec || s.closed_) break;
    BufferPool::Lease buffer = buffers.borrow();
    // Drain what is readable before waiting again: a read that fills the buffer means more is
    // probably queued (bulk transfers), and going back to the reactor per chunk costs an
    // epoll_ctl and an epoll_wait each time. Every chunk is written out in full before the next
    // read, so a slow receiver still stalls the sender (structural backpressure).
    for (bool more = true; more && !s.closed_;) {
      const std::size_t n = from.read_some(asio::buffer(buffer.data(), buffer.size()), ec);
      if (ec) break;
      more = n == buffer.size();
      s.last_activity_ = std::chrono::steady_clock::now();
      counter += n;
      // The non-blocking fast path usually completes at once; otherwise wait for writability,
      // holding the buffer (and so the reader) meanwhile.
      std::size_t written = 0;
      while (written < n && !s.closed_) {
        written += to.write_some(asio::buffer(buffer.data() + written, n - written), ec);
        if (ec == asio::error::would_block || ec == asio::error::try_again) {
          co_await to.async_wait(tcp::socket::wait_write, asio::redirect_error(asio::use_awaitable, ec));
        }
        if (ec) break;
      }
      if (ec) break;
    }
    if (ec == asio::error::would_block || ec == asio::error::try_again) {
      ec = {};
      continue;
    }
    if (ec == asio::error::eof) peer_finished = true;
    if (ec) break;
  }
  s.pump_finished(peer_finished, to);
}

void Session::pump_finished(bool orderly_eof, tcp::socket& to) {
  if (orderly_eof && !closed_) {
    // Half-close: pass the FIN on and let the other direction drain.
    error_code ignored;
    to.shutdown(tcp::socket::shutdown_send, ignored);
    if (++pumps_done_ == 2) close();
  } else {
    close();
  }
}

}  // namespace pgha::proxy
