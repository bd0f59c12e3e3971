// Test double: a TCP forwarder on 127.0.0.1 (or another loopback address) port 0 in front of a
// port of 127.0.0.1, whose open connections can be cut and new ones refused (closed right after
// accept) on demand, to break an HTTP stream without touching the server. Own io_context on its
// own thread.
#pragma once

#include <array>
#include <atomic>
#include <cstdint>
#include <future>
#include <memory>
#include <thread>
#include <vector>

#include <boost/asio.hpp>

namespace pgha::test {

class TcpForwarder {
 public:
  explicit TcpForwarder(std::uint16_t target_port,
                        boost::asio::ip::address_v4 listen = boost::asio::ip::address_v4::loopback())
      : acceptor_(io_, {listen, 0}), target_port_(target_port) {
    port_ = acceptor_.local_endpoint().port();
    boost::asio::co_spawn(io_, accept_loop(), boost::asio::detached);
    thread_ = std::thread([this] { io_.run(); });
  }
  ~TcpForwarder() {
    io_.stop();
    thread_.join();
  }

  std::uint16_t port() const { return port_; }
  std::string endpoint() const {
    return "http://" + acceptor_.local_endpoint().address().to_string() + ":" + std::to_string(port_);
  }
  int connections_accepted() const { return accepted_.load(); }

  // Closes every forwarded connection and refuses new ones until resume().
  void cut_and_refuse() {
    forwarding_.store(false);
    std::promise<void> done;
    boost::asio::post(io_, [this, &done] {
      boost::system::error_code ec;
      for (auto& socket : sockets_) socket->close(ec);
      sockets_.clear();
      done.set_value();
    });
    done.get_future().wait();
  }
  void resume() { forwarding_.store(true); }

 private:
  using tcp = boost::asio::ip::tcp;

  boost::asio::awaitable<void> accept_loop() {
    for (;;) {
      boost::system::error_code ec;
      tcp::socket accepted = co_await acceptor_.async_accept(boost::asio::redirect_error(boost::asio::use_awaitable, ec));
      if (ec) co_return;
      accepted_.fetch_add(1);
      if (!forwarding_.load()) {
        accepted.close(ec);
        continue;
      }
      auto client = std::make_shared<tcp::socket>(std::move(accepted));
      auto server = std::make_shared<tcp::socket>(io_);
      co_await server->async_connect({boost::asio::ip::address_v4::loopback(), target_port_},
                                     boost::asio::redirect_error(boost::asio::use_awaitable, ec));
      if (ec) {
        client->close(ec);
        continue;
      }
      sockets_.push_back(client);
      sockets_.push_back(server);
      boost::asio::co_spawn(io_, pipe(client, server), boost::asio::detached);
      boost::asio::co_spawn(io_, pipe(server, client), boost::asio::detached);
    }
  }

  static boost::asio::awaitable<void> pipe(std::shared_ptr<tcp::socket> from, std::shared_ptr<tcp::socket> to) {
    std::array<char, 16384> buffer;
    boost::system::error_code ec;
    for (;;) {
      const std::size_t n =
          co_await from->async_read_some(boost::asio::buffer(buffer), boost::asio::redirect_error(boost::asio::use_awaitable, ec));
      if (ec) break;
      co_await boost::asio::async_write(*to, boost::asio::buffer(buffer.data(), n),
                                        boost::asio::redirect_error(boost::asio::use_awaitable, ec));
      if (ec) break;
    }
    from->close(ec);
    to->close(ec);
  }

  boost::asio::io_context io_;
  tcp::acceptor acceptor_;
  std::uint16_t port_ = 0;
  std::uint16_t target_port_;
  std::atomic<bool> forwarding_{true};
  std::atomic<int> accepted_{0};
  std::vector<std::shared_ptr<tcp::socket>> sockets_;  // io thread only
  std::thread thread_;
};

}  // namespace pgha::test
