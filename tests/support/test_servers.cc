#include "tests/support/test_servers.h"

#include <dirent.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/time.h>

#include <fstream>
#include <sstream>

#include <boost/asio/ssl/stream.hpp>

namespace pgha::test {

namespace {
tcp::acceptor make_acceptor(asio::io_context& io, const std::string& address = "127.0.0.1") {
  tcp::acceptor a(io, tcp::endpoint(asio::ip::make_address(address), 0));
  return a;
}
void ignore_exception(std::exception_ptr) {}
}  // namespace

EchoServer::EchoServer() : acceptor_(make_acceptor(io_)) {
  port_ = acceptor_.local_endpoint().port();
  asio::co_spawn(io_, accept_loop(), ignore_exception);
  thread_ = std::thread([this] { io_.run(); });
}

EchoServer::~EchoServer() {
  io_.stop();
  thread_.join();
}

asio::awaitable<void> EchoServer::accept_loop() {
  for (;;) {
    tcp::socket s = co_await acceptor_.async_accept(asio::use_awaitable);
    ++accepted_;
    asio::co_spawn(io_, echo(std::move(s)), ignore_exception);
  }
}

asio::awaitable<void> EchoServer::echo(tcp::socket socket) {
  ++open_;
  char data[4096];
  boost::system::error_code ec;
  for (;;) {
    std::size_t n = co_await socket.async_read_some(asio::buffer(data), asio::redirect_error(asio::use_awaitable, ec));
    if (ec) break;
    co_await asio::async_write(socket, asio::buffer(data, n), asio::redirect_error(asio::use_awaitable, ec));
    if (ec) break;
  }
  if (ec == asio::error::eof) socket.shutdown(tcp::socket::shutdown_send, ec);
  --open_;
}

SilentServer::SilentServer() : acceptor_(make_acceptor(io_)) {
  port_ = acceptor_.local_endpoint().port();
  asio::co_spawn(io_, accept_loop(), ignore_exception);
  thread_ = std::thread([this] { io_.run(); });
}

SilentServer::~SilentServer() {
  io_.stop();
  thread_.join();
}

asio::awaitable<void> SilentServer::accept_loop() {
  for (;;) {
    auto s = std::make_shared<tcp::socket>(io_);
    co_await acceptor_.async_accept(*s, asio::use_awaitable);
    ++accepted_;
    held_.push_back(s);
  }
}

HealthEndpoint::HealthEndpoint(int status) : acceptor_(make_acceptor(io_)), status_(status) { start(); }

HealthEndpoint::HealthEndpoint(int status, asio::ssl::context tls, const std::string& address)
    : tls_(std::move(tls)), acceptor_(make_acceptor(io_, address)), status_(status) {
  start();
}

void HealthEndpoint::start() {
  port_ = acceptor_.local_endpoint().port();
  asio::co_spawn(io_, accept_loop(), ignore_exception);
  thread_ = std::thread([this] { io_.run(); });
}

HealthEndpoint::~HealthEndpoint() {
  io_.stop();
  thread_.join();
}

asio::awaitable<void> HealthEndpoint::accept_loop() {
  for (;;) {
    tcp::socket s = co_await acceptor_.async_accept(asio::use_awaitable);
    asio::co_spawn(io_, answer(std::move(s)), ignore_exception);
  }
}

asio::awaitable<void> HealthEndpoint::answer(tcp::socket socket) {
  if (!tls_) {
    co_await reply(socket);
    co_return;
  }
  asio::ssl::stream<tcp::socket> stream(std::move(socket), *tls_);
  boost::system::error_code ec;
  co_await stream.async_handshake(asio::ssl::stream_base::server, asio::redirect_error(asio::use_awaitable, ec));
  if (ec) {
    ++failed_handshakes_;
    co_return;
  }
  co_await reply(stream);
}

template <typename Stream>
asio::awaitable<void> HealthEndpoint::reply(Stream& stream) {
  std::string request;
  boost::system::error_code ec;
  co_await asio::async_read_until(stream, asio::dynamic_buffer(request), "\r\n\r\n",
                                  asio::redirect_error(asio::use_awaitable, ec));
  if (ec) co_return;
  ++requests_;
  const int status = status_.load();
  std::string reply = "HTTP/1.0 " + std::to_string(status) + (status == 200 ? " OK" : " Service Unavailable") +
                      "\r\nContent-Length: 0\r\nConnection: close\r\n\r\n";
  co_await asio::async_write(stream, asio::buffer(reply), asio::redirect_error(asio::use_awaitable, ec));
  // No TLS close_notify: many servers end that way, and a check must not mind.
  stream.lowest_layer().shutdown(tcp::socket::shutdown_both, ec);
}

tcp::socket connect_blocking(asio::io_context& io, std::uint16_t port) {
  tcp::socket s(io);
  s.connect(tcp::endpoint(asio::ip::make_address("127.0.0.1"), port));
  return s;
}

bool wait_readable(tcp::socket& socket, std::chrono::milliseconds timeout) {
  pollfd p{socket.native_handle(), POLLIN, 0};
  return ::poll(&p, 1, static_cast<int>(timeout.count())) == 1;
}

std::string read_exactly(tcp::socket& socket, std::size_t size, std::chrono::milliseconds timeout) {
  // Asio's blocking reads ignore SO_RCVTIMEO (they poll forever on EAGAIN): poll ourselves.
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  std::string got;
  char chunk[65536];
  while (got.size() < size) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0 || !wait_readable(socket, left)) break;
    const ssize_t n = ::recv(socket.native_handle(), chunk, std::min(sizeof(chunk), size - got.size()), MSG_DONTWAIT);
    if (n <= 0) break;
    got.append(chunk, static_cast<std::size_t>(n));
  }
  return got;
}

std::string round_trip(tcp::socket& socket, const std::string& message) {
  boost::system::error_code ec;
  asio::write(socket, asio::buffer(message), ec);
  if (ec) return {};
  return read_exactly(socket, message.size(), std::chrono::milliseconds{3000});
}

bool closed_by_peer(tcp::socket& socket, std::chrono::milliseconds timeout) {
  if (!wait_readable(socket, timeout)) return false;
  char c;
  const ssize_t n = ::recv(socket.native_handle(), &c, 1, MSG_DONTWAIT);
  return n == 0 || (n < 0 && (errno == ECONNRESET || errno == EPIPE));
}

int open_fd_count() {
  int n = 0;
  if (DIR* d = ::opendir("/proc/self/fd")) {
    while (::readdir(d) != nullptr) ++n;
    ::closedir(d);
  }
  return n - 3;  // ".", ".." and the directory's own descriptor
}

std::uint16_t free_port() {
  asio::io_context io;
  tcp::acceptor a(io, tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0));
  return a.local_endpoint().port();
}

std::string read_file(const std::string& path) {
  std::ifstream in(path);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

}  // namespace pgha::test
