// HttpChecker against scripted HTTP servers: verdicts, the request bytes, and the deadline
// against servers that hang or drip one byte at a time.
#include "health/http_checker.h"

#include <ostream>
#include <string>

#include <gtest/gtest.h>

#include "health/http_reply.h"
#include "tests/health/scripted_server.h"
#include "tests/health/wire_bytes.h"

namespace pgha::health {
namespace {

using namespace std::chrono_literals;
using namespace testing;

constexpr auto kDeadline = 300ms;
constexpr auto kSlack = 200ms;  // scheduling jitter, generous for sanitizer builds

CheckSpec http_spec(std::uint16_t port, int expect_status = 0) {
  CheckSpec spec = spec_for(CheckType::kHttp, port, kDeadline);
  spec.http.expect_status = expect_status;
  return spec;
}

const std::string kDefaultRequest = "OPTIONS / HTTP/1.0\r\nConnection: close\r\n\r\n";

struct ReplyCase {
  std::string name;
  std::string reply;
  bool close_after_reply;
  int expect_status;
  bool healthy;
  std::string detail;
};
void PrintTo(const ReplyCase& c, std::ostream* os) { *os << c.name; }

class HttpCheckerReply : public ::testing::TestWithParam<ReplyCase> {};

TEST_P(HttpCheckerReply, Judges) {
  const ReplyCase& c = GetParam();
  asio::io_context io;
  ScriptedServer server(io, Script{kDefaultRequest.size(), c.reply, c.close_after_reply});
  HttpChecker checker(io.get_executor(), http_spec(server.port(), c.expect_status));
  const CheckResult result = run_check(io, checker);
  EXPECT_EQ(result.healthy, c.healthy) << result.detail;
  EXPECT_EQ(result.detail.substr(0, c.detail.size()), c.detail) << result.detail;
  EXPECT_LT(result.duration, kDeadline) << "decided by the reply, not by the deadline";
  ASSERT_TRUE(run_until(io, [&] { return server.all_finished(); }));
  EXPECT_EQ(server.connections()[0]->received, kDefaultRequest);
}

INSTANTIATE_TEST_SUITE_P(
    Replies, HttpCheckerReply,
    ::testing::Values(
        ReplyCase{"Patroni200", kHttp200, true, 0, true, "HTTP 200"},
        ReplyCase{"Patroni503", kHttp503, true, 0, false, "HTTP 503"},
        ReplyCase{"ExpectStatusMismatch", "HTTP/1.1 204 No Content\r\n\r\n", true, 200, false,
                  "HTTP 204 (expected 200)"},
        ReplyCase{"ExpectStatusMatch", "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n", true, 200, true, "HTTP 200"},
        ReplyCase{"Default2xx", "HTTP/1.1 204 No Content\r\n\r\n", true, 0, true, "HTTP 204"},
        // Keep-alive server that does not close: the header alone decides.
        ReplyCase{"HeaderDecidesWithoutClose", "HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\npartial", false, 0,
                  true, "HTTP 200"},
        ReplyCase{"Garbage", "SSH-2.0-OpenSSH_9.2p1 Debian-2\r\n", false, 0, false, "HTTP: garbage reply"},
        ReplyCase{"ClosedMidHeader", "HTTP/1.1 200 OK\r\nContent-Le", true, 0, false, "HTTP: short reply"},
        ReplyCase{"ClosedWithoutReply", "", true, 0, false, "HTTP: connection closed without a reply"}),
    [](const ::testing::TestParamInfo<ReplyCase>& info) { return info.param.name; });

TEST(HttpChecker, SendsMethodPathVersionAndHost) {
  asio::io_context io;
  const std::string expected = "GET /replica?lag=10MB HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n";
  ScriptedServer server(io, Script{expected.size(), "HTTP/1.1 200 OK\r\n\r\n", true});
  CheckSpec spec = http_spec(server.port());
  spec.http.method = "GET";
  spec.http.path = "/replica?lag=10MB";
  spec.http.version = "HTTP/1.1";
  spec.http.host_header = "127.0.0.1";
  HttpChecker checker(io.get_executor(), spec);
  EXPECT_TRUE(run_check(io, checker).healthy);
  ASSERT_TRUE(run_until(io, [&] { return server.all_finished(); }));
  EXPECT_EQ(server.connections()[0]->received, expected);
}

TEST(HttpChecker, ServerThatNeverAnswersIsCutAtTheDeadline) {
  asio::io_context io;
  ScriptedServer server(io, Script{1, "", false});
  HttpChecker checker(io.get_executor(), http_spec(server.port()));
  const CheckResult result = run_check(io, checker);
  EXPECT_FALSE(result.healthy);
  EXPECT_EQ(result.detail, "timeout after 300 ms (0 reply bytes received)");
  EXPECT_GE(result.duration, kDeadline);
  EXPECT_LT(result.duration, kDeadline + kSlack);
  // The checker closed its socket: the server sees the connection end.
  EXPECT_TRUE(run_until(io, [&] { return server.all_finished(); }));
}

TEST(HttpChecker, DrippingServerIsCutAtTheDeadline) {
  asio::io_context io;
  ScriptedServer server(io, Script{1, "HTTP/1.1 200 OK\r\nX-Slow: ", true, 100ms});
  HttpChecker checker(io.get_executor(), http_spec(server.port()));
  const CheckResult result = run_check(io, checker);
  EXPECT_FALSE(result.healthy);
  EXPECT_NE(result.detail.find("timeout after 300 ms"), std::string::npos) << result.detail;
  EXPECT_NE(result.detail.find("reply bytes received"), std::string::npos) << result.detail;
  EXPECT_GE(result.duration, kDeadline);
  EXPECT_LT(result.duration, kDeadline + kSlack);
  EXPECT_TRUE(run_until(io, [&] { return server.all_finished(); }));
}

TEST(HttpChecker, ConnectionRefused) {
  asio::io_context io;
  HttpChecker checker(io.get_executor(), http_spec(refused_port(io)));
  const CheckResult result = run_check(io, checker);
  EXPECT_FALSE(result.healthy);
  EXPECT_EQ(result.detail, "connect: connection refused");
  EXPECT_LT(result.duration, kDeadline);
}

TEST(HttpChecker, ResolvesHostNames) {
  asio::io_context io;
  ScriptedServer server(io, Script{kDefaultRequest.size(), kHttp200, true});
  CheckSpec spec = http_spec(server.port());
  spec.host = "localhost";
  HttpChecker checker(io.get_executor(), spec);
  const CheckResult result = run_check(io, checker);
  EXPECT_TRUE(result.healthy) << result.detail;
}

TEST(HttpChecker, DeadlineDefaultsToInter) {
  asio::io_context io;
  ScriptedServer server(io, Script{1, "", false});
  CheckSpec spec = http_spec(server.port());
  spec.timing.timeout = Millis{0};
  spec.timing.inter = Millis{200};
  HttpChecker checker(io.get_executor(), spec);
  const CheckResult result = run_check(io, checker);
  EXPECT_NE(result.detail.find("timeout after 200 ms"), std::string::npos) << result.detail;
  EXPECT_LT(result.duration, Millis{200} + kSlack);
}

TEST(HttpChecker, RepeatedChecksReuseTheChecker) {
  asio::io_context io;
  ScriptedServer server(io, Script{kDefaultRequest.size(), kHttp200, true});
  HttpChecker checker(io.get_executor(), http_spec(server.port()));
  for (int i = 0; i < 5; ++i) EXPECT_TRUE(run_check(io, checker).healthy);
  EXPECT_TRUE(run_until(io, [&] { return server.all_finished() && server.connections().size() == 5; }));
}

}  // namespace
}  // namespace pgha::health
