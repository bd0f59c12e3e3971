#include "proxy/session.h"

#include <boost/asio/redirect_error.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/post.hpp>
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

std::string peer_of(const RelaySocket& s) {
  error_code ec;
  auto ep = s.remote_endpoint(ec);
  if (ec) return "?";
  return ep.address().to_string() + ":" + std::to_string(ep.port());
}
}  // namespace

Session::Session(Worker& worker, std::size_t listener_index, ListenerState& listener, RelaySocket client)
    : worker_(worker),
      listener_(listener),
      client_(std::move(client)),
      server_(client_.get_executor()),
      last_activity_(std::chrono::steady_clock::now()),
      listener_index_(static_cast<std::uint32_t>(listener_index)) {
  listener_.accepted.fetch_add(1, std::memory_order_relaxed);
  worker_.link(this);
}

Session::~Session() {
  worker_.unlink(this);
  if (server_index_ >= 0) listener_.pool.release(server_index_);
  listener_.release_slot();
  listener_.bytes_in.fetch_add(pumps_[0].bytes, std::memory_order_relaxed);
  listener_.bytes_out.fetch_add(pumps_[1].bytes, std::memory_order_relaxed);
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
  self->start_pumps();
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

void Session::start_pumps() {
  wait_readable(0);
  wait_readable(1);
}

void Session::wait_readable(int i) {
  source(i).async_wait(tcp::socket::wait_read, [self = shared_from_this(), i](const error_code& ec) {
    if (ec || self->closed_) return self->pump_finished(i, false);
    self->relay(i);
  });
}

void Session::wait_writable(int i) {
  sink(i).async_wait(tcp::socket::wait_write, [self = shared_from_this(), i](const error_code& ec) {
    if (ec || self->closed_) return self->pump_finished(i, false);
    self->relay(i);
  });
}

void Session::relay(int i) {
  Pump& p = pumps_[i];
  // A busy pump yields to the worker's other sessions after this many chunks.
  constexpr int kChunksPerTurn = 16;
  for (int turn = 0; turn < kChunksPerTurn; ++turn) {
    if (closed_) return pump_finished(i, false);
    error_code ec;
    if (!p.buffer) {
      // Nothing pending: read what is there into a borrowed buffer.
      p.buffer.emplace(worker_.buffers().borrow());
      p.size = static_cast<std::uint32_t>(source(i).read_some(asio::buffer(p.buffer->data(), p.buffer->size()), ec));
      if (ec) {
        p.buffer.reset();
        if (ec == asio::error::would_block || ec == asio::error::try_again) return wait_readable(i);
        return pump_finished(i, ec == asio::error::eof);
      }
      p.written = 0;
      p.more = p.size == p.buffer->size();
      p.bytes += p.size;
      last_activity_ = std::chrono::steady_clock::now();
    }
    // Write all of it before reading more; if the receiver is slow, wait holding the buffer
    // (and so the reader): structural backpressure, nothing queued.
    while (p.written < p.size) {
      p.written += static_cast<std::uint32_t>(
          sink(i).write_some(asio::buffer(p.buffer->data() + p.written, p.size - p.written), ec));
      if (ec == asio::error::would_block || ec == asio::error::try_again) return wait_writable(i);
      if (ec) {
        p.buffer.reset();
        return pump_finished(i, false);
      }
    }
    p.buffer.reset();
    // A read that filled the buffer means more is probably queued: read again before going
    // back to the reactor (a wait costs an epoll_ctl and an epoll_wait).
    if (!p.more) return wait_readable(i);
  }
  asio::post(client_.get_executor(), [self = shared_from_this(), i] { self->relay(i); });
}

void Session::pump_finished(int i, bool orderly_eof) {
  pumps_[i].buffer.reset();
  if (orderly_eof && !closed_) {
    // Half-close: pass the FIN on and let the other direction drain.
    error_code ignored;
    sink(i).shutdown(tcp::socket::shutdown_send, ignored);
    if (++pumps_done_ == 2) close();
  } else {
    close();
  }
}

}  // namespace pgha::proxy
