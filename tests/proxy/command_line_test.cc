// The pgha-proxy binary's command line: a malformed number or level is an error naming the
// option and the value (exit 2), never an uncaught exception or logging silently turned off;
// --check reports what a full load would (a TLS check's unreadable CA file).
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <sstream>
#include <string>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "tests/proxy/config_test_util.h"
#include "tests/support/run_program.h"

namespace pgha::proxy {
namespace {

using ::testing::HasSubstr;

const char* const kValidConfig =
    "listeners:\n"
    "  - name: db\n"
    "    bind: 127.0.0.1:6000\n"
    "    servers:\n"
    "      - name: s1\n"
    "        address: 127.0.0.1:6001\n";

test::ProgramResult run_proxy(std::vector<std::string> args) {
  args.insert(args.begin(), PGHA_PROXY_BIN);
  return test::run_program(args);
}

struct BadOption {
  std::vector<std::string> args;
  const char* message;
};

TEST(ProxyCommandLine, MalformedValuesExitWithTwoAndNameTheOption) {
  testing::TempDir dir;
  const std::string config = dir.write("proxy.yaml", kValidConfig);
  const std::vector<BadOption> cases = {
      {{"--grace", "abc"}, "pgha-proxy: --grace: 'abc' is not a number of milliseconds (0..86400000)"},
      {{"--grace", "99999999999999999999999"}, "--grace: '99999999999999999999999' is not a number of milliseconds"},
      {{"--grace", "-5"}, "--grace: '-5' is not a number"},
      {{"--grace", "5s"}, "--grace: '5s' is not a number"},
      {{"--grace", ""}, "--grace: '' is not a number"},
      {{"--reload-grace", "1e3"}, "--reload-grace: '1e3' is not a number of milliseconds"},
      {{"--reload-grace", "86400001"}, "--reload-grace: '86400001' is not a number"},
      {{"--log-level", "debgu"}, "pgha-proxy: --log-level: unknown level 'debgu' (trace, debug, info, warn, error"},
      {{"--log-level", ""}, "--log-level: unknown level ''"},
      {{"--log-format", "xml"}, "pgha-proxy: --log-format: unknown format 'xml' (expected text or json)"},
      {{"--grace"}, "pgha-proxy: --grace needs a value"},
      {{"--frobnicate"}, "pgha-proxy: unknown argument '--frobnicate'"},
  };
  for (const BadOption& c : cases) {
    std::vector<std::string> args = {"-c", "-f", config};
    args.insert(args.end(), c.args.begin(), c.args.end());
    const test::ProgramResult r = run_proxy(args);
    const std::string label = ::testing::PrintToString(c.args);
    EXPECT_FALSE(r.timed_out) << label;
    EXPECT_EQ(r.exit_code, 2) << label << "\n" << r.output;
    EXPECT_THAT(r.output, HasSubstr(c.message)) << label;
    EXPECT_THAT(r.output, ::testing::Not(HasSubstr("terminate called"))) << label;
  }
}

TEST(ProxyCommandLine, WellFormedValuesAreAccepted) {
  testing::TempDir dir;
  const std::string config = dir.write("proxy.yaml", kValidConfig);
  const test::ProgramResult r = run_proxy(
      {"--check", "-f", config, "--grace", "0", "--reload-grace", "86400000", "--log-level", "warn"});
  EXPECT_EQ(r.exit_code, 0) << r.output;
  EXPECT_THAT(r.output, HasSubstr("Configuration file is valid: " + config));
}

// A loopback port nothing listens on now (the kernel's pick for a socket bound to port 0).
int unused_port() {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof addr;
  const bool ok = fd >= 0 && ::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0 &&
                  ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) == 0;
  if (fd >= 0) ::close(fd);
  return ok ? ntohs(addr.sin_port) : 0;
}

// --log-format json: every line the running proxy writes is one JSON object, also when a message
// holds quotes and backslashes (a listener named so).
TEST(ProxyCommandLine, JsonLogFormatWritesOneJsonObjectPerLine) {
  testing::TempDir dir;
  const std::string config = dir.write("proxy.yaml",
                                       "admin:\n"
                                       "  enabled: false\n"
                                       "listeners:\n"
                                       "  - name: 'db \"quoted\" \\ name'\n"
                                       "    bind: 127.0.0.1:" + std::to_string(unused_port()) + "\n"
                                       "    servers:\n"
                                       "      - name: s1\n"
                                       "        address: 127.0.0.1:1\n"
                                       "        check: {type: tcp, inter: 100ms}\n");
  const test::ProgramResult r = test::run_program({PGHA_PROXY_BIN, "--log-format", "json", "-f", config},
                                                  std::chrono::seconds(8));  // ASan start-up on a loaded machine: seconds
  EXPECT_TRUE(r.timed_out) << "it should still run when killed:\n" << r.output;
  std::istringstream lines(r.output);
  std::string line;
  int records = 0;
  bool quoted_name_seen = false;
  while (std::getline(lines, line)) {
    nlohmann::json record;
    ASSERT_NO_THROW(record = nlohmann::json::parse(line)) << line;
    for (const char* key : {"time", "level", "logger", "message"}) EXPECT_TRUE(record.contains(key)) << line;
    quoted_name_seen |= record["message"].get<std::string>().find("db \"quoted\" \\ name") != std::string::npos;
    ++records;
  }
  EXPECT_GE(records, 2) << r.output;
  EXPECT_TRUE(quoted_name_seen) << r.output;
}

TEST(ProxyCommandLine, ConfigThatIsNotARegularFileIsRefused) {
  const test::ProgramResult r = run_proxy({"-c", "-f", "/dev/zero"});
  EXPECT_FALSE(r.timed_out);
  EXPECT_EQ(r.exit_code, 2) << r.output;
  EXPECT_THAT(r.output, HasSubstr("/dev/zero:0: file: cannot read: a character device, not a regular file"));
}

TEST(ProxyCommandLine, CheckReportsATlsCheckFileThatCannotBeRead) {
  testing::TempDir dir;
  const std::string missing = (dir.path() / "ca.pem").string();
  const std::string config = dir.write("proxy.cfg", "listen db\n  bind 127.0.0.1:6000\n  option httpchk\n"
                                                    "  server s1 127.0.0.1:6001 check check-ssl ca-file " +
                                                        missing + "\n");
  const test::ProgramResult r = run_proxy({"-c", "-f", config});
  EXPECT_EQ(r.exit_code, 2) << r.output;
  EXPECT_THAT(r.output, HasSubstr(config + ":4: ca-file: CA file " + missing + ": cannot open"));
}

}  // namespace
}  // namespace pgha::proxy
