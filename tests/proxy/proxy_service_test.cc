// ProxyService end to end on loopback with real sockets: relay, half-close, routing by HTTP
// check, shutdown-sessions on mark-down, no server, connect failure, idle timeout, maxconn,
// misbehaving clients and backends (no leaked descriptors), admin API renderers.
// The fake HTTP endpoint drives the state machine here; real Patroni is in tests/integration.
#include "proxy/proxy_service.h"

#include <sys/resource.h>
#include <sys/socket.h>

#include <algorithm>
#include <string>
#include <vector>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "proxy/admin_server.h"
#include "proxy/fd_budget.h"
#include "proxy/metrics_page.h"
#include "tests/proxy/service_test_configs.h"
#include "tests/support/test_servers.h"

namespace pgha::proxy {
namespace {

using namespace std::chrono_literals;
using test::eventually;
namespace asio = boost::asio;
using asio::ip::tcp;

using testing::backend;
using testing::checked_backend;
using testing::config_with;

class ProxyServiceTest : public ::testing::Test {
 protected:
  void start(ProxyConfig config) {
    service_ = std::make_unique<ProxyService>(std::move(config));
    service_->start();
    // Asio creates the test io_context's reactor (epoll, eventfd, timerfd) with its first
    // socket: do it now so that descriptor baselines taken after start() are stable.
    tcp::socket warm_up(io_);
    warm_up.open(tcp::v4());
  }
  void TearDown() override {
    if (service_) service_->stop(0ms);
  }
  std::uint16_t port(std::size_t listener = 0) const { return service_->listener_endpoint(listener).port(); }
  tcp::socket connect() { return test::connect_blocking(io_, port()); }
  bool server_up(std::size_t server) const { return service_->health().status(0, server).up; }

