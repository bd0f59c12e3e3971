// The HTTP check's request bytes and its verdicts on reply bytes (pure functions).
#include "health/http_reply.h"

#include <ostream>
#include <string>

#include <gtest/gtest.h>

#include "tests/health/wire_bytes.h"

namespace pgha::health {
namespace {

using namespace testing;
using Kind = ReplyVerdict::Kind;

TEST(HttpReply, DefaultRequestIsHaproxysOptions) {
  EXPECT_EQ(build_http_request(HttpCheckSpec{}), "OPTIONS / HTTP/1.0\r\nConnection: close\r\n\r\n");
}

TEST(HttpReply, RequestWithMethodPathVersionAndHost) {
  HttpCheckSpec spec;
  spec.method = "GET";
  spec.path = "/primary";
  spec.version = "HTTP/1.1";
  spec.host_header = "pg1:8008";
  EXPECT_EQ(build_http_request(spec), "GET /primary HTTP/1.1\r\nHost: pg1:8008\r\nConnection: close\r\n\r\n");
}

struct VerdictCase {
  std::string name;
  std::string received;
  bool complete;
  int expect_status;
  Kind kind;
  std::string detail_has;
  int code = -1;
};
void PrintTo(const VerdictCase& c, std::ostream* os) { *os << c.name; }

class HttpVerdict : public ::testing::TestWithParam<VerdictCase> {};

TEST_P(HttpVerdict, Judges) {
  const VerdictCase& c = GetParam();
  const ReplyVerdict v = judge_http_reply(c.received, c.complete, c.expect_status);
  EXPECT_EQ(v.kind, c.kind) << v.detail;
  EXPECT_NE(v.detail.find(c.detail_has), std::string::npos) << v.detail;
  EXPECT_EQ(v.code, c.code);
}

const std::string kHuge = "HTTP/1.1 200 OK\r\nX-Filler: " + std::string(kMaxHttpReplyHeader, 'a');

INSTANTIATE_TEST_SUITE_P(
    Replies, HttpVerdict,
    ::testing::Values(
        VerdictCase{"Patroni200", kHttp200, false, 0, Kind::kHealthy, "HTTP 200", 200},
        VerdictCase{"Patroni503", kHttp503, false, 0, Kind::kUnhealthy, "HTTP 503", 503},
        VerdictCase{"Http11NoBody", "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n", false, 0, Kind::kHealthy,
                    "HTTP 200", 200},
        VerdictCase{"ChunkedBodyIgnored", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhel", false,
                    0, Kind::kHealthy, "HTTP 200", 200},
        VerdictCase{"Default2xx", "HTTP/1.1 204 No Content\r\n\r\n", false, 0, Kind::kHealthy, "HTTP 204", 204},
        VerdictCase{"Default3xx", "HTTP/1.1 301 Moved\r\nLocation: /\r\n\r\n", false, 0, Kind::kHealthy,
                    "HTTP 301", 301},
        VerdictCase{"Default4xx", "HTTP/1.1 404 Not Found\r\n\r\n", false, 0, Kind::kUnhealthy, "HTTP 404", 404},
        VerdictCase{"ExpectMatches", "HTTP/1.1 200 OK\r\n\r\n", false, 200, Kind::kHealthy, "HTTP 200", 200},
        VerdictCase{"ExpectMismatch", "HTTP/1.1 204 No Content\r\n\r\n", false, 200, Kind::kUnhealthy,
                    "HTTP 204 (expected 200)", 204},
        VerdictCase{"ExpectNon2xx", kHttp503, false, 503, Kind::kHealthy, "HTTP 503", 503},
        VerdictCase{"PartialHeaderWaits", "HTTP/1.1 200 OK\r\nContent-", false, 0, Kind::kNeedMore, ""},
        VerdictCase{"PartialStatusWaits", "HTT", false, 0, Kind::kNeedMore, ""},
        VerdictCase{"PartialHeaderAtEof", "HTTP/1.1 200 OK\r\nContent-", true, 0, Kind::kUnhealthy,
                    "HTTP: short reply, closed after 25 bytes"},
        VerdictCase{"EofWithoutReply", "", true, 0, Kind::kUnhealthy, "HTTP: connection closed without a reply"},
        VerdictCase{"GarbageDecidesAtOnce", "SSH-2.0-OpenSSH_9.2p1", false, 0, Kind::kUnhealthy,
                    "HTTP: garbage reply \"SSH-2.0-OpenSSH_9.2p1\""},
        VerdictCase{"PostgresReply", "E\0\0\0\x68SFATAL", false, 0, Kind::kUnhealthy, "garbage reply"},
        VerdictCase{"BadStatus", "HTTP/1.1 2x0 OK\r\n\r\n", false, 0, Kind::kUnhealthy, "HTTP: garbage reply ("},
        VerdictCase{"BadVersion", "HTTP/x.y 200 OK\r\n\r\n", false, 0, Kind::kUnhealthy, "HTTP: garbage reply ("},
        VerdictCase{"HeaderTooLarge", kHuge, false, 0, Kind::kUnhealthy, "larger than 8192 bytes"},
        VerdictCase{"FullBufferTooLarge", kHuge.substr(0, kMaxHttpReplyHeader), true, 0, Kind::kUnhealthy,
                    "larger than 8192 bytes"}),
    [](const ::testing::TestParamInfo<VerdictCase>& info) { return info.param.name; });

}  // namespace
}  // namespace pgha::health
