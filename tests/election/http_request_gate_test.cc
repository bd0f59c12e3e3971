// HttpRequestGate on loopback: only whole requests reach a worker, one peer address gets at most
// its share of the workers, a request trickled in (head or body) is closed at the deadline
// without ever reaching a worker, the size limits are answered 431/413/411/400, and a full gate
// closes its oldest waiting connection first. Over TLS: replies and refusals go through the TLS
// stream, a stalled handshake is closed at the request deadline without a worker, and plain HTTP
// to the TLS port is answered 400.
#include "election/http_request_gate.h"

#include <atomic>
#include <condition_variable>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>
#include <httplib.h>

#include "tests/support/slow_clients.h"
#include "tests/support/test_certs.h"
#include "tests/support/test_servers.h"
#include "tls_context/tls_context.h"

namespace pgha::election {
namespace {

using namespace std::chrono_literals;
namespace asio = boost::asio;
using asio::ip::tcp;
using test::eventually;

constexpr const char* kHeld = "127.0.0.2";  // the peer whose requests the test holds in the workers

// A gate whose workers answer "200 <request bytes>" and hold requests from kHeld until released.
class GateHarness {
 public:
  explicit GateHarness(HttpRequestGateOptions options, std::shared_ptr<asio::ssl::context> tls = nullptr)
      : gate_(options, [this](GatedRequest& request) { serve(request); }, std::move(tls)) {
    port_ = gate_.bind("127.0.0.1", 0);
    gate_.start();
  }
  ~GateHarness() {
    release();
    gate_.stop();
  }
  std::uint16_t port() const { return static_cast<std::uint16_t>(port_); }
  int served() const { return served_.load(); }
  int held_now() const { return held_now_.load(); }
  int held_most() const { return held_most_.load(); }
  void release() {
    {
      std::lock_guard lock(mutex_);
      released_ = true;
    }
    released_cv_.notify_all();
  }

 private:
  void serve(GatedRequest& request) {
    if (request.endpoints().peer_address == kHeld) {
      const int now = held_now_.fetch_add(1) + 1;
      for (int most = held_most_.load(); now > most && !held_most_.compare_exchange_weak(most, now);) {
      }
      std::unique_lock lock(mutex_);
      released_cv_.wait(lock, [this] { return released_; });
      held_now_.fetch_sub(1);
    }
    served_.fetch_add(1);
    const std::string body(request.bytes());
    (void)request.write_all("HTTP/1.0 200 OK\r\nContent-Length: " + std::to_string(body.size()) + "\r\n\r\n" + body);
  }