  asio::io_context io_;
  std::unique_ptr<ProxyService> service_;
};

TEST_F(ProxyServiceTest, RelaysSmallAndLargeMessagesBothWays) {
  test::EchoServer echo;
  start(config_with({backend("echo", echo.port())}));
  tcp::socket client = connect();
  EXPECT_EQ(test::round_trip(client, "hello"), "hello");
  // Far larger than the relay buffer and the socket buffers: exercises the write-wait path
  // with the reader stalled (backpressure) in both directions.
  std::string big(4 * 1024 * 1024, 'x');
  for (std::size_t i = 0; i < big.size(); i += 4096) big[i] = static_cast<char>('a' + (i / 4096) % 26);
  std::thread writer([&] { asio::write(client, asio::buffer(big)); });
  const std::string got = test::read_exactly(client, big.size(), 20000ms);
  writer.join();
  ASSERT_EQ(got.size(), big.size());
  EXPECT_TRUE(got == big);
}

// Sends 16 MiB through the echo backend and checks every byte came back in order (the pattern
// changes every 1000 bytes, so a lost, doubled or reordered chunk shows).
void expect_bulk_echo_intact(tcp::socket client) {
  std::string big(16 * 1024 * 1024, '\0');
  for (std::size_t i = 0; i < big.size(); ++i) big[i] = static_cast<char>('a' + (i / 1000) % 26);
  std::thread writer([&] { asio::write(client, asio::buffer(big)); });
  const std::string got = test::read_exactly(client, big.size(), 30000ms);
  writer.join();
  ASSERT_EQ(got.size(), big.size());
  EXPECT_TRUE(got == big);
}

TEST_F(ProxyServiceTest, WithSpliceBulkStreamsAreSplicedIntactAndSmallMessagesAreNot) {
  test::EchoServer echo;
  auto config = config_with({backend("echo", echo.port())});
  config.listeners[0].splice = true;
  start(std::move(config));
  {
    tcp::socket client = connect();
    EXPECT_EQ(test::round_trip(client, "small"), "small");
  }
  ASSERT_TRUE(eventually([&] { return service_->session_count() == 0; }, 3000ms));
  EXPECT_EQ(service_->listener(0).bytes_spliced.load(), 0u) << "a small exchange must not use splice";

  expect_bulk_echo_intact(connect());
  ASSERT_TRUE(eventually([&] { return service_->session_count() == 0; }, 3000ms));
  // 16 MiB each way. The first read of every burst goes through the buffer (it is what tells a
  // burst from a trickle), so how much is spliced depends on how arrivals bunch up: about half in
  // lock-step on a quiet machine, nearly all under load. An eighth is far above what a broken
  // bulk detection leaves (nothing) and far below what timing can take away.
  EXPECT_GT(service_->listener(0).bytes_spliced.load(), 4u * 1024 * 1024);
}

TEST_F(ProxyServiceTest, WithoutSpliceBulkStreamsGoThroughUserSpace) {
  test::EchoServer echo;
  start(config_with({backend("echo", echo.port())}));
  expect_bulk_echo_intact(connect());
  ASSERT_TRUE(eventually([&] { return service_->session_count() == 0; }, 3000ms));
  EXPECT_EQ(service_->listener(0).bytes_spliced.load(), 0u);
  EXPECT_EQ(service_->listener(0).bytes_in.load(), 16u * 1024 * 1024);
}

// The relay waits on readiness edges. While a pump waits for a slow server to take a chunk, the
// client's further data raises edges the pump cannot act on; once the chunk is written the pump
// must read again rather than wait for an edge that already went by (this stalled pgbench -i's
// COPY once). Paced 8 KiB messages keep the proxy's reads short; the server does not read, so
// after the proxy's send buffer (~2.6 MB on loopback: its MSS is 64 KiB) a write waits and the
// rest of the 6.4 MiB lands in the proxy's receive buffer; the client then goes quiet, with
// nothing left in flight, and only then does the server read.
TEST_F(ProxyServiceTest, DataThatArrivesWhileAWriteWaitsIsRelayedWithoutAnotherEdge) {
  asio::io_context backend_io;
  tcp::acceptor slow(backend_io);
  slow.open(tcp::v4());
  slow.set_option(asio::socket_base::receive_buffer_size(4096));  // before listen: a small window
  slow.bind(tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0));
  slow.listen();
  start(config_with({backend("slow", slow.local_endpoint().port())}));
  tcp::socket client = connect();
  tcp::socket server(backend_io);
  slow.accept(server);
  const std::string message(8 * 1024, 'm');
  constexpr int kMessages = 800;
  for (int i = 0; i < kMessages; ++i) {
    asio::write(client, asio::buffer(message));
    std::this_thread::sleep_for(200us);
  }
  std::this_thread::sleep_for(200ms);
  const std::size_t sent = message.size() * kMessages;
  const std::string got = test::read_exactly(server, sent, 5000ms);
  EXPECT_EQ(got.size(), sent) << "the relay stalled with data in the proxy";
}

TEST_F(ProxyServiceTest, HalfCloseIsPassedOnAndTheOtherDirectionDrains) {
  test::EchoServer echo;
  start(config_with({backend("echo", echo.port())}));
  tcp::socket client = connect();
  asio::write(client, asio::buffer(std::string("last words")));
  client.shutdown(tcp::socket::shutdown_send);
  EXPECT_EQ(test::read_exactly(client, 10, 3000ms), "last words");
  EXPECT_TRUE(test::closed_by_peer(client, 2000ms)) << "the echo server's FIN must reach the client";
}

TEST_F(ProxyServiceTest, RoutesToTheServerWhoseCheckPassesAndFollowsAChange) {
  test::EchoServer a, b;
  test::HealthEndpoint health_a(200), health_b(503);
  start(config_with({checked_backend("a", a.port(), health_a.port()), checked_backend("b", b.port(), health_b.port())}));
  ASSERT_TRUE(eventually([&] { return server_up(0) && !server_up(1); }));
  {
    tcp::socket c = connect();
    EXPECT_EQ(test::round_trip(c, "x"), "x");
  }
  EXPECT_EQ(a.connections_accepted(), 1);
  EXPECT_EQ(b.connections_accepted(), 0);

  health_a.set_status(503);
  health_b.set_status(200);
  ASSERT_TRUE(eventually([&] { return !server_up(0) && server_up(1); }));
  tcp::socket c = connect();
  EXPECT_EQ(test::round_trip(c, "y"), "y");
  EXPECT_EQ(b.connections_accepted(), 1);
  EXPECT_EQ(a.connections_accepted(), 1);
}

TEST_F(ProxyServiceTest, ServersStartDownUntilTheFirstCheckPasses) {
  test::EchoServer a;
  test::HealthEndpoint health_a(503);
  start(config_with({checked_backend("a", a.port(), health_a.port())}));
  ASSERT_TRUE(eventually([&] { return health_a.requests() >= 1; }));
  EXPECT_FALSE(server_up(0));
  tcp::socket c = connect();
  EXPECT_TRUE(test::closed_by_peer(c, 2000ms)) << "no server up: the client is closed at once";
  EXPECT_EQ(a.connections_accepted(), 0) << "a server that never passed a check gets no session";
  EXPECT_EQ(service_->listener(0).no_server.load(), 1u);
}

// A proxy starting beside another on the same ports (SO_REUSEPORT: replacing HAProxy) must not
// take clients before it knows where to send them: start() listens once the first checks answered.
TEST_F(ProxyServiceTest, ListensOnlyOnceTheFirstChecksHaveAnswered) {
  test::EchoServer a;
  test::HealthEndpoint health_a(200);
  start(config_with({checked_backend("a", a.port(), health_a.port())}));
  EXPECT_TRUE(server_up(0)) << "start() returned before the first check answered";
  tcp::socket c = connect();
  EXPECT_EQ(test::round_trip(c, "first"), "first") << "the first client after start() is served";
}

TEST_F(ProxyServiceTest, ACheckThatNeverAnswersDelaysListeningByItsDeadlineOnly) {
  test::EchoServer a;
  test::SilentServer hung_health;
  auto config = config_with({checked_backend("a", a.port(), hung_health.port())});
  config.listeners[0].servers[0].check.timing.timeout = 300ms;
  const auto before = std::chrono::steady_clock::now();
  start(std::move(config));
  const auto waited = std::chrono::steady_clock::now() - before;
  EXPECT_GE(waited, 300ms);
  EXPECT_LT(waited, 3000ms) << "bounded by the check deadline";
  EXPECT_FALSE(server_up(0));
  tcp::socket c = connect();
  EXPECT_TRUE(test::closed_by_peer(c, 2000ms)) << "listening, with no server up";
}

TEST_F(ProxyServiceTest, ALongCheckTimeoutDelaysListeningByTwoSecondsAtMost) {
  test::EchoServer a;
  test::SilentServer hung_health;
  auto config = config_with({checked_backend("a", a.port(), hung_health.port())});
  config.listeners[0].servers[0].check.timing.timeout = 10s;  // HAProxy's default inter, as a deadline
  const auto before = std::chrono::steady_clock::now();
  start(std::move(config));
  const auto waited = std::chrono::steady_clock::now() - before;
  EXPECT_GE(waited, 1900ms);
  EXPECT_LT(waited, 5000ms);
  tcp::socket c = connect();
  EXPECT_TRUE(test::closed_by_peer(c, 2000ms)) << "listening, with no server up";
}

TEST_F(ProxyServiceTest, MarkDownShutsDownSessionsOnEveryWorker) {
  test::EchoServer a;
  test::HealthEndpoint health_a(200);
  start(config_with({checked_backend("a", a.port(), health_a.port(), /*shutdown=*/true)}));
  ASSERT_TRUE(eventually([&] { return server_up(0); }));
  std::vector<tcp::socket> clients;
  for (int i = 0; i < 8; ++i) {  // SO_REUSEPORT spreads these over both workers
    clients.push_back(connect());
    ASSERT_EQ(test::round_trip(clients.back(), "ping"), "ping");
  }
  health_a.set_status(503);
  for (auto& c : clients) EXPECT_TRUE(test::closed_by_peer(c, 3000ms));
  EXPECT_TRUE(eventually([&] { return a.connections_open() == 0; })) << "server side closed too";
  EXPECT_EQ(service_->listener(0).pool.stats(0).killed_on_down.load(), 8u);
}

TEST_F(ProxyServiceTest, WithoutShutdownSessionsAMarkedDownServerKeepsItsSessions) {
  test::EchoServer a;
  test::HealthEndpoint health_a(200);
  start(config_with({checked_backend("a", a.port(), health_a.port(), /*shutdown=*/false)}));
  ASSERT_TRUE(eventually([&] { return server_up(0); }));
  tcp::socket c = connect();
  ASSERT_EQ(test::round_trip(c, "ping"), "ping");
  health_a.set_status(503);
  ASSERT_TRUE(eventually([&] { return !server_up(0); }));
  EXPECT_EQ(test::round_trip(c, "still here"), "still here");
}

TEST_F(ProxyServiceTest, ConnectFailureClosesTheClientAndIsCounted) {
  std::uint16_t dead_port;
  {
    tcp::acceptor probe(io_, tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0));
    dead_port = probe.local_endpoint().port();
  }  // closed: nothing listens there now
  start(config_with({backend("dead", dead_port)}));
  tcp::socket c = connect();
  EXPECT_TRUE(test::closed_by_peer(c, 3000ms));
  EXPECT_TRUE(eventually([&] { return service_->listener(0).connect_failed.load() == 1; }));
  EXPECT_GE(service_->listener(0).pool.stats(0).connect_failures.load(), 1u);
}

