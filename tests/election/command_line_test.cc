// The pgha-agent binary's command line: --check validates a configuration without starting
// anything (no etcd, no PostgreSQL: the file names neither a reachable etcd nor a data dir that
// exists), bad arguments exit 2 with a message naming them.
#include <cstdlib>
#include <filesystem>
#include <fstream>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "tests/support/run_program.h"

namespace pgha::election {
namespace {

using ::testing::HasSubstr;
namespace fs = std::filesystem;

// etcd on a port nobody listens on, a data dir that does not exist: --check must not care.
const char* const kConfig =
    "scope: demo\n"
    "name: n1\n"
    "restapi:\n  listen: 127.0.0.1:1\n"
    "etcd3:\n  hosts: 127.0.0.1:1\n"
    "postgresql:\n"
    "  listen: 127.0.0.1:1\n"
    "  data_dir: /nonexistent/pgha-check/data\n"
    "  pg_ctl_timeout: 60\n"  // accepted with a warning
    "  authentication:\n"
    "    superuser: {username: postgres, password: pw}\n"
    "    replication: {username: replicator, password: pw}\n";

class AgentCommandLine : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/pgha-agent-cli-XXXXXX";
    ASSERT_NE(::mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
  }
  void TearDown() override {
    std::error_code ignored;
    fs::remove_all(dir_, ignored);
  }
  std::string write(const std::string& name, const std::string& content) {
    std::ofstream(dir_ / name) << content;
    return (dir_ / name).string();
  }
  static test::ProgramResult run_agent(std::vector<std::string> args) {
    args.insert(args.begin(), PGHA_AGENT_BIN);
    return test::run_program(args);
  }
  fs::path dir_;
};

TEST_F(AgentCommandLine, CheckValidatesWithoutStartingAnything) {
  const std::string path = write("agent.yml", kConfig);
  for (const auto& args : std::vector<std::vector<std::string>>{{"--check", path}, {"--check", "-c", path},
                                                                 {path, "--check"}}) {
    const test::ProgramResult r = run_agent(args);
    EXPECT_FALSE(r.timed_out);
    EXPECT_EQ(r.exit_code, 0) << r.output;
    EXPECT_THAT(r.output, HasSubstr("Configuration file is valid: " + path));
    EXPECT_THAT(r.output, HasSubstr("config warning: " + path + ":10: postgresql.pg_ctl_timeout: ignored"));
  }
  EXPECT_FALSE(fs::exists("/nonexistent/pgha-check"));
}

TEST_F(AgentCommandLine, CheckReportsAnInvalidFileWithItsLocation) {
  const std::string path = write("agent.yml", std::string(kConfig) + "bootstrap:\n  dcs:\n    ttl: often\n");
  const test::ProgramResult r = run_agent({"--check", path});
  EXPECT_EQ(r.exit_code, 2) << r.output;
  EXPECT_THAT(r.output, HasSubstr("pgha-agent: config error: " + path + ":16: bootstrap.dcs.ttl:"));
  EXPECT_THAT(r.output, ::testing::Not(HasSubstr("is valid")));
}

TEST_F(AgentCommandLine, CheckReportsABrokenEtcdCertificate) {
  const std::string cert = write("etcd-client.crt", "not a certificate\n");
  std::string config = kConfig;
  const std::string hosts = "  hosts: 127.0.0.1:1\n";
  config.replace(config.find(hosts), hosts.size(), "  hosts: https://127.0.0.1:1\n  cert: " + cert + "\n");
  const std::string path = write("agent.yml", config);
  const test::ProgramResult r = run_agent({"--check", path});
  EXPECT_EQ(r.exit_code, 2) << r.output;
  EXPECT_THAT(r.output, HasSubstr("pgha-agent: config error: " + path + ":7: etcd3.cert: certificate " + cert + ": "));
}

TEST_F(AgentCommandLine, CheckReportsABrokenRestCertificate) {
  const std::string garbage = write("server.crt", "not a certificate\n");
  std::string text = kConfig;
  const std::string listen = "  listen: 127.0.0.1:1\n";
  text.insert(text.find(listen) + listen.size(), "  certfile: " + garbage + "\n");  // line 5
  const std::string path = write("agent.yml", text);
  const test::ProgramResult r = run_agent({"--check", path});
  EXPECT_EQ(r.exit_code, 2) << r.output;
  EXPECT_THAT(r.output, HasSubstr("pgha-agent: config error: " + path + ":5: restapi.certfile: certificate " + garbage));
  EXPECT_THAT(r.output, ::testing::Not(HasSubstr("is valid")));
}

TEST_F(AgentCommandLine, CheckRefusesWhatIsNotARegularFile) {
  const test::ProgramResult r = run_agent({"--check", "/dev/zero"});
  EXPECT_FALSE(r.timed_out);
  EXPECT_EQ(r.exit_code, 2) << r.output;
  EXPECT_THAT(r.output, HasSubstr("/dev/zero:0: file: cannot read: a character device, not a regular file"));
}

TEST_F(AgentCommandLine, BadArgumentsExitWithTwo) {
  const std::string path = write("agent.yml", kConfig);
  const std::vector<std::pair<std::vector<std::string>, std::string>> cases = {
      {{"--check", "-c"}, "pgha-agent: -c needs a value"},
      {{"--config"}, "pgha-agent: --config needs a value"},
      {{path, "--frobnicate"}, "pgha-agent: unknown argument '--frobnicate'"},
      {{path, path}, "pgha-agent: unknown argument '" + path + "'"},
      {{"--check"}, "usage: pgha-agent"},
      {{"--log-format", "xml", path}, "pgha-agent: --log-format needs text or json"},
      {{path, "--log-format"}, "pgha-agent: --log-format needs text or json"},
  };
  for (const auto& [args, message] : cases) {
    const test::ProgramResult r = run_agent(args);
    EXPECT_EQ(r.exit_code, 2) << ::testing::PrintToString(args) << "\n" << r.output;
    EXPECT_THAT(r.output, HasSubstr(message)) << ::testing::PrintToString(args);
  }
}

}  // namespace
}  // namespace pgha::election