  std::atomic<int> served_{0};
  std::atomic<int> held_now_{0};
  std::atomic<int> held_most_{0};
  std::mutex mutex_;
  std::condition_variable released_cv_;
  bool released_ = false;
  HttpRequestGate gate_;
  int port_ = 0;
};

tcp::socket connect_from(asio::io_context& io, const std::string& source, std::uint16_t port) {
  tcp::socket socket(io);
  socket.open(tcp::v4());
  socket.bind(tcp::endpoint(asio::ip::make_address(source), 0));
  socket.connect(tcp::endpoint(asio::ip::make_address("127.0.0.1"), port));
  return socket;
}

// Sends `request` from `source` and reads until the server closes (at most `budget`).
std::string exchange(std::uint16_t port, const std::string& request, std::chrono::milliseconds budget = 3000ms,
                     const std::string& source = "127.0.0.1") {
  asio::io_context io;
  tcp::socket socket = connect_from(io, source, port);
  asio::write(socket, asio::buffer(request));
  return test::read_exactly(socket, 1 << 20, budget);
}

std::string status_line(const std::string& reply) { return reply.substr(0, reply.find("\r\n")); }

const test::TestCerts& certs() {
  static const test::TestCerts made =
      test::make_test_certs(std::filesystem::path(::testing::TempDir()) / "http_request_gate_test");
  return made;
}

std::shared_ptr<asio::ssl::context> server_tls() {
  return std::make_shared<asio::ssl::context>(tls::make_server_context({certs().server_cert, certs().server_key}));
}

// An HTTPS client that trusts the test CA, with a deadline on every step.
std::unique_ptr<httplib::SSLClient> tls_client(std::uint16_t port) {
  auto client = std::make_unique<httplib::SSLClient>("127.0.0.1", port);
  client->set_ca_cert_path(certs().ca_cert);
  client->enable_server_certificate_verification(true);
  client->set_connection_timeout(2, 0);
  client->set_read_timeout(2, 0);
  return client;
}

TEST(HttpRequestGateTest, OnePeerGetsAtMostItsShareOfTheWorkers) {
  HttpRequestGateOptions options;
  options.workers = 3;
  options.workers_per_peer = 2;
  GateHarness h(options);

  // Six whole requests from one address, each held by the worker that takes it.
  asio::io_context io;
  std::vector<tcp::socket> held;
  for (int i = 0; i < 6; ++i) {
    held.push_back(connect_from(io, kHeld, h.port()));
    asio::write(held.back(), asio::buffer(std::string("GET /held HTTP/1.0\r\n\r\n")));
  }
  ASSERT_TRUE(eventually([&] { return h.held_now() == 2; }));

  // The third worker is still free for everybody else, and answers at once.
  EXPECT_EQ(status_line(exchange(h.port(), "GET /liveness HTTP/1.0\r\n\r\n", 1000ms)), "HTTP/1.0 200 OK");
  EXPECT_EQ(h.held_most(), 2);

  // Released, the peer's other requests are served in turn, never more than two at a time.
  h.release();
  for (auto& socket : held) {
    EXPECT_EQ(status_line(test::read_exactly(socket, 1 << 20, 3000ms)), "HTTP/1.0 200 OK");
  }
  EXPECT_EQ(h.held_most(), 2);
  EXPECT_EQ(h.served(), 7);
}

TEST(HttpRequestGateTest, TrickledHeadsAndBodiesAreClosedAtTheDeadlineWithoutAWorker) {
  HttpRequestGateOptions options;
  options.request_timeout = 1s;
  options.workers = 1;
  GateHarness h(options);
  test::SlowClients slow_heads(h.port(), 20, "GET / HTTP/1.1\r\nX-Slow: ", 50ms);
  test::SlowClients slow_bodies(h.port(), 20, "POST /switchover HTTP/1.1\r\nContent-Length: 1000\r\n\r\n", 50ms,
                                "127.0.0.3");
  // The one worker stays free for whole requests meanwhile.
  for (int i = 0; i < 3; ++i) {
    EXPECT_EQ(status_line(exchange(h.port(), "GET /liveness HTTP/1.0\r\n\r\n", 1000ms)), "HTTP/1.0 200 OK");
  }
  EXPECT_TRUE(eventually([&] { return slow_heads.closed_by_server() == 20 && slow_bodies.closed_by_server() == 20; },
                         options.request_timeout + 5s));
  EXPECT_EQ(h.served(), 3);
}

TEST(HttpRequestGateTest, HandsOverExactlyTheHeadAndTheContentLengthBody) {
  GateHarness h(HttpRequestGateOptions{});
  const std::string request = "POST /failover HTTP/1.1\r\nHost: x\r\ncontent-length: 5\r\n\r\nhello";
  const std::string reply = exchange(h.port(), request + "PIPELINED");
  EXPECT_EQ(reply.substr(reply.find("\r\n\r\n") + 4), request);
}

TEST(HttpRequestGateTest, OversizedOrUnframedRequestsAreRefusedWithAStatus) {
  HttpRequestGateOptions options;
  options.max_head_bytes = 1024;
  options.max_body_bytes = 100;
  GateHarness h(options);
  EXPECT_EQ(status_line(exchange(h.port(), "GET / HTTP/1.1\r\nX: " + std::string(2000, 'a') + "\r\n\r\n")),
            "HTTP/1.1 431 Request Header Fields Too Large");
  EXPECT_EQ(status_line(exchange(h.port(), "GET / HTTP/1.1\r\nX: " + std::string(2000, 'a'))),
            "HTTP/1.1 431 Request Header Fields Too Large");
  EXPECT_EQ(status_line(exchange(h.port(), "POST / HTTP/1.1\r\nContent-Length: 101\r\n\r\n")),
            "HTTP/1.1 413 Payload Too Large");
  EXPECT_EQ(status_line(exchange(h.port(), "POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n")),
            "HTTP/1.1 411 Length Required");
  EXPECT_EQ(status_line(exchange(h.port(), "POST / HTTP/1.1\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nab")),
            "HTTP/1.1 400 Bad Request");
  EXPECT_EQ(status_line(exchange(h.port(), "POST / HTTP/1.1\r\nContent-Length: -1\r\n\r\n")), "HTTP/1.1 400 Bad Request");
  EXPECT_EQ(h.served(), 0);
}

TEST(HttpRequestGateTest, AFullGateClosesItsOldestWaitingConnection) {
  HttpRequestGateOptions options;
  options.max_waiting_connections = 4;
  GateHarness h(options);
  test::SlowClients oldest(h.port(), 1, "GET / HTTP/1.1\r\n", 50ms);
  // The gate must have taken the oldest before the others arrive, so that it is the oldest.
  ASSERT_TRUE(eventually([&] { return status_line(exchange(h.port(), "GET / HTTP/1.0\r\n\r\n", 1000ms)) ==
                                      "HTTP/1.0 200 OK"; }));
  test::SlowClients newer(h.port(), 3, "GET / HTTP/1.1\r\n", 50ms, "127.0.0.3");
  EXPECT_EQ(oldest.closed_by_server(), 0);
  // A fifth connection (this whole request) pushes the oldest out and is answered.
  EXPECT_EQ(status_line(exchange(h.port(), "GET / HTTP/1.0\r\n\r\n", 1000ms)), "HTTP/1.0 200 OK");
  EXPECT_TRUE(eventually([&] { return oldest.closed_by_server() == 1; }));
  EXPECT_EQ(newer.closed_by_server(), 0);
}

TEST(HttpRequestGateTest, BindFailsWithTheSystemsReason) {
  GateHarness h(HttpRequestGateOptions{});
  HttpRequestGate second(HttpRequestGateOptions{}, [](GatedRequest&) {});
  try {
    second.bind("127.0.0.1", h.port());
    FAIL() << "second bind succeeded";
  } catch (const std::runtime_error& e) {
    EXPECT_NE(std::string(e.what()).find("in use"), std::string::npos) << e.what();
  }
}

TEST(HttpRequestGateTest, OverTlsRepliesAndRefusalsGoThroughTheTlsStream) {
  HttpRequestGateOptions options;
  options.max_head_bytes = 1024;
  GateHarness h(options, server_tls());
  auto client = tls_client(h.port());
  const httplib::Result res = client->Get("/liveness");
  ASSERT_TRUE(res) << httplib::to_string(res.error());
  EXPECT_EQ(res->status, 200);
  EXPECT_EQ(res->body.substr(0, res->body.find("\r\n")), "GET /liveness HTTP/1.1");  // the request, decrypted
  const httplib::Result refused = tls_client(h.port())->Get("/", {{"X-Big", std::string(2000, 'a')}});
  ASSERT_TRUE(refused) << httplib::to_string(refused.error());
  EXPECT_EQ(refused->status, 431);
  EXPECT_EQ(h.served(), 1);
}

TEST(HttpRequestGateTest, PlainHttpToTheTlsPortIsAnswered400InPlainText) {
  GateHarness h(HttpRequestGateOptions{}, server_tls());
  const std::string reply = exchange(h.port(), "GET /liveness HTTP/1.0\r\n\r\n");
  EXPECT_EQ(status_line(reply), "HTTP/1.1 400 Bad Request");
  EXPECT_NE(reply.find("HTTPS"), std::string::npos) << reply;
  EXPECT_EQ(h.served(), 0);
}

TEST(HttpRequestGateTest, StalledTlsHandshakesAreClosedAtTheDeadlineWithoutAWorker) {
  HttpRequestGateOptions options;
  options.request_timeout = 1s;
  options.workers = 1;
  GateHarness h(options, server_tls());
  // A TLS record header announcing a 512-byte ClientHello, then one byte of it every 50 ms.
  test::SlowClients stalled(h.port(), 20, std::string("\x16\x03\x01\x02\x00", 5), 50ms, "127.0.0.3");
  // The one worker stays free for whole requests meanwhile.
  for (int i = 0; i < 3; ++i) {
    const httplib::Result res = tls_client(h.port())->Get("/liveness");
    ASSERT_TRUE(res) << httplib::to_string(res.error());
    EXPECT_EQ(res->status, 200);
  }
  EXPECT_TRUE(eventually([&] { return stalled.closed_by_server() == 20; }, options.request_timeout + 5s));
  EXPECT_EQ(h.served(), 3);
}

}  // namespace
}  // namespace pgha::election
