// HttpRequestGate: the front of the agent's REST API. It accepts connections and reads each
// one's whole HTTP request (head and Content-Length body) under one deadline counted from the
// accept, on one io thread of its own that serves every connection at once, so a client that
// trickles its request in a byte at a time holds a socket and a few bytes but never a worker
// thread. Only a complete request reaches a worker (`serve`, called on one of a fixed set of
// worker threads), and one peer address has at most `workers_per_peer` of them at a time: its
// further complete requests wait, in order, for one of its own to finish.
//
// Why a gate of our own in front of cpp-httplib instead of its thread pool: cpp-httplib hands
// each accepted socket to a worker before a byte is read, and its read timeout restarts with
// every byte that arrives, so eight clients sending one byte every two seconds held all of its
// workers for as long as they liked and /liveness went unanswered. A per-read timeout cannot
// fix that and a bigger pool only raises the count; reading asynchronously until the request
// is whole, under a deadline for the whole of it, does. cpp-httplib still parses and routes the
// request (see RestApi), from the bytes read here.
//
// Limits when full: connections not yet handed to a worker (reading, or waiting for their
// peer's share) are at most `max_waiting_connections`; one more closes the oldest of them. A
// request over the head or body limit, with a chunked body or a malformed Content-Length is
// answered 431, 413, 411 or 400 and closed; one not whole by the deadline is closed without a
// reply. One request per connection, as Patroni's server does.
//
// HTTPS when given a TLS context: the handshake runs on the io thread too, under the same
// deadline as the request it precedes, so a client that stalls its handshake holds a socket and
// never a worker. A plain HTTP request to the TLS port is answered 400 in plain text and closed; a
// failed handshake (wrong CA, no client certificate when one is required) is closed and logged.
// The connection's ServerTlsSession goes to the worker with the request, and the reply is written
// through it there, as a plain reply is written to the socket.
//
// Owned by RestApi. bind(), start() and stop() from one thread; stop() is idempotent and also
// called by the destructor. `serve` runs on the worker threads, concurrently.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <deque>
#include <functional>
#include <list>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include <boost/asio/awaitable.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl/context.hpp>

#include "election/server_tls_session.h"

namespace pgha::election {

struct HttpRequestGateOptions {
  // The whole request, head and body, must have arrived this long after the accept.
  std::chrono::milliseconds request_timeout{std::chrono::seconds(5)};
  // The whole reply must have been written within this.
  std::chrono::milliseconds write_timeout{std::chrono::seconds(5)};
  std::size_t max_head_bytes = 16 * 1024;  // request line and headers
  std::size_t max_body_bytes = 64 * 1024;
  std::size_t max_waiting_connections = 512;
  std::size_t workers = 8;
  std::size_t workers_per_peer = 2;
};

// One complete request and its connection, lent to `serve` on a worker thread. Closes the
// connection when destroyed.
class GatedRequest {
 public:
  struct Endpoints {
    std::string peer_address;  // numeric, as getnameinfo(NI_NUMERICHOST) gives it
    int peer_port = 0;
    std::string local_address;
    int local_port = 0;
  };

  // `tls`: the connection's TLS session, null over plain HTTP.
  GatedRequest(int fd, std::unique_ptr<ServerTlsSession> tls, std::string bytes, Endpoints endpoints,
               std::chrono::milliseconds write_timeout);
  ~GatedRequest();
  GatedRequest(const GatedRequest&) = delete;
  GatedRequest& operator=(const GatedRequest&) = delete;

  // The request as received: head, then exactly Content-Length bytes of body.
  std::string_view bytes() const { return bytes_; }
  const Endpoints& endpoints() const { return endpoints_; }
  int fd() const { return fd_; }
  // The TLS connection (for its client certificate); null over plain HTTP.
  const SSL* ssl() const { return tls_ ? tls_->ssl() : nullptr; }
  // Writes all of `data` before the write deadline (counted from the first write); false when the
  // peer is gone or reads too slowly.
  bool write_all(std::string_view data);

 private:
  int fd_;
  std::unique_ptr<ServerTlsSession> tls_;
  std::string bytes_;
  Endpoints endpoints_;
  std::chrono::milliseconds write_timeout_;
  std::chrono::steady_clock::time_point write_deadline_{};
};

class HttpRequestGate {
 public:
  using Serve = std::function<void(GatedRequest&)>;

  // `tls`: serve HTTPS with this context (shared with the owner, read-only once built); null: HTTP.
  HttpRequestGate(HttpRequestGateOptions options, Serve serve, std::shared_ptr<boost::asio::ssl::context> tls = nullptr);
  ~HttpRequestGate();
  HttpRequestGate(const HttpRequestGate&) = delete;
  HttpRequestGate& operator=(const HttpRequestGate&) = delete;

  // Resolves `host`, binds the first address that binds (SO_REUSEADDR, no SO_REUSEPORT: a
  // second agent on the same port must fail, not share the health checks) and listens.
  // Returns the bound port (the chosen one for port 0). Throws std::runtime_error with the
  // system's reason ("Address already in use") when nothing binds.
  int bind(const std::string& host, int port);
  // Starts the io thread and the workers.
  void start();
  // Stops accepting, closes every connection not yet handed to a worker, lets the workers
  // finish the requests they were given, joins every thread.
  void stop();

 private:
  struct Connection;
  using ConnectionPtr = std::shared_ptr<Connection>;
  struct PeerShare {
    std::size_t busy = 0;                // requests of this peer with the workers
    std::deque<ConnectionPtr> parked;   // complete requests waiting for one of those to finish
  };

  boost::asio::awaitable<void> accept_loop();
  enum class Handshake { kDone, kFailed, kPlainHttp };

  boost::asio::awaitable<void> read_request(ConnectionPtr connection);
  boost::asio::awaitable<Handshake> handshake(Connection& connection);
  boost::asio::awaitable<void> refuse(ConnectionPtr connection, std::string_view status, std::string_view body = {});
  void admit(const ConnectionPtr& connection);
  void forget(Connection& connection);
  void close(Connection& connection);
  void hand_over(ConnectionPtr connection);
  void worker_done(const std::string& peer);
  bool push_job(std::function<void()> job);
  void worker_loop();

  const HttpRequestGateOptions options_;
  const Serve serve_;
  const std::shared_ptr<boost::asio::ssl::context> tls_;

  boost::asio::io_context io_;
  boost::asio::ip::tcp::acceptor acceptor_;
  std::unique_ptr<boost::asio::executor_work_guard<boost::asio::io_context::executor_type>> work_;
  std::thread io_thread_;
  // io thread only:
  std::list<ConnectionPtr> waiting_;  // not yet with a worker, oldest first
  std::map<std::string, PeerShare> peers_;
  bool stopping_ = false;

  std::mutex jobs_mutex_;
  std::condition_variable jobs_ready_;
  std::deque<std::function<void()>> jobs_;  // guarded by jobs_mutex_
  bool jobs_closed_ = false;                // guarded by jobs_mutex_
  std::vector<std::thread> workers_;
};

}  // namespace pgha::election
