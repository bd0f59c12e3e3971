// ScriptedServer: a TCP server for checker tests, on 127.0.0.1 port 0, running as coroutines
// on the test's io_context (single-threaded with the checker under test, so no locking). Each
// accepted connection: read until `min_request_bytes` arrived, send `reply` (all at once, or
// one byte per `drip_interval`, then filler bytes forever), then either close or wait for the
// client to close, recording whether it ended with FIN (EOF) or RST.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>

#include "health/checker.h"

namespace pgha::health::testing {

namespace asio = boost::asio;
using asio::ip::tcp;
using boost::system::error_code;

struct Script {
  std::size_t min_request_bytes = 1;  // 0: do not wait for a request
  std::string reply;
  bool close_after_reply = true;      // false: keep reading until the client closes
  std::chrono::milliseconds drip_interval{0};  // > 0: send one byte per interval, forever
  // After the client's EOF, keep writing a few chunks (yielding in between): a client that
  // already closed its socket answers with RST, which a read would not show once a FIN came.
  bool write_after_client_eof = false;
};

struct ConnectionRecord {
  std::string received;      // every byte the client sent
  bool client_fin = false;   // the client's close arrived as EOF
  bool client_rst = false;   // ... or as a reset
  bool finished = false;
};

class ScriptedServer {
 public:
  ScriptedServer(asio::io_context& io, Script script)
      : io_(io), script_(std::move(script)), acceptor_(io, tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0)) {
    asio::co_spawn(io_, accept_loop(), asio::detached);
  }
  ~ScriptedServer() { stop(); }

  std::uint16_t port() const { return port_; }
  const std::vector<std::shared_ptr<ConnectionRecord>>& connections() const { return records_; }
  bool all_finished() const {
    for (const auto& r : records_) if (!r->finished) return false;
    return true;
  }

  // Closes the acceptor and every connection; the coroutines then end on their own.
  void stop() {
    error_code ignored;
    acceptor_.close(ignored);
    for (auto& s : sockets_) s->close(ignored);
    for (auto& t : timers_) t->cancel();
  }

 private:
  asio::awaitable<void> accept_loop() {
    for (;;) {
      auto socket = std::make_shared<tcp::socket>(io_);
      error_code ec;
      co_await acceptor_.async_accept(*socket, asio::redirect_error(asio::use_awaitable, ec));
      if (ec) co_return;
      auto record = std::make_shared<ConnectionRecord>();
      records_.push_back(record);
      sockets_.push_back(socket);
      asio::co_spawn(io_, serve(socket, record), asio::detached);
    }
  }

  asio::awaitable<void> serve(std::shared_ptr<tcp::socket> socket, std::shared_ptr<ConnectionRecord> record) {
    error_code ec;
    char buf[4096];
    while (record->received.size() < script_.min_request_bytes) {
      const std::size_t n = co_await socket->async_read_some(asio::buffer(buf), asio::redirect_error(asio::use_awaitable, ec));
      if (ec) break;
      record->received.append(buf, n);
    }
    if (!ec && script_.drip_interval.count() > 0) {
      auto timer = std::make_shared<asio::steady_timer>(io_);
      timers_.push_back(timer);
      for (std::size_t i = 0; !ec; ++i) {
        const char byte = i < script_.reply.size() ? script_.reply[i] : 'a';
        co_await asio::async_write(*socket, asio::buffer(&byte, 1), asio::redirect_error(asio::use_awaitable, ec));
        if (ec) break;
        timer->expires_after(script_.drip_interval);
        co_await timer->async_wait(asio::redirect_error(asio::use_awaitable, ec));
      }
    } else if (!ec && !script_.reply.empty()) {
      co_await asio::async_write(*socket, asio::buffer(script_.reply), asio::redirect_error(asio::use_awaitable, ec));
    }
    if (!ec && !script_.close_after_reply) {
      for (;;) {
        const std::size_t n = co_await socket->async_read_some(asio::buffer(buf), asio::redirect_error(asio::use_awaitable, ec));
        if (ec) break;
        record->received.append(buf, n);
      }
    }
    if (ec == asio::error::eof) record->client_fin = true;
    if (ec == asio::error::connection_reset) record->client_rst = true;
    if (ec == asio::error::eof && script_.write_after_client_eof) {
      const std::string chunk(1024, 'z');
      ec.clear();
      for (int i = 0; i < 5 && !ec; ++i) {
        co_await asio::async_write(*socket, asio::buffer(chunk), asio::redirect_error(asio::use_awaitable, ec));
        co_await asio::post(io_, asio::use_awaitable);
      }
      if (ec == asio::error::connection_reset || ec == asio::error::broken_pipe) record->client_rst = true;
    }
    error_code ignored;
    socket->close(ignored);
    record->finished = true;
  }

  asio::io_context& io_;
  Script script_;
  tcp::acceptor acceptor_;
  std::uint16_t port_ = acceptor_.local_endpoint().port();
  std::vector<std::shared_ptr<ConnectionRecord>> records_;
  std::vector<std::shared_ptr<tcp::socket>> sockets_;
  std::vector<std::shared_ptr<asio::steady_timer>> timers_;
};

// Runs the io_context until `done` holds or `limit` passes (polling, no sleeping).
inline bool run_until(asio::io_context& io, const std::function<bool()>& done,
                      std::chrono::milliseconds limit = std::chrono::seconds(5)) {
  const auto give_up = std::chrono::steady_clock::now() + limit;
  while (!done()) {
    if (std::chrono::steady_clock::now() > give_up) return false;
    io.restart();
    io.run_one_for(std::chrono::milliseconds(10));
  }
  return true;
}

// Runs one check to completion on `io`.
inline CheckResult run_check(asio::io_context& io, Checker& checker) {
  std::optional<CheckResult> result;
  asio::co_spawn(io, checker.check(), [&](std::exception_ptr e, CheckResult r) {
    if (e) std::rethrow_exception(e);
    result = std::move(r);
  });
  run_until(io, [&] { return result.has_value(); }, std::chrono::seconds(10));
  if (!result) throw std::runtime_error("check did not complete");
  return *result;
}

// A port on 127.0.0.1 where nothing listens (bound, then closed).
inline std::uint16_t refused_port(asio::io_context& io) {
  tcp::acceptor probe(io, tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0));
  const auto port = probe.local_endpoint().port();
  probe.close();
  return port;
}

inline CheckSpec spec_for(CheckType type, std::uint16_t port, std::chrono::milliseconds deadline) {
  CheckSpec spec;
  spec.type = type;
  spec.host = "127.0.0.1";
  spec.port = port;
  spec.timing.timeout = deadline;
  return spec;
}

}  // namespace pgha::health::testing
