// Test doubles for proxy tests: a TCP echo backend, a backend that accepts and never answers,
// and a controllable HTTP health endpoint. Each runs its own io_context on its own thread and
// binds 127.0.0.1 port 0. Blocking helpers for test clients use SO_RCVTIMEO deadlines.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include <boost/asio.hpp>
#include <boost/asio/ssl/context.hpp>

namespace pgha::test {

namespace asio = boost::asio;
using asio::ip::tcp;

// Echoes every byte back; counts connections; can close all its connections on demand.
class EchoServer {
 public:
  EchoServer();
  ~EchoServer();
  std::uint16_t port() const { return port_; }
  int connections_accepted() const { return accepted_.load(); }
  int connections_open() const { return open_.load(); }

 private:
  asio::awaitable<void> accept_loop();
  asio::awaitable<void> echo(tcp::socket socket);
  asio::io_context io_;
  tcp::acceptor acceptor_;
  std::uint16_t port_ = 0;
  std::atomic<int> accepted_{0};
  std::atomic<int> open_{0};
  std::thread thread_;
};

// Accepts connections and never reads or writes (a hung backend).
class SilentServer {
 public:
  SilentServer();
  ~SilentServer();
  std::uint16_t port() const { return port_; }
  int connections_accepted() const { return accepted_.load(); }

 private:
  asio::awaitable<void> accept_loop();
  asio::io_context io_;
  tcp::acceptor acceptor_;
  std::uint16_t port_ = 0;
  std::atomic<int> accepted_{0};
  std::vector<std::shared_ptr<tcp::socket>> held_;
  std::thread thread_;
};

// Answers every request with the current status (200 or 503), HTTP/1.0, then closes. With a
// TLS context (pgha::tls::make_server_context), every connection starts with a TLS handshake,
// which may require a client certificate; a failed handshake closes the connection. `address`:
// another loopback address (127.0.0.2) for a certificate that does not name it.
class HealthEndpoint {
 public:
  explicit HealthEndpoint(int status = 200);
  HealthEndpoint(int status, asio::ssl::context tls, const std::string& address = "127.0.0.1");
  ~HealthEndpoint();
  std::uint16_t port() const { return port_; }
  void set_status(int status) { status_.store(status); }
  int requests() const { return requests_.load(); }
  int failed_handshakes() const { return failed_handshakes_.load(); }

 private:
  void start();
  asio::awaitable<void> accept_loop();
  asio::awaitable<void> answer(tcp::socket socket);
  template <typename Stream>
  asio::awaitable<void> reply(Stream& stream);
  std::optional<asio::ssl::context> tls_;  // before io_: outlives the streams io_'s handlers hold
  asio::io_context io_;
  tcp::acceptor acceptor_;
  std::uint16_t port_ = 0;
  std::atomic<int> status_;
  std::atomic<int> requests_{0};
  std::atomic<int> failed_handshakes_{0};
  std::thread thread_;
};

// Blocking client helpers (test thread only); every read has a deadline.
tcp::socket connect_blocking(asio::io_context& io, std::uint16_t port);
bool wait_readable(tcp::socket& socket, std::chrono::milliseconds timeout);
// Reads `size` bytes or fewer if EOF/error/timeout comes first.
std::string read_exactly(tcp::socket& socket, std::size_t size, std::chrono::milliseconds timeout);
// Sends `message` and reads its length back within 3 s; returns what was read.
std::string round_trip(tcp::socket& socket, const std::string& message);
// True when the peer closed the connection (EOF or reset) within `timeout`.
bool closed_by_peer(tcp::socket& socket, std::chrono::milliseconds timeout);

// Number of open descriptors of this process.
int open_fd_count();
// A loopback TCP port free a moment ago (for a process that must be told its port).
std::uint16_t free_port();
// The whole text of a file ("" when it cannot be read): a child process's log.
std::string read_file(const std::string& path);

// Polls `predicate` every 5 ms until it holds or `timeout` passes; returns its last value.
template <typename Predicate>
bool eventually(Predicate predicate, std::chrono::milliseconds timeout = std::chrono::milliseconds{5000}) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < deadline) {
    if (predicate()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds{5});
  }
  return predicate();
}

// Milliseconds from `start` to now, for bounds on how long a call took.
inline std::chrono::milliseconds elapsed_since(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - start);
}

}  // namespace pgha::test
