// What pgha-proxy does when its servers fail, on loopback with real sockets: a client that
// finds no server UP is held and connected when one comes UP (or closed at the hold timeout or
// beyond the hold cap, or at once when it hangs up; a client beyond a full server waits for a
// slot); a failed client connect marks the server down at once ("observe
// layer4"); a server that declines a check keeps its sessions for a grace while a server that
// stops answering is cut at once. The fake HTTP endpoint stands in for an agent's REST API.
#include <gtest/gtest.h>

#include "proxy/proxy_service.h"
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

std::uint16_t unused_port(asio::io_context& io) {
  tcp::acceptor probe(io, tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0));
  return probe.local_endpoint().port();  // closed on return: nothing listens there
}

class ClientHoldTest : public ::testing::Test {
 protected:
  void start(ProxyConfig config) {
    service_ = std::make_unique<ProxyService>(std::move(config));
    service_->start();
  }
  void TearDown() override {
    if (service_) service_->stop(0ms);
  }
  std::uint16_t port() const { return service_->listener_endpoint(0).port(); }
  tcp::socket connect() { return test::connect_blocking(io_, port()); }
  bool server_up(std::size_t server) const { return service_->health().status(0, server).up; }
  const ListenerState& listener() const { return service_->listener(0); }

  static ProxyConfig holding(std::vector<ServerConfig> servers, std::chrono::milliseconds timeout, int max = 100) {
    ProxyConfig config = config_with(std::move(servers));
    config.listeners[0].hold_timeout = timeout;
    config.listeners[0].hold_max = max;
    return config;
  }

  asio::io_context io_;
  std::unique_ptr<ProxyService> service_;
};

TEST_F(ClientHoldTest, AClientHeldWhileNoServerIsUpIsConnectedWhenOneComesUp) {
  test::EchoServer a;
  test::HealthEndpoint health_a(503);
  start(holding({checked_backend("a", a.port(), health_a.port())}, 10s));
  ASSERT_TRUE(eventually([&] { return health_a.requests() >= 1; }));
  ASSERT_FALSE(server_up(0));

  std::vector<tcp::socket> clients;
  for (int i = 0; i < 6; ++i) {
    clients.push_back(connect());
    // Sent while held: it waits in the kernel, the proxy reads nothing yet.
    asio::write(clients.back(), asio::buffer("hello " + std::to_string(i)));
  }
  ASSERT_TRUE(eventually([&] { return listener().held.active() == 6; }));
  for (auto& c : clients) EXPECT_FALSE(test::wait_readable(c, 50ms)) << "a held client is neither served nor closed";
  EXPECT_EQ(a.connections_accepted(), 0);

  health_a.set_status(200);
  for (int i = 0; i < 6; ++i) {
    const std::string expected = "hello " + std::to_string(i);
    EXPECT_EQ(test::read_exactly(clients[i], expected.size(), 3000ms), expected);
  }
  EXPECT_EQ(a.connections_accepted(), 6);
  EXPECT_EQ(listener().held.active(), 0);
  EXPECT_EQ(listener().held_total.load(), 6u);
  EXPECT_EQ(listener().no_server.load(), 0u);
  EXPECT_GT(listener().held_wait_max_us.load(), 0u);
}

TEST_F(ClientHoldTest, AHeldClientIsClosedWhenNoServerComesUpInTime) {
  test::EchoServer a;
  test::HealthEndpoint health_a(503);
  start(holding({checked_backend("a", a.port(), health_a.port())}, 300ms));
  ASSERT_TRUE(eventually([&] { return health_a.requests() >= 1; }));
  const auto begin = std::chrono::steady_clock::now();
  tcp::socket c = connect();
  ASSERT_TRUE(test::closed_by_peer(c, 5000ms));
  EXPECT_GE(std::chrono::steady_clock::now() - begin, 300ms) << "closed before its hold timeout";
  EXPECT_EQ(listener().held_expired.load(), 1u);
  EXPECT_EQ(listener().no_server.load(), 1u);
  EXPECT_TRUE(eventually([&] { return listener().held.active() == 0; }));
  EXPECT_EQ(a.connections_accepted(), 0);
}

TEST_F(ClientHoldTest, ClientsBeyondTheHoldCapAreClosedAtOnce) {
  test::EchoServer a;
  test::HealthEndpoint health_a(503);
  start(holding({checked_backend("a", a.port(), health_a.port())}, 10s, /*max=*/2));
  ASSERT_TRUE(eventually([&] { return health_a.requests() >= 1; }));
  tcp::socket c1 = connect(), c2 = connect();
  ASSERT_TRUE(eventually([&] { return listener().held.active() == 2; }));
  tcp::socket c3 = connect();
  EXPECT_TRUE(test::closed_by_peer(c3, 2000ms));
  EXPECT_EQ(listener().held_refused.load(), 1u);
  EXPECT_FALSE(test::wait_readable(c1, 50ms));
  health_a.set_status(200);
  EXPECT_EQ(test::round_trip(c1, "one"), "one");
  EXPECT_EQ(test::round_trip(c2, "two"), "two");
}