TEST_F(ProxyServiceTest, ConnectFailureRetriesAnotherServer) {
  std::uint16_t dead_port;
  {
    tcp::acceptor probe(io_, tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0));
    dead_port = probe.local_endpoint().port();
  }
  test::EchoServer alive;
  start(config_with({backend("dead", dead_port), backend("alive", alive.port())}, Balance::kFirst));
  tcp::socket c = connect();
  EXPECT_EQ(test::round_trip(c, "retry"), "retry");
  EXPECT_EQ(alive.connections_accepted(), 1);
}

TEST_F(ProxyServiceTest, IdleSessionsAreClosedAfterTheTimeout) {
  test::EchoServer echo;
  auto config = config_with({backend("echo", echo.port())});
  config.listeners[0].timeout_client = 200ms;
  config.listeners[0].timeout_server = 200ms;
  start(std::move(config));
  tcp::socket c = connect();
  ASSERT_EQ(test::round_trip(c, "a"), "a");
  const auto t0 = std::chrono::steady_clock::now();
  EXPECT_TRUE(test::closed_by_peer(c, 3000ms));
  EXPECT_GE(std::chrono::steady_clock::now() - t0, 150ms);
  EXPECT_EQ(service_->listener(0).idle_closed.load(), 1u);
}

TEST_F(ProxyServiceTest, ListenerMaxconnHoldsExtraClientsUntilASlotFrees) {
  test::EchoServer echo;
  auto config = config_with({backend("echo", echo.port())});
  config.workers = 1;
  config.listeners[0].maxconn = 2;
  start(std::move(config));
  tcp::socket c1 = connect(), c2 = connect();
  ASSERT_EQ(test::round_trip(c1, "1"), "1");
  ASSERT_EQ(test::round_trip(c2, "2"), "2");
  tcp::socket c3 = connect();  // completes in the kernel backlog, not served yet
  asio::write(c3, asio::buffer(std::string("3")));
  EXPECT_FALSE(test::wait_readable(c3, 300ms)) << "third client must wait while the listener is full";
  EXPECT_EQ(echo.connections_accepted(), 2);
  c1.close();
  EXPECT_EQ(test::read_exactly(c3, 1, 3000ms), "3");
}

