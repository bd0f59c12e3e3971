// PgsqlChecker against scripted servers that reply real PostgreSQL bytes: the verdict, the
// bytes sent, and how the connection ends (FIN, never RST; Terminate only after R0).
#include "health/pgsql_checker.h"

#include <ostream>
#include <string>

#include <gtest/gtest.h>

#include "health/pgsql_reply.h"
#include "tests/health/scripted_server.h"
#include "tests/health/wire_bytes.h"

namespace pgha::health {
namespace {

using namespace std::chrono_literals;
using namespace std::string_literals;
using namespace testing;

constexpr auto kDeadline = 300ms;

CheckSpec pgsql_spec(std::uint16_t port, bool ssl = false) {
  CheckSpec spec = spec_for(CheckType::kPgsql, port, kDeadline);
  spec.pgsql.user = "haproxy";
  spec.pgsql.ssl_request = ssl;
  return spec;
}

struct ReplyCase {
  std::string name;
  std::string reply;
  bool server_waits_for_close;  // like PostgreSQL during authentication
  bool healthy;
  std::string detail_has;
  bool expect_terminate;
};
void PrintTo(const ReplyCase& c, std::ostream* os) { *os << c.name; }

class PgsqlCheckerReply : public ::testing::TestWithParam<ReplyCase> {};

TEST_P(PgsqlCheckerReply, JudgesAndClosesWithFin) {
  const ReplyCase& c = GetParam();
  asio::io_context io;
  const std::string startup = build_pgsql_startup_packet("haproxy");
  Script script{startup.size(), c.reply, !c.server_waits_for_close};
  script.write_after_client_eof = true;
  ScriptedServer server(io, script);
  PgsqlChecker checker(io.get_executor(), pgsql_spec(server.port()));

  const CheckResult result = run_check(io, checker);
  EXPECT_EQ(result.healthy, c.healthy) << result.detail;
  EXPECT_NE(result.detail.find(c.detail_has), std::string::npos) << result.detail;
  EXPECT_LT(result.duration, kDeadline) << "decided by the reply, not by the deadline";

  ASSERT_TRUE(run_until(io, [&] { return server.all_finished(); }));
  ASSERT_EQ(server.connections().size(), 1u);
  const ConnectionRecord& conn = *server.connections()[0];
  const std::string expected_sent = c.expect_terminate ? startup + build_pgsql_terminate() : startup;
  EXPECT_EQ(conn.received, expected_sent);
  if (c.server_waits_for_close) {
    EXPECT_TRUE(conn.client_fin) << "the checker must end with FIN";
    EXPECT_FALSE(conn.client_rst) << "the checker closed with unread bytes: RST";
  }
}

INSTANTIATE_TEST_SUITE_P(
    RealBytes, PgsqlCheckerReply,
    ::testing::Values(
        ReplyCase{"TrustR0", kPgTrustR0 + kPgAfterAuthOk, true, true, "pgsql: auth request R0 (ok)", true},
        // More unread bytes than the reply buffer: without a drain the close would be an RST.
        ReplyCase{"TrustR0WithLargeFollowUp", kPgTrustR0 + kPgAfterAuthOk + std::string(20000, 'N'), true, true,
                  "R0", true},
        ReplyCase{"Md5R5", kPgMd5R5, true, true, "pgsql: auth request R5 (md5)", false},
        ReplyCase{"SaslR10", kPgSaslR10, true, true, "pgsql: auth request R10 (SASL)", false},
        ReplyCase{"CleartextR3", kPgCleartextR3, true, true, "R3", false},
        ReplyCase{"StartingUpE", kPgStartingUpE, false, false, "pgsql: E the database system is starting up", false},
        ReplyCase{"Garbage", "Not a PostgreSQL response", false, false, "garbage reply", false},
        ReplyCase{"ShortRead", "R\0\0\0"s, false, false, "pgsql: short reply, closed after 4 bytes", false},
        ReplyCase{"Eof", "", false, false, "pgsql: connection closed without a reply", false}),
    [](const ::testing::TestParamInfo<ReplyCase>& info) { return info.param.name; });

TEST(PgsqlChecker, SilentServerIsCutAtTheDeadline) {
  asio::io_context io;
  ScriptedServer server(io, Script{1, "", false});
  PgsqlChecker checker(io.get_executor(), pgsql_spec(server.port()));
  const CheckResult result = run_check(io, checker);
  EXPECT_FALSE(result.healthy);
  EXPECT_NE(result.detail.find("timeout after 300 ms"), std::string::npos) << result.detail;
  EXPECT_GE(result.duration, kDeadline);
  EXPECT_LT(result.duration, kDeadline + 200ms);
}

TEST(PgsqlChecker, ConnectionRefused) {
  asio::io_context io;
  PgsqlChecker checker(io.get_executor(), pgsql_spec(refused_port(io)));
  const CheckResult result = run_check(io, checker);
  EXPECT_FALSE(result.healthy);
  EXPECT_EQ(result.detail, "connect: connection refused");
}

struct SslCase {
  std::string name;
  std::string reply;
  bool healthy;
  std::string detail_has;
};
void PrintTo(const SslCase& c, std::ostream* os) { *os << c.name; }

class PgsqlCheckerSsl : public ::testing::TestWithParam<SslCase> {};

TEST_P(PgsqlCheckerSsl, SendsSslRequestAndJudges) {
  const SslCase& c = GetParam();
  asio::io_context io;
  const std::string request = build_pgsql_ssl_request();
  ScriptedServer server(io, Script{request.size(), c.reply, false});
  PgsqlChecker checker(io.get_executor(), pgsql_spec(server.port(), /*ssl=*/true));
  const CheckResult result = run_check(io, checker);
  EXPECT_EQ(result.healthy, c.healthy) << result.detail;
  EXPECT_NE(result.detail.find(c.detail_has), std::string::npos) << result.detail;
  ASSERT_TRUE(run_until(io, [&] { return server.all_finished(); }));
  EXPECT_EQ(server.connections()[0]->received, request);
  EXPECT_TRUE(server.connections()[0]->client_fin);
}

INSTANTIATE_TEST_SUITE_P(Replies, PgsqlCheckerSsl,
                         ::testing::Values(SslCase{"Accepted", "S", true, "SSLRequest accepted (S)"},
                                           SslCase{"Declined", "N", true, "SSLRequest declined (N)"},
                                           SslCase{"StartingUp", kPgStartingUpE, false, "starting up"}),
                         [](const ::testing::TestParamInfo<SslCase>& info) { return info.param.name; });

TEST(PgsqlChecker, MakeCheckerBuildsIt) {
  asio::io_context io;
  auto checker = make_checker(io.get_executor(), pgsql_spec(1));
  EXPECT_NE(dynamic_cast<PgsqlChecker*>(checker.get()), nullptr);
}

}  // namespace
}  // namespace pgha::health
