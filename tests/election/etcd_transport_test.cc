// EtcdTransport against a canned HTTP server on loopback: what an etcd error body says reaches
// the status and the agent's log without raw control bytes (ESC sequences, NUL, forged lines).
#include "election/etcd_transport.h"

#include <fstream>
#include <memory>
#include <string>
#include <thread>

#include <boost/asio.hpp>
#include <gtest/gtest.h>

#include "election/etcd_watch.h"
#include "tests/election/log_capture.h"

namespace pgha::election {
namespace {

using namespace std::chrono_literals;
namespace asio = boost::asio;
using asio::ip::tcp;

// Answers every connection once it has read the request head: `reply`, then `chunk` written
// `repeat` times, then `tail`; then closes.
class CannedHttpServer {
 public:
  explicit CannedHttpServer(std::string reply, std::string chunk = {}, std::size_t repeat = 0, std::string tail = {})
      : reply_(std::move(reply)),
        chunk_(std::move(chunk)),
        repeat_(repeat),
        tail_(std::move(tail)),
        acceptor_(io_, tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0)) {
    port_ = acceptor_.local_endpoint().port();
    asio::co_spawn(io_, accept_loop(), asio::detached);
    thread_ = std::thread([this] { io_.run(); });
  }
  ~CannedHttpServer() {
    io_.stop();
    thread_.join();
  }
  std::string endpoint() const { return "http://127.0.0.1:" + std::to_string(port_); }

 private:
  asio::awaitable<void> accept_loop() {
    for (;;) {
      tcp::socket socket = co_await acceptor_.async_accept(asio::use_awaitable);
      asio::co_spawn(io_, answer(std::move(socket)), asio::detached);
    }
  }
  asio::awaitable<void> answer(tcp::socket socket) {
    boost::system::error_code ec;
    std::string request;
    co_await asio::async_read_until(socket, asio::dynamic_buffer(request), "\r\n\r\n",
                                    asio::redirect_error(asio::use_awaitable, ec));
    co_await asio::async_write(socket, asio::buffer(reply_), asio::redirect_error(asio::use_awaitable, ec));
    for (std::size_t i = 0; !ec && i < repeat_; ++i) {
      co_await asio::async_write(socket, asio::buffer(chunk_), asio::redirect_error(asio::use_awaitable, ec));
    }
    co_await asio::async_write(socket, asio::buffer(tail_), asio::redirect_error(asio::use_awaitable, ec));
    socket.shutdown(tcp::socket::shutdown_send, ec);
  }

  const std::string reply_;
  const std::string chunk_;
  const std::size_t repeat_;
  const std::string tail_;
  asio::io_context io_;
  tcp::acceptor acceptor_;
  int port_ = 0;
  std::thread thread_;
};

std::string http_reply(int status, const std::string& body) {
  return "HTTP/1.1 " + std::to_string(status) + " X\r\nContent-Type: application/json\r\nContent-Length: " +
         std::to_string(body.size()) + "\r\nConnection: close\r\n\r\n" + body;
}

EtcdStatus post_to(const CannedHttpServer& server) {
  EtcdClientOptions options;
  options.endpoints = {server.endpoint()};
  EtcdTransport transport(options);
  auto result = transport.post("/v3/kv/range", "{}", EtcdTransport::Clock::now() + 2s);
  EXPECT_FALSE(result.ok());
  return result.ok() ? EtcdStatus{} : result.status();
}

TEST(EtcdTransportTest, ErrorBodiesReachStatusAndLogWithoutControlBytes) {
  testing::LogCapture captured(spdlog::level::debug);  // the failed attempt is logged at debug
  const std::string forged("boom\x1b[31m\n\0[error] forged line\r\n", 32);
  const std::string json_error =
      R"({"error":"x","message":"etcdserver: bad key\u001b[2J\n\u0000[error] forged line","code":3})";
  const CannedHttpServer raw_5xx(http_reply(500, forged));
  const CannedHttpServer json_4xx(http_reply(400, json_error));
  const CannedHttpServer json_5xx(http_reply(503, json_error));

  for (const CannedHttpServer* server : {&raw_5xx, &json_4xx, &json_5xx}) {
    const EtcdStatus status = post_to(*server);
    EXPECT_FALSE(testing::has_control_bytes(status.to_string())) << status.to_string();
    EXPECT_NE(status.to_string().find("forged line"), std::string::npos) << status.to_string();
  }
  const auto messages = captured.messages();
  int attempts_logged = 0;
  for (const std::string& m : messages) {
    EXPECT_FALSE(testing::has_control_bytes(m)) << m;
    if (m.find("forged line") != std::string::npos) ++attempts_logged;
  }
  EXPECT_EQ(attempts_logged, 2);  // the two 5xx attempts; a 4xx is etcd's verdict, returned unlogged
}

// The process's peak resident set (VmHWM), in KiB.
long peak_rss_kib() {
  std::ifstream status("/proc/self/status");
  std::string line;
  while (std::getline(status, line)) {
    if (line.rfind("VmHWM:", 0) == 0) return std::stol(line.substr(6));
  }
  return -1;
}

TEST(EtcdWatchTest, AnEndlessErrorReplyIsReadWithinABound) {
  // A 500 whose chunked body runs to 256 MiB, far beyond any error text worth keeping.
  constexpr std::size_t kChunk = 0x10000;
  constexpr std::size_t kStreamed = 256u << 20;
  const CannedHttpServer server("HTTP/1.1 500 X\r\nContent-Type: text/plain\r\nTransfer-Encoding: chunked\r\n\r\n",
                                "10000\r\n" + std::string(kChunk, 'e') + "\r\n", kStreamed / kChunk, "0\r\n\r\n");
  EtcdClientOptions options;
  options.endpoints = {server.endpoint()};
  options.watch_retry_delay = 10ms;
  const long peak_before = peak_rss_kib();
  ASSERT_GT(peak_before, 0);
  EtcdWatch watch(std::make_shared<EtcdTransport>(options), "/service/x/", 0, [](const WatchResponse&) {});
  // The first stream has ended (and its error was handled) once a second one was opened.
  const auto deadline = std::chrono::steady_clock::now() + 60s;
  while (watch.streams_opened() < 2 && std::chrono::steady_clock::now() < deadline) std::this_thread::sleep_for(10ms);
  watch.stop();
  ASSERT_GE(watch.streams_opened(), 2) << "the 500 reply was not read to its end within 60 s";
  const long grown_mib = (peak_rss_kib() - peak_before) / 1024;
  EXPECT_LT(grown_mib, 64) << "reading one error reply of " << (kStreamed >> 20) << " MiB grew the peak RSS by "
                           << grown_mib << " MiB";
}

}  // namespace
}  // namespace pgha::election
