// PgsqlChecker against a real PostgreSQL 15 (initdb'd into a temporary directory, loopback
// only): healthy on trust (R0), on SCRAM for an unknown user (R10, PostgreSQL's mock auth) and
// in SSLRequest mode ('N', no TLS configured); and the server's log stays free of the noise a
// careless probe causes (reset connections, "expected password response", ...).
// Skipped when PostgreSQL 15's binaries are not installed.
#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

#include <gtest/gtest.h>

#include "health/pgsql_checker.h"
#include "tests/health/scripted_server.h"

namespace pgha::health {
namespace {

using namespace std::chrono_literals;
using namespace testing;
namespace fs = std::filesystem;

const fs::path kBin = "/usr/lib/postgresql/15/bin";

class RealPostgres : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    if (!fs::exists(kBin / "initdb")) return;
    char tmpl[] = "/tmp/pgha-health-pg-XXXXXX";
    if (mkdtemp(tmpl) == nullptr) return;
    dir_ = tmpl;
    // PostgreSQL refuses to run as root: run its tools as "postgres" then.
    as_user_ = geteuid() == 0 ? "runuser -u postgres -- " : "";
    if (geteuid() == 0 && std::system(("chown postgres " + dir_.string()).c_str()) != 0) return;
    asio::io_context io;
    port_ = refused_port(io);
    const fs::path data = dir_ / "data";
    if (!run(kBin / "initdb", "-D " + data.string() + " -U postgres -A trust >/dev/null")) return;
    {
      std::ofstream hba(data / "pg_hba.conf", std::ios::trunc);
      hba << "host all postgres 127.0.0.1/32 trust\n"
          << "host all all 127.0.0.1/32 scram-sha-256\n";
    }
    log_ = dir_ / "postgres.log";
    started_ = run(kBin / "pg_ctl", "-D " + data.string() + " -l " + log_.string() + " -w -t 30 -o \"-p " +
                                        std::to_string(port_) + " -k " + dir_.string() +
                                        " -c listen_addresses=127.0.0.1 -c log_connections=off\" start >/dev/null");
  }

  static void TearDownTestSuite() {
    if (started_) run(kBin / "pg_ctl", "-D " + (dir_ / "data").string() + " -m fast -w stop >/dev/null");
    if (!dir_.empty()) {
      std::error_code ignored;
      fs::remove_all(dir_, ignored);
    }
  }

  void SetUp() override {
    if (!started_) GTEST_SKIP() << "PostgreSQL 15 not installed or failed to start";
  }

  static bool run(const fs::path& tool, const std::string& args) {
    const std::string command = as_user_ + tool.string() + " " + args;
    return std::system(command.c_str()) == 0;
  }

  static CheckResult check(const std::string& user, bool ssl) {
    CheckSpec spec = spec_for(CheckType::kPgsql, port_, 2000ms);
    spec.pgsql.user = user;
    spec.pgsql.ssl_request = ssl;
    asio::io_context io;
    PgsqlChecker checker(io.get_executor(), spec);
    return run_check(io, checker);
  }

  static std::string log_text() {
    std::ifstream in(log_);
    std::stringstream text;
    text << in.rdbuf();
    return text.str();
  }

  static inline fs::path dir_;
  static inline fs::path log_;
  static inline std::string as_user_;
  static inline std::uint16_t port_ = 0;
  static inline bool started_ = false;
};

// One test: under ctest each test runs in its own process with its own server, so the probes
// and the log they must not cause belong together.
TEST_F(RealPostgres, ProbesAreHealthyAndLeaveNothingInTheLog) {
  for (int i = 0; i < 3; ++i) {
    const CheckResult trust = check("postgres", false);
    EXPECT_TRUE(trust.healthy) << trust.detail;
    EXPECT_EQ(trust.detail, "pgsql: auth request R0 (ok)");

    const CheckResult scram = check("haproxy_check", false);  // unknown user: mock SCRAM
    EXPECT_TRUE(scram.healthy) << scram.detail;
    EXPECT_EQ(scram.detail, "pgsql: auth request R10 (SASL)");

    const CheckResult ssl = check("postgres", true);  // TLS not configured
    EXPECT_TRUE(ssl.healthy) << ssl.detail;
    EXPECT_EQ(ssl.detail, "pgsql: SSLRequest declined (N)");
  }

  // A fast stop waits for the probes' backends, so every line they could log is written.
  ASSERT_TRUE(run(kBin / "pg_ctl", "-D " + (dir_ / "data").string() + " -m fast -w stop >/dev/null"));
  started_ = false;
  const std::string text = log_text();
  ASSERT_NE(text.find("database system is shut down"), std::string::npos) << text;
  for (const char* noise : {"could not receive data", "could not send data", "Connection reset",
                            "unexpected EOF", "expected password response", "expected SASL response",
                            "incomplete startup packet", "FATAL", "ERROR"}) {
    EXPECT_EQ(text.find(noise), std::string::npos) << "PostgreSQL logged \"" << noise << "\":\n" << text;
  }
}

}  // namespace
}  // namespace pgha::health