TEST_F(ClientHoldTest, AHeldClientThatLeavesIsCleanedUpWhenReleased) {
  test::EchoServer a;
  test::HealthEndpoint health_a(503);
  start(holding({checked_backend("a", a.port(), health_a.port())}, 10s));
  ASSERT_TRUE(eventually([&] { return health_a.requests() >= 1; }));
  {
    tcp::socket gone = connect();
    ASSERT_TRUE(eventually([&] { return listener().held.active() == 1; }));
  }  // the client gives up while held
  health_a.set_status(200);
  EXPECT_TRUE(eventually([&] { return service_->session_count() == 0 && listener().held.active() == 0; }));
  tcp::socket c = connect();
  EXPECT_EQ(test::round_trip(c, "next"), "next");
}

TEST_F(ClientHoldTest, AHeldClientThatHangsUpIsClosedAtOnceAndNeverReachesAServer) {
  test::EchoServer a;
  test::HealthEndpoint health_a(503);
  start(holding({checked_backend("a", a.port(), health_a.port())}, 10s));
  ASSERT_TRUE(eventually([&] { return health_a.requests() >= 1; }));
  {
    tcp::socket gone = connect();
    asio::write(gone, asio::buffer(std::string("startup packet")));
    ASSERT_TRUE(eventually([&] { return listener().held.active() == 1; }));
  }  // hangs up while held
  EXPECT_TRUE(eventually([&] { return listener().held.active() == 0 && service_->session_count() == 0; }, 2000ms))
      << "a held client that hung up must not wait for a server";
  EXPECT_EQ(listener().held_abandoned.load(), 1u);
  health_a.set_status(200);
  tcp::socket c = connect();
  EXPECT_EQ(test::round_trip(c, "next"), "next");
  EXPECT_EQ(a.connections_accepted(), 1) << "the client that left must not have been connected";
}

TEST_F(ClientHoldTest, ClientsBeyondAFullServerAreHeldUntilASlotFrees) {
  test::EchoServer a;
  test::HealthEndpoint health_a(200);
  ServerConfig server = checked_backend("a", a.port(), health_a.port());
  server.maxconn = 1;
  start(holding({server}, 10s));
  ASSERT_TRUE(eventually([&] { return server_up(0); }));
  tcp::socket first = connect();
  ASSERT_EQ(test::round_trip(first, "1"), "1");
  tcp::socket second = connect();
  asio::write(second, asio::buffer(std::string("2")));
  ASSERT_TRUE(eventually([&] { return listener().held.active() == 1; }));
  EXPECT_FALSE(test::wait_readable(second, 100ms));
  first.close();
  EXPECT_EQ(test::read_exactly(second, 1, 5000ms), "2") << "released once the server had room again";
  EXPECT_EQ(listener().no_server.load(), 0u);
}

// A failed client connect is evidence: with "observe layer4" and "on-error mark-down" the
// server goes DOWN at the first refused connect, and is checked again at once, long before its
// 10 s check interval.
TEST_F(ClientHoldTest, AFailedConnectMarksTheServerDownAndTriggersACheck) {
  test::HealthEndpoint health_dead(200);  // its agent still answers: only traffic shows it is dead
  ServerConfig dead = checked_backend("dead", unused_port(io_), health_dead.port());
  dead.check.timing.inter = 10s;
  dead.check.timing.rise = 2;  // the re-check after the mark-down brings it to 1 of 2: stays DOWN
  dead.check.observe = {true, 1, health::OnError::kMarkDown};
  start(config_with({dead}));
  ASSERT_TRUE(eventually([&] { return server_up(0); }));
  const int checks_before = health_dead.requests();

  tcp::socket c = connect();
  EXPECT_TRUE(test::closed_by_peer(c, 3000ms)) << "no hold configured: the client is closed";
  EXPECT_TRUE(eventually([&] { return !server_up(0); }, 2000ms));
  EXPECT_TRUE(eventually([&] { return health_dead.requests() > checks_before; }, 2000ms))
      << "the failed connect must trigger a check at once";
  EXPECT_EQ(service_->health().status(0, 0).observed_error_events, 1u);
}

TEST_F(ClientHoldTest, WithoutObserveAFailedConnectChangesNoState) {
  test::HealthEndpoint health_dead(200);
  ServerConfig dead = checked_backend("dead", unused_port(io_), health_dead.port());
  dead.check.timing.inter = 10s;
  start(config_with({dead}));
  ASSERT_TRUE(eventually([&] { return server_up(0); }));
  tcp::socket c = connect();
  EXPECT_TRUE(test::closed_by_peer(c, 3000ms));
  EXPECT_TRUE(eventually([&] { return listener().connect_failed.load() == 1; }));
  EXPECT_TRUE(server_up(0));
  EXPECT_EQ(service_->health().status(0, 0).observed_error_events, 0u);
}

