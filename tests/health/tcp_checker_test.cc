// TcpChecker and make_checker.
#include "health/tcp_checker.h"

#include <gtest/gtest.h>

#include "health/http_checker.h"
#include "tests/health/scripted_server.h"

namespace pgha::health {
namespace {

using namespace std::chrono_literals;
using namespace testing;

TEST(TcpChecker, ConnectSucceeds) {
  asio::io_context io;
  ScriptedServer server(io, Script{0, "", false});
  TcpChecker checker(io.get_executor(), spec_for(CheckType::kTcp, server.port(), 300ms));
  const CheckResult result = run_check(io, checker);
  EXPECT_TRUE(result.healthy) << result.detail;
  EXPECT_EQ(result.detail, "TCP connect ok");
  // The checker closes at once, with a FIN.
  ASSERT_TRUE(run_until(io, [&] { return server.connections().size() == 1 && server.all_finished(); }));
  EXPECT_TRUE(server.connections()[0]->client_fin);
}

TEST(TcpChecker, ConnectionRefused) {
  asio::io_context io;
  TcpChecker checker(io.get_executor(), spec_for(CheckType::kTcp, refused_port(io), 300ms));
  const CheckResult result = run_check(io, checker);
  EXPECT_FALSE(result.healthy);
  EXPECT_EQ(result.detail, "connect: connection refused");
}

TEST(TcpChecker, UnresolvableHost) {
  asio::io_context io;
  CheckSpec spec = spec_for(CheckType::kTcp, 5432, 500ms);
  spec.host = "no-such-host.invalid";
  TcpChecker checker(io.get_executor(), spec);
  const CheckResult result = run_check(io, checker);
  EXPECT_FALSE(result.healthy);
  EXPECT_EQ(result.detail.rfind("connect: ", 0), 0u) << result.detail;
}

TEST(MakeChecker, BuildsOneCheckerPerType) {
  asio::io_context io;
  EXPECT_EQ(make_checker(io.get_executor(), spec_for(CheckType::kNone, 1, 1ms)), nullptr);
  EXPECT_NE(dynamic_cast<TcpChecker*>(make_checker(io.get_executor(), spec_for(CheckType::kTcp, 1, 1ms)).get()),
            nullptr);
  EXPECT_NE(dynamic_cast<HttpChecker*>(make_checker(io.get_executor(), spec_for(CheckType::kHttp, 1, 1ms)).get()),
            nullptr);
}

}  // namespace
}  // namespace pgha::health
