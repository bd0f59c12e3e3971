// The pgha-proxy binary's stop signals: SIGTERM stops accepting and lets the open sessions go on
// for up to --grace; SIGINT, or a second SIGTERM, during that drain closes them at once.
#include <signal.h>
#include <unistd.h>

#include <cstring>
#include <optional>
#include <string>

#include <gtest/gtest.h>

#include "tests/proxy/config_test_util.h"
#include "tests/proxy/proxy_process.h"
#include "tests/support/test_servers.h"

namespace pgha::proxy {
namespace {

using namespace std::chrono_literals;
using test::eventually;
namespace asio = boost::asio;
using asio::ip::tcp;

using test::free_port;
using test::read_file;
using testing::ProxyProcess;
using testing::TempDir;

using StopSignalsTest = ::testing::TestWithParam<int>;

TEST_P(StopSignalsTest, ADrainIsCutShortBySigintOrASecondSigterm) {
  test::EchoServer backend;
  const std::uint16_t port = free_port();
  const TempDir dir;
  const std::string log = (dir.path() / "proxy.log").string();
  const std::string config = dir.write("proxy.yaml", "workers: 1\n"
                                                     "admin: { enabled: false }\n"
                                                     "listeners:\n"
                                                     "  - name: write\n"
                                                     "    bind: 127.0.0.1:" + std::to_string(port) + "\n"
                                                     "    servers: [{ name: pg, address: 127.0.0.1:" +
                                                     std::to_string(backend.port()) + " }]\n");
  // A minute of grace: only the second signal can end the drain within this test's deadlines.
  ProxyProcess proxy(config, log, {}, "60000");
  ASSERT_GT(proxy.pid(), 0);
  asio::io_context io;
  std::optional<tcp::socket> client;
  ASSERT_TRUE(eventually([&] {
    try {
      client.emplace(test::connect_blocking(io, port));
      return test::round_trip(*client, "hello") == "hello";
    } catch (const std::exception&) {
      return false;
    }
  })) << read_file(log);

  ASSERT_EQ(::kill(proxy.pid(), SIGTERM), 0);
  ASSERT_TRUE(eventually([&] { return read_file(log).find("draining") != std::string::npos; }))
      << read_file(log);
  EXPECT_EQ(test::round_trip(*client, "draining"), "draining") << "an open session goes on during the drain";
  EXPECT_TRUE(proxy.alive());

  ASSERT_EQ(::kill(proxy.pid(), GetParam()), 0);
  EXPECT_TRUE(eventually([&] { return !proxy.alive(); }, 5000ms))
      << "still draining after " << strsignal(GetParam()) << "\n" << read_file(log);
  EXPECT_TRUE(test::closed_by_peer(*client, 2000ms)) << "the remaining session is closed";
  EXPECT_NE(read_file(log).find("closing the 1 remaining session(s) now"), std::string::npos)
      << read_file(log);
}

INSTANTIATE_TEST_SUITE_P(Signals, StopSignalsTest, ::testing::Values(SIGINT, SIGTERM),
                         [](const auto& info) { return std::string(info.param == SIGINT ? "Sigint" : "SecondSigterm"); });

}  // namespace
}  // namespace pgha::proxy