TEST_F(ClientHoldTest, TheErrorLimitCountsConsecutiveFailedConnects) {
  test::HealthEndpoint health_dead(200);
  ServerConfig dead = checked_backend("dead", unused_port(io_), health_dead.port());
  dead.check.timing.inter = 10s;
  dead.check.timing.rise = 2;
  dead.check.observe = {true, 3, health::OnError::kMarkDown};
  start(config_with({dead}));
  ASSERT_TRUE(eventually([&] { return server_up(0); }));
  // One attempt per client here (there is no other server to retry): three clients, three errors.
  for (int i = 0; i < 2; ++i) {
    tcp::socket c = connect();
    EXPECT_TRUE(test::closed_by_peer(c, 3000ms));
  }
  EXPECT_TRUE(eventually([&] { return listener().connect_failed.load() == 2; }));
  EXPECT_TRUE(server_up(0)) << "two errors are below the limit of three";
  tcp::socket c = connect();
  EXPECT_TRUE(test::closed_by_peer(c, 3000ms));
  EXPECT_TRUE(eventually([&] { return !server_up(0); }, 2000ms));
  EXPECT_EQ(service_->health().status(0, 0).observed_error_events, 1u);
}

// The leader's node dies: its agent's address still answers checks for a while (here, always),
// the first client that fails to connect marks it down and is held, and it is connected as soon
// as the new leader's check passes. The client sees a pause, not an error.
TEST_F(ClientHoldTest, AClientWhoseServerDiedIsHeldAndReachesTheNextServer) {
  test::EchoServer next;
  test::HealthEndpoint health_dead(200), health_next(503);
  ServerConfig dead = checked_backend("dead", unused_port(io_), health_dead.port());
  dead.check.timing.inter = 10s;
  dead.check.timing.rise = 2;
  dead.check.observe = {true, 1, health::OnError::kMarkDown};
  start(holding({dead, checked_backend("next", next.port(), health_next.port())}, 10s));
  ASSERT_TRUE(eventually([&] { return server_up(0) && !server_up(1); }));

  tcp::socket c = connect();
  asio::write(c, asio::buffer(std::string("write")));
  ASSERT_TRUE(eventually([&] { return listener().held.active() == 1; }));
  EXPECT_TRUE(eventually([&] { return !server_up(0); }));
  health_next.set_status(200);
  EXPECT_EQ(test::read_exactly(c, 5, 3000ms), "write");
  EXPECT_EQ(listener().connect_failed.load(), 0u);
  EXPECT_EQ(listener().no_server.load(), 0u);
  EXPECT_EQ(next.connections_accepted(), 1);
}

TEST_F(ClientHoldTest, ADecliningServerKeepsItsSessionsForTheGraceThenCutsThem) {
  test::EchoServer a;
  test::HealthEndpoint health_a(200);
  ServerConfig server = checked_backend("a", a.port(), health_a.port());
  server.shutdown_grace = 600ms;
  start(config_with({server}));
  ASSERT_TRUE(eventually([&] { return server_up(0); }));
  tcp::socket c = connect();
  ASSERT_EQ(test::round_trip(c, "before"), "before");

  health_a.set_status(503);  // an agent stepping down: alive, says no
  ASSERT_TRUE(eventually([&] { return !server_up(0); }));
  const auto down_at = std::chrono::steady_clock::now();
  EXPECT_TRUE(service_->health().status(0, 0).shutdown_pending);
  EXPECT_EQ(test::round_trip(c, "in flight"), "in flight") << "the session must live on during the grace";
  EXPECT_TRUE(test::closed_by_peer(c, 3000ms));
  EXPECT_GE(std::chrono::steady_clock::now() - down_at, 500ms) << "cut before the grace ended";
  EXPECT_TRUE(eventually([&] { return listener().pool.stats(0).killed_on_down.load() == 1; }));
  tcp::socket refused = connect();
  EXPECT_TRUE(test::closed_by_peer(refused, 2000ms)) << "no new session during or after the grace";
}

TEST_F(ClientHoldTest, AServerThatStopsAnsweringIsCutAtOnceDespiteTheGrace) {
  test::EchoServer a;
  auto health_a = std::make_unique<test::HealthEndpoint>(200);
  ServerConfig server = checked_backend("a", a.port(), health_a->port());
  server.shutdown_grace = 30s;
  start(config_with({server}));
  ASSERT_TRUE(eventually([&] { return server_up(0); }));
  tcp::socket c = connect();
  ASSERT_EQ(test::round_trip(c, "ping"), "ping");
  health_a.reset();  // its agent is gone: checks are refused, not declined
  EXPECT_TRUE(test::closed_by_peer(c, 3000ms));
  EXPECT_FALSE(service_->health().status(0, 0).shutdown_pending);
}

}  // namespace
}  // namespace pgha::proxy
