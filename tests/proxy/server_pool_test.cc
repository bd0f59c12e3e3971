// ServerPool: HAProxy's balancing rules, table-driven.
#include "proxy/server_pool.h"

#include <map>

#include <gtest/gtest.h>

namespace pgha::proxy {
namespace {

using boost::asio::ip::tcp;

ListenerConfig listener_with(Balance balance, std::vector<ServerConfig> servers) {
  ListenerConfig l;
  l.name = "test";
  l.balance = balance;
  l.servers = std::move(servers);
  return l;
}

ServerConfig server(std::string name, int weight = 1, bool backup = false, int maxconn = 0) {
  ServerConfig s;
  s.name = std::move(name);
  s.host = "127.0.0.1";
  s.port = 1;
  s.weight = weight;
  s.backup = backup;
  s.maxconn = maxconn;
  return s;
}

std::vector<tcp::endpoint> endpoints(std::size_t n) { return std::vector<tcp::endpoint>(n); }

TEST(ServerPoolFirst, PicksTheFirstUpServerInConfigOrder) {
  auto l = listener_with(Balance::kFirst, {server("a"), server("b"), server("c")});
  ServerPool pool(l, endpoints(3));
  EXPECT_EQ(pool.pick({1, 1, 1}), 0);
  EXPECT_EQ(pool.pick({0, 1, 1}), 1);
  EXPECT_EQ(pool.pick({0, 0, 1}), 2);
  EXPECT_EQ(pool.pick({0, 0, 0}), -1);
}

TEST(ServerPoolFirst, FillsAServerUpToItsMaxconnThenMovesOn) {
  auto l = listener_with(Balance::kFirst, {server("a", 1, false, 2), server("b")});
  ServerPool pool(l, endpoints(2));
  for (int expected : {0, 0, 1, 1}) {
    const int i = pool.pick({1, 1});
    EXPECT_EQ(i, expected);
    ASSERT_TRUE(pool.acquire(i));
  }
  pool.release(0);
  EXPECT_EQ(pool.pick({1, 1}), 0);
}

TEST(ServerPoolFirst, ExcludesTheServerThatJustFailed) {
  auto l = listener_with(Balance::kFirst, {server("a"), server("b")});
  ServerPool pool(l, endpoints(2));
  EXPECT_EQ(pool.pick({1, 1}, 0), 1);
  EXPECT_EQ(pool.pick({1, 0}, 0), -1);
}

TEST(ServerPoolBackup, BackupsServeOnlyWhenNoActiveServerIsUp) {
  auto l = listener_with(Balance::kRoundRobin, {server("a"), server("bk", 1, true), server("b")});
  ServerPool pool(l, endpoints(3));
  for (int k = 0; k < 10; ++k) EXPECT_NE(pool.pick({1, 1, 1}), 1);
  EXPECT_EQ(pool.pick({0, 1, 0}), 1);
  EXPECT_EQ(pool.pick({0, 0, 0}), -1);
}

TEST(ServerPoolRoundRobin, SpreadsByWeight) {
  auto l = listener_with(Balance::kRoundRobin, {server("a", 1), server("b", 3), server("c", 0)});
  ServerPool pool(l, endpoints(3));
  std::map<int, int> hits;
  for (int k = 0; k < 400; ++k) ++hits[pool.pick({1, 1, 1})];
  EXPECT_EQ(hits[0], 100);
  EXPECT_EQ(hits[1], 300);
  EXPECT_EQ(hits.count(2), 0u) << "weight 0 never receives traffic";
}

TEST(ServerPoolRoundRobin, SkipsDownServers) {
  auto l = listener_with(Balance::kRoundRobin, {server("a"), server("b"), server("c")});
  ServerPool pool(l, endpoints(3));
  for (int k = 0; k < 20; ++k) EXPECT_NE(pool.pick({1, 0, 1}), 1);
}

struct LeastConnCase {
  const char* name;
  std::vector<int> weights;
  std::vector<int> active;
  std::vector<std::uint8_t> up;
  std::vector<int> acceptable;  // any of these is a correct choice
};

class ServerPoolLeastConn : public ::testing::TestWithParam<LeastConnCase> {};

TEST_P(ServerPoolLeastConn, PicksFewestActivePerWeight) {
  const LeastConnCase& c = GetParam();
  std::vector<ServerConfig> servers;
  for (std::size_t i = 0; i < c.weights.size(); ++i) servers.push_back(server("s" + std::to_string(i), c.weights[i]));
  auto l = listener_with(Balance::kLeastConn, servers);
  ServerPool pool(l, endpoints(servers.size()));
  for (std::size_t i = 0; i < c.active.size(); ++i) {
    for (int k = 0; k < c.active[i]; ++k) ASSERT_TRUE(pool.acquire(static_cast<int>(i)));
  }
  for (int round = 0; round < 6; ++round) {
    const int chosen = pool.pick(c.up);
    EXPECT_NE(std::find(c.acceptable.begin(), c.acceptable.end(), chosen), c.acceptable.end())
        << c.name << ": chose " << chosen;
  }
}

INSTANTIATE_TEST_SUITE_P(
    Table, ServerPoolLeastConn,
    ::testing::Values(LeastConnCase{"fewest wins", {1, 1, 1}, {3, 1, 2}, {1, 1, 1}, {1}},
                      LeastConnCase{"down server ignored", {1, 1, 1}, {3, 0, 2}, {1, 0, 1}, {2}},
                      LeastConnCase{"weight scales", {1, 4, 1}, {2, 4, 2}, {1, 1, 1}, {1}},  // 4/4 < 2/1
                      LeastConnCase{"ties among the minimum", {1, 1, 1}, {1, 0, 0}, {1, 1, 1}, {1, 2}},
                      LeastConnCase{"none up", {1, 1}, {0, 0}, {0, 0}, {-1}}),
    [](const auto& info) {
      std::string n = info.param.name;
      for (char& ch : n) if (!isalnum(static_cast<unsigned char>(ch))) ch = '_';
      return n;
    });

TEST(ServerPoolLeastConn, TiesRotateRoundRobin) {
  auto l = listener_with(Balance::kLeastConn, {server("a"), server("b"), server("c")});
  ServerPool pool(l, endpoints(3));
  std::map<int, int> hits;
  for (int k = 0; k < 300; ++k) ++hits[pool.pick({1, 1, 1})];  // nothing acquired: always a 3-way tie
  EXPECT_EQ(hits[0], 100);
  EXPECT_EQ(hits[1], 100);
  EXPECT_EQ(hits[2], 100);
}

TEST(ServerPoolLeastConn, BalancesSessionsAsTheyArrive) {
  auto l = listener_with(Balance::kLeastConn, {server("a"), server("b"), server("c")});
  ServerPool pool(l, endpoints(3));
  for (int k = 0; k < 30; ++k) ASSERT_TRUE(pool.acquire(pool.pick({1, 1, 1})));
  for (int i = 0; i < 3; ++i) EXPECT_EQ(pool.stats(i).sessions.active(), 10);
}

TEST(ServerPoolMaxconn, AcquireRefusesAFullServer) {
  auto l = listener_with(Balance::kLeastConn, {server("a", 1, false, 1)});
  ServerPool pool(l, endpoints(1));
  EXPECT_TRUE(pool.acquire(0));
  EXPECT_FALSE(pool.acquire(0));
  EXPECT_EQ(pool.pick({1}), -1);
  pool.release(0);
  EXPECT_EQ(pool.pick({1}), 0);
}

}  // namespace
}  // namespace pgha::proxy
