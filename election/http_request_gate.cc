// See http_request_gate.h.
#include "election/http_request_gate.h"

#include <fcntl.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <future>
#include <stdexcept>
#include <utility>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>

#include "election/http_request_head.h"
#include "election/log.h"

namespace pgha::election {
namespace {

namespace asio = boost::asio;
using asio::ip::tcp;
using boost::system::error_code;
using Clock = std::chrono::steady_clock;

// Read at most this much per readiness, so a connection holds only what its client sent.
constexpr std::size_t kReadChunk = 4096;
// accept() failing for want of descriptors: wait this long before the next try.
constexpr std::chrono::milliseconds kAcceptBackoff{100};

void set_cloexec(int fd) {
  // The agent forks (pg_ctl, the watchdog): a child must not keep the REST port or a client.
  const int flags = ::fcntl(fd, F_GETFD);
  if (flags >= 0) ::fcntl(fd, F_SETFD, flags | FD_CLOEXEC);
}

tcp::socket::wait_type wait_type_for(ServerTlsSession::Want want) {
  return want == ServerTlsSession::Want::kWrite ? tcp::socket::wait_write : tcp::socket::wait_read;
}

void log_exception(std::exception_ptr e, const char* where) {
  if (!e) return;
  try {
    std::rethrow_exception(e);
  } catch (const std::exception& ex) {
    log().error("REST API {}: {}", where, ex.what());
  } catch (...) {
    log().error("REST API {}: unknown exception", where);
  }
}

}  // namespace

// ---------------------------------------------------------------------------------------------
// GatedRequest

GatedRequest::GatedRequest(int fd, std::unique_ptr<ServerTlsSession> tls, std::string bytes, Endpoints endpoints,
                           std::chrono::milliseconds write_timeout)
    : fd_(fd),
      tls_(std::move(tls)),
      bytes_(std::move(bytes)),
      endpoints_(std::move(endpoints)),
      write_timeout_(write_timeout) {}

GatedRequest::~GatedRequest() {
  if (tls_) {
    tls_->send_close_notify();
    tls_.reset();
  }
  ::shutdown(fd_, SHUT_RDWR);
  ::close(fd_);
}

bool GatedRequest::write_all(std::string_view data) {
  if (write_deadline_ == Clock::time_point{}) write_deadline_ = Clock::now() + write_timeout_;
  while (!data.empty()) {
    short wait_for = POLLOUT;
    if (tls_) {
      const ServerTlsSession::Step step = tls_->write(data.data(), data.size());
      if (step.failed) return false;
      data.remove_prefix(step.bytes);
      if (step.want == ServerTlsSession::Want::kNothing) continue;
      if (step.want == ServerTlsSession::Want::kRead) wait_for = POLLIN;
    } else {
      const ssize_t sent = ::send(fd_, data.data(), data.size(), MSG_NOSIGNAL | MSG_DONTWAIT);
      if (sent > 0) {
        data.remove_prefix(static_cast<std::size_t>(sent));
        continue;
      }
      if (sent < 0 && errno == EINTR) continue;
      if (sent < 0 && errno != EAGAIN && errno != EWOULDBLOCK) return false;
    }
    const auto left = std::chrono::ceil<std::chrono::milliseconds>(write_deadline_ - Clock::now());
    if (left.count() <= 0) return false;
    pollfd p{fd_, wait_for, 0};
    if (::poll(&p, 1, static_cast<int>(left.count())) < 0 && errno != EINTR) return false;
  }
  return true;
}

// ---------------------------------------------------------------------------------------------
// HttpRequestGate

struct HttpRequestGate::Connection {
  explicit Connection(tcp::socket s) : socket(std::move(s)), deadline(socket.get_executor()) {}
  tcp::socket socket;
  asio::steady_timer deadline;  // the whole request; its expiry closes the socket
  GatedRequest::Endpoints endpoints;
  std::string bytes;
  std::unique_ptr<ServerTlsSession> tls;  // after the handshake began, when serving HTTPS
  std::list<ConnectionPtr>::iterator waiting_at;
  bool waiting = false;  // in waiting_
  bool parked = false;   // in its peer's parked queue
};

HttpRequestGate::HttpRequestGate(HttpRequestGateOptions options, Serve serve,
                                 std::shared_ptr<boost::asio::ssl::context> tls)
    : options_(std::move(options)), serve_(std::move(serve)), tls_(std::move(tls)), acceptor_(io_) {
  if (options_.workers == 0 || options_.workers_per_peer == 0 || options_.max_waiting_connections == 0) {
    throw std::invalid_argument("REST API: workers, workers per peer and waiting connections must be at least 1");
  }
}

HttpRequestGate::~HttpRequestGate() { stop(); }

int HttpRequestGate::bind(const std::string& host, int port) {
  error_code ec;
  tcp::resolver resolver(io_);
  const auto results = resolver.resolve(host, std::to_string(port),
                                        tcp::resolver::passive | tcp::resolver::numeric_service, ec);
  if (ec) throw std::runtime_error(ec.message());
  error_code last = asio::error::host_not_found;
  for (const auto& entry : results) {
    tcp::acceptor acceptor(io_);
    if (acceptor.open(entry.endpoint().protocol(), ec); ec) {
      last = ec;
      continue;
    }
    set_cloexec(acceptor.native_handle());
    acceptor.set_option(tcp::acceptor::reuse_address(true), ec);
    if (!ec) acceptor.bind(entry.endpoint(), ec);
    if (!ec) acceptor.listen(asio::socket_base::max_listen_connections, ec);
    if (ec) {
      last = ec;
      continue;
    }
    const tcp::endpoint bound = acceptor.local_endpoint(ec);
    if (ec) {
      last = ec;
      continue;
    }
    acceptor_ = std::move(acceptor);
    return bound.port();
  }
  throw std::runtime_error(last.message());
}

void HttpRequestGate::start() {
  if (io_thread_.joinable()) throw std::logic_error("HttpRequestGate::start() called twice");
  if (!acceptor_.is_open()) throw std::logic_error("HttpRequestGate::start() before bind()");
  for (std::size_t i = 0; i < options_.workers; ++i) workers_.emplace_back([this] { worker_loop(); });
  work_ = std::make_unique<asio::executor_work_guard<asio::io_context::executor_type>>(io_.get_executor());
  asio::co_spawn(io_, accept_loop(), [](std::exception_ptr e) {
    if (e) std::rethrow_exception(e);  // out of io_.run(): see below
  });
  io_thread_ = std::thread([this] {
    try {
      io_.run();
    } catch (const std::exception& e) {
      // Without its accept loop the agent would lead with a REST API nobody can reach: exit, and
      // let the watchdog fence and the service manager restart it.
      log().critical("REST API: the accept loop failed: {}: exiting", e.what());
      std::abort();
    }
  });
}

void HttpRequestGate::stop() {
  if (!io_thread_.joinable()) return;
  std::promise<void> closed;
  asio::post(io_, [this, &closed] {
    stopping_ = true;
    error_code ec;
    acceptor_.close(ec);
    while (!waiting_.empty()) {
      const ConnectionPtr oldest = waiting_.front();
      close(*oldest);
    }
    closed.set_value();
  });
  closed.get_future().wait();
  {
    std::lock_guard lock(jobs_mutex_);
    jobs_closed_ = true;
  }
  jobs_ready_.notify_all();
  for (std::thread& worker : workers_) worker.join();
  workers_.clear();
  work_.reset();
  io_thread_.join();
}

asio::awaitable<void> HttpRequestGate::accept_loop() {
  asio::steady_timer backoff(io_);
  while (acceptor_.is_open()) {
    error_code ec;
    tcp::socket socket = co_await acceptor_.async_accept(asio::redirect_error(asio::use_awaitable, ec));
    if (ec == asio::error::operation_aborted || !acceptor_.is_open()) co_return;
    if (ec == asio::error::connection_aborted || ec == asio::error::interrupted) continue;
    if (ec) {
      // EMFILE/ENFILE/ENOBUFS: back off instead of spinning; the client waits in the backlog.
      log().error("REST API: accept failed: {}", ec.message());
      backoff.expires_after(kAcceptBackoff);
      co_await backoff.async_wait(asio::redirect_error(asio::use_awaitable, ec));
      continue;
    }
    set_cloexec(socket.native_handle());
    auto connection = std::make_shared<Connection>(std::move(socket));
    const tcp::endpoint peer = connection->socket.remote_endpoint(ec);
    if (ec) continue;  // already gone
    const tcp::endpoint local = connection->socket.local_endpoint(ec);
    if (ec) continue;
    connection->endpoints = {peer.address().to_string(), peer.port(), local.address().to_string(), local.port()};
    admit(connection);
    asio::co_spawn(io_, read_request(std::move(connection)),
                   [](std::exception_ptr e) { log_exception(e, "reading a request"); });
  }
}

void HttpRequestGate::admit(const ConnectionPtr& connection) {
  if (waiting_.size() >= options_.max_waiting_connections) {
    // Full: the oldest goes. A health check sends its request at once and leaves within
    // milliseconds, so it is never the oldest for long; a slow client is.
    const ConnectionPtr oldest = waiting_.front();
    close(*oldest);
  }
  connection->waiting_at = waiting_.insert(waiting_.end(), connection);
  connection->waiting = true;
  connection->deadline.expires_after(options_.request_timeout);
  connection->deadline.async_wait([this, weak = std::weak_ptr<Connection>(connection)](error_code ec) {
    if (ec) return;
    if (const ConnectionPtr expired = weak.lock()) close(*expired);
  });
}

void HttpRequestGate::forget(Connection& connection) {
  if (connection.waiting) {
    connection.waiting = false;
    waiting_.erase(connection.waiting_at);
  }
  if (connection.parked) {
    connection.parked = false;
    const auto it = peers_.find(connection.endpoints.peer_address);
    if (it == peers_.end()) return;
    std::deque<ConnectionPtr>& parked = it->second.parked;
    parked.erase(std::remove_if(parked.begin(), parked.end(),
                                [&connection](const ConnectionPtr& p) { return p.get() == &connection; }),
                 parked.end());
    if (it->second.busy == 0 && parked.empty()) peers_.erase(it);
  }
}

void HttpRequestGate::close(Connection& connection) {
  error_code ec;
  connection.socket.close(ec);
  connection.deadline.cancel();
  forget(connection);
}

asio::awaitable<void> HttpRequestGate::read_request(ConnectionPtr connection) {
  Connection& c = *connection;
  error_code ec;
  c.socket.non_blocking(true, ec);
  if (tls_ && !ec) {
    const Handshake handshaken = co_await handshake(c);
    if (handshaken == Handshake::kPlainHttp) {
      c.tls.reset();  // the answer goes in plain text, which is all such a client reads
      co_return co_await refuse(connection, "400 Bad Request", "This is an HTTPS port: use https://\n");
    }
    if (handshaken == Handshake::kFailed) co_return close(c);
  }
  std::size_t head_bytes = 0;  // 0 until the blank line has arrived
  std::size_t needed = 0;      // head and body, once the head is known
  auto wait = tcp::socket::wait_read;
  while (!ec && c.socket.is_open()) {
    // Wait without a buffer: a connection that sent nothing holds nothing. (TLS may hold bytes
    // it has received already, which the socket would never signal.)
    if (!c.tls || !c.tls->has_buffered_input()) {
      co_await c.socket.async_wait(wait, asio::redirect_error(asio::use_awaitable, ec));
      if (ec) break;  // closed by its deadline, by a newer connection when full, or by stop()
    }
    wait = tcp::socket::wait_read;
    const std::size_t before = c.bytes.size();
    const std::size_t limit = head_bytes == 0 ? options_.max_head_bytes + 1 : needed;
    c.bytes.resize(before + std::min(kReadChunk, limit - before));
    const asio::mutable_buffer free_space(c.bytes.data() + before, c.bytes.size() - before);
    std::size_t got = 0;
    if (c.tls) {
      const ServerTlsSession::Step step = c.tls->read(static_cast<char*>(free_space.data()), free_space.size());
      got = step.bytes;
      if (step.failed) ec = asio::error::connection_reset;
      if (step.want != ServerTlsSession::Want::kNothing) {
        ec = asio::error::would_block;
        wait = wait_type_for(step.want);
      }
    } else {
      got = c.socket.read_some(free_space, ec);
    }
    c.bytes.resize(before + got);
    if (ec == asio::error::would_block || ec == asio::error::try_again || ec == asio::error::interrupted) {
      ec.clear();
      continue;
    }
    if (ec) break;  // EOF or reset before the request was whole
    if (head_bytes == 0) {
      const std::size_t blank = c.bytes.find("\r\n\r\n", before >= 3 ? before - 3 : 0);
      if (blank == std::string::npos || blank + 4 > options_.max_head_bytes) {
        if (c.bytes.size() > options_.max_head_bytes) co_return co_await refuse(connection, "431 Request Header Fields Too Large");
        continue;
      }
      head_bytes = blank + 4;
      const RequestBodyLength body = request_body_length(std::string_view(c.bytes).substr(0, head_bytes));
      if (body.refusal != nullptr) co_return co_await refuse(connection, body.refusal);
      if (body.bytes > options_.max_body_bytes) co_return co_await refuse(connection, "413 Payload Too Large");
      needed = head_bytes + body.bytes;
    }
    if (c.bytes.size() >= needed) {
      c.bytes.resize(needed);  // one request per connection: anything after it is not read
      c.deadline.cancel();
      hand_over(std::move(connection));
      co_return;
    }
  }
  close(c);
}

asio::awaitable<HttpRequestGate::Handshake> HttpRequestGate::handshake(Connection& c) {
  try {
    c.tls = std::make_unique<ServerTlsSession>(tls_->native_handle(), c.socket.native_handle());
  } catch (const std::runtime_error& e) {
    log().error("{}", e.what());
    co_return Handshake::kFailed;
  }
  for (;;) {
    const ServerTlsSession::Step step = c.tls->handshake();
    if (step.done()) co_return Handshake::kDone;
    if (step.failed) {
      log().info("REST API: TLS handshake with {} failed: {}", c.endpoints.peer_address, step.error);
      co_return step.plain_http ? Handshake::kPlainHttp : Handshake::kFailed;
    }
    error_code ec;
    co_await c.socket.async_wait(wait_type_for(step.want), asio::redirect_error(asio::use_awaitable, ec));
    if (ec) co_return Handshake::kFailed;  // closed by its deadline, by a newer connection or by stop()
  }
}

asio::awaitable<void> HttpRequestGate::refuse(ConnectionPtr connection, std::string_view status,
                                              std::string_view body) {
  Connection& c = *connection;
  const std::string reply = "HTTP/1.1 " + std::string(status) + "\r\nContent-Length: " + std::to_string(body.size()) +
                            "\r\nConnection: close\r\n\r\n" + std::string(body);
  error_code ec;
  // Still under the request's deadline, which closes the socket if the client does not read.
  if (!c.tls) {
    co_await asio::async_write(c.socket, asio::buffer(reply), asio::redirect_error(asio::use_awaitable, ec));
    co_return close(c);
  }
  std::string_view unsent = reply;
  while (!unsent.empty() && !ec) {
    const ServerTlsSession::Step step = c.tls->write(unsent.data(), unsent.size());
    if (step.failed) co_return close(c);
    unsent.remove_prefix(step.bytes);
    if (step.want == ServerTlsSession::Want::kNothing) continue;
    co_await c.socket.async_wait(wait_type_for(step.want), asio::redirect_error(asio::use_awaitable, ec));
  }
  if (!ec) c.tls->send_close_notify();
  close(c);
}

void HttpRequestGate::hand_over(ConnectionPtr connection) {
  Connection& c = *connection;
  if (stopping_) return close(c);
  PeerShare& share = peers_[c.endpoints.peer_address];
  if (share.busy >= options_.workers_per_peer) {
    if (!c.parked) {
      share.parked.push_back(connection);
      c.parked = true;
    }
    return;
  }
  ++share.busy;  // before forget(), which drops a peer with nothing busy and nothing parked
  forget(c);
  error_code ec;
  const int fd = c.socket.release(ec);
  if (ec) {
    log().error("REST API: cannot hand a connection to a worker: {}", ec.message());
    close(c);
    return worker_done(c.endpoints.peer_address);
  }
  auto request =
      std::make_shared<GatedRequest>(fd, std::move(c.tls), std::move(c.bytes), c.endpoints, options_.write_timeout);
  const bool queued = push_job([this, request, peer = c.endpoints.peer_address]() mutable {
    try {
      serve_(*request);
    } catch (...) {
      log_exception(std::current_exception(), "serving a request");
    }
    request.reset();  // closes the connection
    asio::post(io_, [this, peer] { worker_done(peer); });
  });
  if (!queued) worker_done(c.endpoints.peer_address);
}

void HttpRequestGate::worker_done(const std::string& peer) {
  if (const auto it = peers_.find(peer); it != peers_.end() && it->second.busy > 0) --it->second.busy;
  // Give the freed share to the peer's next parked request. Looked up anew each round:
  // hand_over() may come back here (and drop the peer) when it cannot hand over.
  for (;;) {
    const auto it = peers_.find(peer);
    if (it == peers_.end()) return;
    PeerShare& share = it->second;
    if (stopping_ || share.busy >= options_.workers_per_peer || share.parked.empty()) {
      if (share.busy == 0 && share.parked.empty()) peers_.erase(it);
      return;
    }
    ConnectionPtr next = std::move(share.parked.front());
    share.parked.pop_front();
    next->parked = false;
    hand_over(std::move(next));
  }
}

bool HttpRequestGate::push_job(std::function<void()> job) {
  {
    std::lock_guard lock(jobs_mutex_);
    if (jobs_closed_) return false;
    jobs_.push_back(std::move(job));
  }
  jobs_ready_.notify_one();
  return true;
}

void HttpRequestGate::worker_loop() {
  for (;;) {
    std::function<void()> job;
    {
      std::unique_lock lock(jobs_mutex_);
      jobs_ready_.wait(lock, [this] { return jobs_closed_ || !jobs_.empty(); });
      if (jobs_.empty()) return;  // closed, and every request it was given is served
      job = std::move(jobs_.front());
      jobs_.pop_front();
    }
    job();
  }
}

}  // namespace pgha::election