TEST_F(ProxyServiceTest, GlobalMaxconnIsSharedByAllListeners) {
  test::EchoServer echo;
  auto config = config_with({backend("echo", echo.port())});
  config.maxconn = 2;
  ListenerConfig second = config.listeners[0];
  second.name = "read";
  config.listeners.push_back(second);
  start(std::move(config));
  tcp::socket a = connect();
  tcp::socket b = test::connect_blocking(io_, service_->listener_endpoint(1).port());
  ASSERT_EQ(test::round_trip(a, "a"), "a");
  ASSERT_EQ(test::round_trip(b, "b"), "b");
  tcp::socket c = test::connect_blocking(io_, service_->listener_endpoint(1).port());
  asio::write(c, asio::buffer(std::string("c")));
  EXPECT_FALSE(test::wait_readable(c, 300ms)) << "process-wide limit reached: the client waits";
  EXPECT_EQ(service_->process_sessions().active(), 2);
  a.close();
  EXPECT_EQ(test::read_exactly(c, 1, 3000ms), "c");
}

TEST_F(ProxyServiceTest, GlobalMaxconnDefaultsToHalfTheDescriptorLimitLessAReserve) {
  test::EchoServer echo;
  const ProxyConfig config = config_with({backend("echo", echo.port())});
  start(config);
  rlimit lim{};
  ASSERT_EQ(::getrlimit(RLIMIT_NOFILE, &lim), 0);
  const FdBudget budget = fd_budget_for(config, config.workers);
  EXPECT_EQ(service_->process_sessions().max(), static_cast<int>((lim.rlim_cur - budget.reserve) / 2));
  EXPECT_GT(budget.reserve, 0);
  EXPECT_LT(budget.reserve, 200) << "a small configuration keeps a small reserve";
}

