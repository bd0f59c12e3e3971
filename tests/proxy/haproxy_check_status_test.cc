// haproxy_check_status(): HAProxy's word for pgha's latest check of a server.
#include "proxy/haproxy_check_status.h"

#include <algorithm>
#include <string>

#include <gtest/gtest.h>

namespace pgha::proxy {
namespace {

using health::CheckType;

ServerHealth checked(bool ok, std::string detail) {
  ServerHealth h;
  h.checked = true;
  h.checks = 1;
  h.last_check_ok = ok;
  h.last_detail = std::move(detail);
  return h;
}

TEST(HaproxyCheckStatus, NoWordBeforeAFirstResultOrWithoutChecks) {
  ServerHealth waiting;
  EXPECT_EQ(haproxy_check_status(CheckType::kHttp, false, waiting), "");
  EXPECT_EQ(haproxy_check_status(CheckType::kNone, false, checked(true, "not checked")), "");
}

TEST(HaproxyCheckStatus, PassedChecksByLayer) {
  EXPECT_EQ(haproxy_check_status(CheckType::kTcp, false, checked(true, "connected")), "L4OK");
  EXPECT_EQ(haproxy_check_status(CheckType::kTcp, true, checked(true, "connected")), "L6OK");
  EXPECT_EQ(haproxy_check_status(CheckType::kHttp, false, checked(true, "HTTP 200")), "L7OK");
  EXPECT_EQ(haproxy_check_status(CheckType::kPgsql, false, checked(true, "pgsql: auth request R10 (SASL)")), "L7OK");
}

TEST(HaproxyCheckStatus, FailuresByPhase) {
  const struct {
    CheckType type;
    const char* detail;
    const char* word;
  } cases[] = {
      {CheckType::kHttp, "connect: connection refused", "L4CON"},
      {CheckType::kTcp, "connect: connection refused", "L4CON"},
      {CheckType::kPgsql, "connect timeout after 1000 ms", "L4TOUT"},
      {CheckType::kHttp, "timeout after 2000 ms (connecting)", "L4TOUT"},
      {CheckType::kHttp, "timeout after 2000 ms (TLS handshake)", "L6TOUT"},
      {CheckType::kHttp, "TLS handshake: certificate verify failed", "L6RSP"},
      {CheckType::kHttp, "timeout after 2000 ms", "L7TOUT"},
      {CheckType::kHttp, "timeout after 2000 ms (12 reply bytes received)", "L7TOUT"},
      {CheckType::kHttp, "read: connection closed by the server (0 reply bytes received)", "L7RSP"},
      {CheckType::kHttp, "HTTP 503", "L7STS"},
      {CheckType::kHttp, "HTTP 503 (expected 200)", "L7STS"},
      {CheckType::kHttp, "HTTP 5030", "L7RSP"},
      {CheckType::kHttp, "HTTP: garbage reply \"x\"", "L7RSP"},
      {CheckType::kHttp, "HTTP: connection closed without a reply", "L7RSP"},
      {CheckType::kPgsql, "pgsql: E the database system is starting up", "L7RSP"},
      {CheckType::kPgsql, "pgsql: connection closed without a reply", "L7RSP"},
      {CheckType::kPgsql, "pgsql: garbage reply \"x\"", "L7STS"},
  };
  for (const auto& c : cases) EXPECT_EQ(haproxy_check_status(c.type, false, checked(false, c.detail)), c.word) << c.detail;
}

TEST(HaproxyCheckStatus, AProbeWithoutASocketIsASocketError) {
  ServerHealth h = checked(true, "check not run: no socket (Too many open files)");
  h.last_check_not_run = true;
  EXPECT_EQ(haproxy_check_status(CheckType::kHttp, false, h), "SOCKERR");
}

TEST(HaproxyCheckStatus, EveryWordIsOneHaproxyWrites) {
  for (const char* detail : {"HTTP 200", "HTTP 500", "connect: connection refused", "timeout after 1 ms"}) {
    for (bool ok : {true, false}) {
      const std::string_view word = haproxy_check_status(CheckType::kHttp, false, checked(ok, detail));
      EXPECT_NE(std::find(kHaproxyCheckStates.begin(), kHaproxyCheckStates.end(), word), kHaproxyCheckStates.end());
    }
  }
}

}  // namespace
}  // namespace pgha::proxy
