// The pgsql probe's packets and its verdicts on real PostgreSQL reply bytes (pure functions).
#include "health/pgsql_reply.h"

#include <ostream>
#include <string>

#include <gtest/gtest.h>

#include "tests/health/wire_bytes.h"

namespace pgha::health {
namespace {

using namespace std::string_literals;
using namespace testing;
using Kind = ReplyVerdict::Kind;

TEST(PgsqlReply, RealMessagesHaveConsistentLengths) {
  for (const std::string* m : {&kPgTrustR0, &kPgMd5R5, &kPgCleartextR3, &kPgSaslR10, &kPgStartingUpE, &kPgNoHbaE,
                               &kPgBareFatalE}) {
    const auto length = (static_cast<unsigned char>((*m)[3]) << 8) | static_cast<unsigned char>((*m)[4]);
    EXPECT_EQ(static_cast<std::size_t>(length) + 1, m->size()) << (*m)[0];
  }
}

TEST(PgsqlReply, StartupPacketIsHaproxys) {
  // HAProxy's pgsql-check: Int32 len, Int32 0x00030000, "user\0", user, "\0", "\0".
  EXPECT_EQ(build_pgsql_startup_packet("postgres"), "\0\0\0\x17\0\x03\0\0user\0postgres\0\0"s);
  EXPECT_EQ(build_pgsql_startup_packet("haproxy").size(), 22u);
  EXPECT_EQ(build_pgsql_startup_packet(""), "\0\0\0\x0f\0\x03\0\0user\0\0\0"s);
}

TEST(PgsqlReply, SslRequestAndTerminate) {
  EXPECT_EQ(build_pgsql_ssl_request(), "\0\0\0\x08\x04\xd2\x16\x2f"s);
  EXPECT_EQ(build_pgsql_terminate(), "X\0\0\0\x04"s);
}

struct VerdictCase {
  std::string name;
  std::string received;
  bool complete;
  Kind kind;
  std::string detail_has;  // substring of the detail ("" for kNeedMore)
  int code = -1;
};
void PrintTo(const VerdictCase& c, std::ostream* os) { *os << c.name; }

class PgsqlStartupVerdict : public ::testing::TestWithParam<VerdictCase> {};

TEST_P(PgsqlStartupVerdict, Judges) {
  const VerdictCase& c = GetParam();
  const ReplyVerdict v = judge_pgsql_startup_reply(c.received, c.complete);
  EXPECT_EQ(v.kind, c.kind) << v.detail;
  EXPECT_NE(v.detail.find(c.detail_has), std::string::npos) << v.detail;
  if (c.kind == Kind::kNeedMore) {
    EXPECT_TRUE(v.detail.empty());
  }
  EXPECT_EQ(v.code, c.code);
}

INSTANTIATE_TEST_SUITE_P(
    RealBytes, PgsqlStartupVerdict,
    ::testing::Values(
        VerdictCase{"TrustR0", kPgTrustR0, false, Kind::kHealthy, "pgsql: auth request R0 (ok)", 0},
        VerdictCase{"TrustR0WithWhatFollows", kPgTrustR0 + kPgAfterAuthOk, false, Kind::kHealthy, "R0", 0},
        VerdictCase{"Md5R5", kPgMd5R5, false, Kind::kHealthy, "pgsql: auth request R5 (md5)", 5},
        VerdictCase{"CleartextR3", kPgCleartextR3, false, Kind::kHealthy, "R3 (cleartext)", 3},
        VerdictCase{"SaslR10", kPgSaslR10, false, Kind::kHealthy, "pgsql: auth request R10 (SASL)", 10},
        VerdictCase{"SaslR10HeaderOnlyDecides", kPgSaslR10.substr(0, 9), false, Kind::kHealthy, "R10", 10},
        VerdictCase{"StartingUpE", kPgStartingUpE, false, Kind::kUnhealthy,
                    "pgsql: E the database system is starting up (FATAL 57P03)"},
        VerdictCase{"NoHbaE", kPgNoHbaE, true, Kind::kUnhealthy, "no pg_hba.conf entry for host"},
        VerdictCase{"BareFatalE", kPgBareFatalE, true, Kind::kUnhealthy, "pgsql: E (no message) (FATAL)"},
        VerdictCase{"PartialEWaits", kPgStartingUpE.substr(0, 30), false, Kind::kNeedMore, ""},
        VerdictCase{"PartialEAtEofIsJudged", kPgStartingUpE.substr(0, 30), true, Kind::kUnhealthy, "pgsql: E"},
        VerdictCase{"LegacyTextE", "EFATAL:  sorry, too many clients already\n\0"s, false, Kind::kUnhealthy,
                    "sorry, too many clients already"},
        VerdictCase{"Garbage", "Not a PostgreSQL response", false, Kind::kUnhealthy,
                    "pgsql: garbage reply \"Not a PostgreSQL respons...\""},
        VerdictCase{"HttpServer", "HTTP/1.1 400 Bad Request\r\n\r\n", false, Kind::kUnhealthy, "garbage"},
        VerdictCase{"BinaryGarbage", "\x16\x03\x01\x02\0"s, false, Kind::kUnhealthy, "garbage reply \"....."},
        VerdictCase{"ShortRWaits", "R\0\0\0"s, false, Kind::kNeedMore, ""},
        VerdictCase{"ShortRAtEof", "R\0\0\0"s, true, Kind::kUnhealthy, "pgsql: short reply, closed after 4 bytes"},
        VerdictCase{"ShortEAtEof", "E\0"s, true, Kind::kUnhealthy, "short reply"},
        VerdictCase{"NothingYet", "", false, Kind::kNeedMore, ""},
        VerdictCase{"EofWithoutReply", "", true, Kind::kUnhealthy, "pgsql: connection closed without a reply"},
        VerdictCase{"MalformedRLength", "R\0\0\0\x02\0\0\0\0"s, false, Kind::kUnhealthy,
                    "malformed authentication request"}),
    [](const ::testing::TestParamInfo<VerdictCase>& info) { return info.param.name; });

class PgsqlSslVerdict : public ::testing::TestWithParam<VerdictCase> {};

TEST_P(PgsqlSslVerdict, Judges) {
  const VerdictCase& c = GetParam();
  const ReplyVerdict v = judge_pgsql_ssl_reply(c.received, c.complete);
  EXPECT_EQ(v.kind, c.kind) << v.detail;
  EXPECT_NE(v.detail.find(c.detail_has), std::string::npos) << v.detail;
  EXPECT_EQ(v.code, c.code);
}

INSTANTIATE_TEST_SUITE_P(
    RealBytes, PgsqlSslVerdict,
    ::testing::Values(VerdictCase{"Accepted", "S", false, Kind::kHealthy, "SSLRequest accepted", 'S'},
                      VerdictCase{"Declined", "N", false, Kind::kHealthy, "SSLRequest declined", 'N'},
                      VerdictCase{"StartingUp", kPgStartingUpE, false, Kind::kUnhealthy, "starting up"},
                      VerdictCase{"Garbage", "HTTP/1.1 400", false, Kind::kUnhealthy, "garbage"},
                      VerdictCase{"NothingYet", "", false, Kind::kNeedMore, ""},
                      VerdictCase{"Eof", "", true, Kind::kUnhealthy, "closed without a reply"}),
    [](const ::testing::TestParamInfo<VerdictCase>& info) { return info.param.name; });

TEST(PgsqlReply, AuthMethodNames) {
  EXPECT_EQ(pgsql_auth_method_name(0), "ok");
  EXPECT_EQ(pgsql_auth_method_name(5), "md5");
  EXPECT_EQ(pgsql_auth_method_name(10), "SASL");
  EXPECT_EQ(pgsql_auth_method_name(99), "unknown");
}

}  // namespace
}  // namespace pgha::health