TEST_F(ProxyServiceTest, HungBackendAndVanishingClientsLeakNoDescriptors) {
  test::SilentServer silent;
  test::EchoServer echo;
  auto config = config_with({backend("silent", silent.port())});
  config.listeners[0].timeout_fin = 200ms;
  ListenerConfig second = config.listeners[0];
  second.name = "echo";
  second.servers = {backend("echo", echo.port())};
  config.listeners.push_back(second);
  start(std::move(config));
  const int baseline = test::open_fd_count();

  // Clients to a backend that never answers, then gone: the session is half-closed and the
  // hung backend never finishes it, so the half-closed timeout ("timeout client-fin") ends it.
  for (int i = 0; i < 20; ++i) {
    tcp::socket c = connect();
    asio::write(c, asio::buffer(std::string("SELECT 1")));
  }
  // Clients that vanish mid-packet with a reset (SO_LINGER 0), and clients that send nothing.
  for (int i = 0; i < 50; ++i) {
    tcp::socket c = test::connect_blocking(io_, service_->listener_endpoint(1).port());
    asio::write(c, asio::buffer(std::string("\x00\x00\x01", 3)));
    c.set_option(asio::socket_base::linger(true, 0));
  }
  for (int i = 0; i < 50; ++i) {
    tcp::socket c = test::connect_blocking(io_, service_->listener_endpoint(1).port());
  }
  // Every client reached the proxy (and the hung backend) before we look for leftovers.
  ASSERT_TRUE(eventually([&] { return silent.connections_accepted() == 20; }));
  ASSERT_TRUE(eventually([&] { return service_->listener(1).accepted.load() == 100; }));
  EXPECT_TRUE(eventually([&] { return service_->session_count() == 0; }, 5000ms))
      << service_->session_count() << " sessions left";
  EXPECT_TRUE(eventually([&] { return test::open_fd_count() <= baseline + 20; }, 5000ms))
      << test::open_fd_count() << " fds, baseline " << baseline;
  // The silent server still holds its 20 accepted sockets (counted in this process): all the
  // proxy's own descriptors are gone.
  EXPECT_EQ(silent.connections_accepted(), 20);
  tcp::socket c = test::connect_blocking(io_, service_->listener_endpoint(1).port());
  EXPECT_EQ(test::round_trip(c, "alive"), "alive");
}

TEST_F(ProxyServiceTest, AFloodOfTwiceMaxconnClientsIsServedAndCleanedUp) {
  test::EchoServer echo;
  auto config = config_with({backend("echo", echo.port())});
  config.listeners[0].maxconn = 100;
  start(std::move(config));
  const int baseline = test::open_fd_count();
  {
    std::vector<tcp::socket> clients;
    for (int i = 0; i < 200; ++i) clients.push_back(connect());
    for (auto& c : clients) asio::write(c, asio::buffer(std::string("f")));
    // Exactly maxconn clients are served; the others wait in the backlog.
    std::vector<bool> served(clients.size(), false);
    auto count_served = [&] {
      for (std::size_t i = 0; i < clients.size(); ++i) served[i] = test::wait_readable(clients[i], 0ms);
      return std::count(served.begin(), served.end(), true);
    };
    EXPECT_TRUE(eventually([&] { return count_served() == 100; })) << count_served() << " served";
    EXPECT_EQ(service_->listener(0).sessions.active(), 100);
    EXPECT_EQ(echo.connections_accepted(), 100);
    // Closing the served ones lets the waiting ones in.
    for (std::size_t i = 0; i < clients.size(); ++i) {
      if (served[i]) clients[i].close();
    }
    for (std::size_t i = 0; i < clients.size(); ++i) {
      if (!served[i]) {
        EXPECT_EQ(test::read_exactly(clients[i], 1, 3000ms), "f") << "client " << i;
      }
    }
  }
  EXPECT_TRUE(eventually([&] { return service_->session_count() == 0; }, 10000ms));
  EXPECT_TRUE(eventually([&] { return test::open_fd_count() <= baseline; }, 5000ms))
      << test::open_fd_count() << " fds, baseline " << baseline;
  tcp::socket c = connect();
  EXPECT_EQ(test::round_trip(c, "ok"), "ok");
}

TEST_F(ProxyServiceTest, AdminRenderersReportStateAndCounters) {
  test::EchoServer a;
  test::HealthEndpoint health_a(200);
  start(config_with({checked_backend("a", a.port(), health_a.port())}));
  ASSERT_TRUE(eventually([&] { return server_up(0); }));
  tcp::socket c = connect();
  ASSERT_EQ(test::round_trip(c, "m"), "m");
  auto status = nlohmann::json::parse(render_status_json(*service_));
  const auto& server = status["listeners"][0]["servers"][0];
  EXPECT_EQ(server["name"], "a");
  EXPECT_EQ(server["state"], "UP");
  EXPECT_EQ(server["sessions"], 1);
  EXPECT_EQ(server["check"]["type"], "http");
  EXPECT_EQ(server["check"]["detail"].get<std::string>().find("200") != std::string::npos, true);
  const std::string metrics = render_metrics(*service_);
  EXPECT_NE(metrics.find("pgha_server_up{listener=\"write\",server=\"a\"} 1"), std::string::npos) << metrics;
  EXPECT_NE(metrics.find("pgha_server_sessions{listener=\"write\",server=\"a\"} 1"), std::string::npos);
  // The same facts under HAProxy's exporter names.
  for (const char* line : {"haproxy_server_status{proxy=\"write\",server=\"a\",state=\"UP\"} 1\n",
                           "haproxy_server_status{proxy=\"write\",server=\"a\",state=\"DOWN\"} 0\n",
                           "haproxy_server_check_status{proxy=\"write\",server=\"a\",state=\"L7OK\"} 1\n",
                           "haproxy_server_check_status{proxy=\"write\",server=\"a\",state=\"L7STS\"} 0\n",
                           "haproxy_server_current_sessions{proxy=\"write\",server=\"a\"} 1\n",
                           "haproxy_backend_active_servers{proxy=\"write\"} 1\n",
                           "haproxy_backend_status{proxy=\"write\",state=\"UP\"} 1\n",
                           "haproxy_frontend_current_sessions{proxy=\"write\"} 1\n",
                           "# TYPE haproxy_server_sessions_total counter\n"}) {
    EXPECT_NE(metrics.find(line), std::string::npos) << line << metrics;
  }
  // Bytes reach the counters when a session ends.
  c.close();
  ASSERT_TRUE(eventually([&] {
    return render_metrics(*service_).find("haproxy_server_bytes_in_total{proxy=\"write\",server=\"a\"} 1\n") !=
           std::string::npos;
  }));
  // Admin states as HAProxy writes them: DRAIN for an UP server in drain, MAINT over all; neither
  // counts as an active server, and a backend without one is DOWN.
  const auto shows = [&](const std::vector<std::string>& lines) {
    return eventually([&] {
      const std::string m = render_metrics(*service_);
      return std::all_of(lines.begin(), lines.end(), [&](const std::string& l) { return m.find(l) != std::string::npos; });
    });
  };
  ASSERT_TRUE(service_->health().set_admin_state("write", "a", HealthMonitor::AdminState::kDrain));
  EXPECT_TRUE(shows({"haproxy_server_status{proxy=\"write\",server=\"a\",state=\"DRAIN\"} 1\n",
                     "haproxy_server_status{proxy=\"write\",server=\"a\",state=\"UP\"} 0\n",
                     "haproxy_backend_active_servers{proxy=\"write\"} 0\n",
                     "haproxy_backend_status{proxy=\"write\",state=\"DOWN\"} 1\n"}))
      << render_metrics(*service_);
  ASSERT_TRUE(service_->health().set_admin_state("write", "a", HealthMonitor::AdminState::kMaint));
  EXPECT_TRUE(shows({"haproxy_server_status{proxy=\"write\",server=\"a\",state=\"MAINT\"} 1\n",
                     "haproxy_server_status{proxy=\"write\",server=\"a\",state=\"DRAIN\"} 0\n"}))
      << render_metrics(*service_);
}

// Plain HTTP/1.0 request against the admin port; returns the whole reply.
std::string http_request(asio::io_context& io, std::uint16_t port, const std::string& method, const std::string& path) {
  tcp::socket s = test::connect_blocking(io, port);
  asio::write(s, asio::buffer(method + " " + path + " HTTP/1.0\r\nHost: localhost\r\nContent-Length: 0\r\n\r\n"));
  return test::read_exactly(s, 1 << 20, 3000ms);  // until EOF
}

TEST_F(ProxyServiceTest, AdminHttpApiAnswersWhileChecksHangAndReturnGarbage) {
  test::EchoServer a, b;
  test::SilentServer hung_health;  // accepts checks and never answers
  test::EchoServer garbage_health;  // echoes the request back: not an HTTP reply
  auto config = config_with({checked_backend("hung", a.port(), hung_health.port()),
                             checked_backend("garbage", b.port(), garbage_health.port())});
  config.admin.enabled = true;
  config.admin.bind_port = 0;
  config.listeners[0].servers[0].check.timing.timeout = 200ms;
  start(std::move(config));
  ASSERT_GT(service_->admin_port(), 0);
  ASSERT_TRUE(eventually([&] { return service_->health().status(0, 0).checks >= 2 && service_->health().status(0, 1).checks >= 2; }));
  const std::string reply = http_request(io_, static_cast<std::uint16_t>(service_->admin_port()), "GET", "/status");
  ASSERT_NE(reply.find("200 OK"), std::string::npos) << reply;
  auto status = nlohmann::json::parse(reply.substr(reply.find("\r\n\r\n") + 4));
  const auto& servers = status["listeners"][0]["servers"];
  EXPECT_EQ(servers[0]["state"], "DOWN");
  EXPECT_NE(servers[0]["check"]["detail"].get<std::string>().find("timeout"), std::string::npos) << servers[0];
  EXPECT_EQ(servers[1]["state"], "DOWN");
  tcp::socket c = connect();
  EXPECT_TRUE(test::closed_by_peer(c, 2000ms)) << "no server up";
  const std::string metrics = http_request(io_, static_cast<std::uint16_t>(service_->admin_port()), "GET", "/metrics");
  EXPECT_NE(metrics.find("pgha_listener_no_server_total{listener=\"write\"} 1"), std::string::npos) << metrics;
  const auto admin = static_cast<std::uint16_t>(service_->admin_port());
  EXPECT_NE(http_request(io_, admin, "POST", "/servers/write/nope/maint").find("404"), std::string::npos);
  EXPECT_NE(http_request(io_, admin, "POST", "/servers/write/hung/drain").find("200 OK"), std::string::npos);
  EXPECT_EQ(nlohmann::json::parse(render_status_json(*service_))["listeners"][0]["servers"][0]["state"], "DRAIN");
}

TEST_F(ProxyServiceTest, AdminMaintClosesSessionsAndDrainKeepsThem) {
  test::EchoServer a;
  start(config_with({backend("a", a.port())}));
  tcp::socket c1 = connect();
  ASSERT_EQ(test::round_trip(c1, "1"), "1");
  ASSERT_TRUE(service_->health().set_admin_state("write", "a", HealthMonitor::AdminState::kDrain));
  EXPECT_EQ(test::round_trip(c1, "still"), "still");
  tcp::socket refused = connect();
  EXPECT_TRUE(test::closed_by_peer(refused, 2000ms)) << "drained: no new sessions";
  ASSERT_TRUE(service_->health().set_admin_state("write", "a", HealthMonitor::AdminState::kMaint));
  EXPECT_TRUE(test::closed_by_peer(c1, 2000ms)) << "maint: sessions closed";
  ASSERT_TRUE(service_->health().set_admin_state("write", "a", HealthMonitor::AdminState::kReady));
  tcp::socket c2 = connect();
  EXPECT_EQ(test::round_trip(c2, "2"), "2");
  EXPECT_FALSE(service_->health().set_admin_state("write", "nope", HealthMonitor::AdminState::kReady));
}

TEST_F(ProxyServiceTest, AdminPortTakenByAnotherProxyIsABindError) {
  test::EchoServer echo;
  auto config = config_with({backend("echo", echo.port())});
  config.admin.enabled = true;
  config.admin.bind_port = 0;
  start(config);
  auto second_config = config;
  second_config.admin.bind_port = static_cast<std::uint16_t>(service_->admin_port());
  ProxyService second(std::move(second_config));
  EXPECT_THROW(second.start(), std::runtime_error) << "a second proxy must not share the admin port";
}

TEST_F(ProxyServiceTest, BindFailureThrowsBeforeAnythingRuns) {
  tcp::acceptor squatter(io_, tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0));
  auto config = config_with({backend("x", 1)});
  config.listeners[0].bind_port = squatter.local_endpoint().port();
  ProxyService service(std::move(config));
  // SO_REUSEPORT only shares with sockets that also set it: the squatter does not.
  EXPECT_THROW(service.start(), boost::system::system_error);
}

}  // namespace
}  // namespace pgha::proxy
