// CommandRunner: argv without a shell, a clean environment, output in the log and in the
// result's tail, and a deadline that kills the whole process group.
#include "election/command_runner.h"

#include <signal.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>

#include <gtest/gtest.h>

#include "tests/election/hook_scripts.h"

namespace pgha::election {
namespace {

using namespace std::chrono_literals;
namespace fs = std::filesystem;

class CommandRunnerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/pgha-runner-XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
    log_ = (dir_ / "commands.log").string();
  }
  void TearDown() override {
    std::error_code ignored;
    fs::remove_all(dir_, ignored);
  }
  std::string log_text() const {
    std::ifstream in(log_);
    std::stringstream s;
    s << in.rdbuf();
    return s.str();
  }
  fs::path dir_;
  std::string log_;
};

TEST_F(CommandRunnerTest, CapturesOutputWithoutAShellAndWithACleanEnvironment) {
  ::setenv("PGPASSWORD", "leaked", 1);
  CommandRunner runner({"", {"PATH=/usr/bin:/bin", "MARKER=clean"}});
  const CommandResult r = runner.run({"/bin/sh", "-c", "echo \"pw=[$PGPASSWORD] m=$MARKER\"; echo oops >&2; exit 3"},
                                     5s, log_);
  ::unsetenv("PGPASSWORD");
  EXPECT_TRUE(r.started);
  EXPECT_FALSE(r.timed_out);
  EXPECT_EQ(r.exit_code, 3);
  EXPECT_FALSE(r.ok());
  EXPECT_NE(r.output_tail.find("pw=[] m=clean"), std::string::npos) << r.output_tail;
  EXPECT_NE(r.output_tail.find("oops"), std::string::npos) << r.output_tail;
  EXPECT_NE(r.describe.find("exited with 3"), std::string::npos) << r.describe;
  EXPECT_NE(log_text().find("pw=[] m=clean"), std::string::npos);

  // Arguments are passed as they are: no word splitting, no globbing.
  const CommandResult echo = runner.run({"/bin/echo", "a b", "*"}, 5s, log_);
  EXPECT_TRUE(echo.ok()) << echo.describe;
  EXPECT_EQ(echo.output_tail, "a b *");
}

TEST_F(CommandRunnerTest, KillsTheProcessGroupAtTheDeadline) {
  CommandRunner runner({"", CommandRunner::default_environment()});
  const auto begun = std::chrono::steady_clock::now();
  // The grandchild (sleep) must die too: it is in the same process group.
  const std::string pid_file = (dir_ / "sleep.pid").string();
  const CommandResult r =
      runner.run({"/bin/sh", "-c", "echo started; sleep 30 & echo $! > " + pid_file + "; wait"}, 300ms, log_);
  const auto took = std::chrono::steady_clock::now() - begun;
  EXPECT_TRUE(r.started);
  EXPECT_TRUE(r.timed_out);
  EXPECT_FALSE(r.ok());
  EXPECT_LT(took, 3s);
  EXPECT_NE(r.describe.find("timed out"), std::string::npos) << r.describe;
  EXPECT_NE(r.describe.find("started"), std::string::npos) << r.describe;
  std::ifstream in(pid_file);
  pid_t sleeper = 0;
  ASSERT_TRUE(in >> sleeper);
  EXPECT_TRUE(test::HookScripts::wait_dead(sleeper)) << "the grandchild survived the deadline";
}

TEST_F(CommandRunnerTest, ACancelDescriptorThatBecomesReadableKillsTheRun) {
  CommandRunner runner({"", CommandRunner::default_environment()});
  int cancel[2];
  ASSERT_EQ(::pipe(cancel), 0);
  std::thread canceller([&] {
    std::this_thread::sleep_for(200ms);
    EXPECT_EQ(::write(cancel[1], "x", 1), 1);
  });
  const auto begun = std::chrono::steady_clock::now();
  const CommandResult r = runner.run({"/bin/sleep", "60"}, 30s, log_, cancel[0]);
  canceller.join();
  EXPECT_LT(std::chrono::steady_clock::now() - begun, 5s);
  EXPECT_TRUE(r.started);
  EXPECT_TRUE(r.cancelled);
  EXPECT_FALSE(r.timed_out);
  EXPECT_FALSE(r.ok());
  EXPECT_NE(r.describe.find("cancelled"), std::string::npos) << r.describe;
  // Readable before the run: it is cancelled at once.
  const CommandResult again = runner.run({"/bin/sleep", "60"}, 30s, log_, cancel[0]);
  EXPECT_TRUE(again.cancelled);
  ::close(cancel[0]);
  ::close(cancel[1]);
}

TEST_F(CommandRunnerTest, ReportsAProgramThatCannotBeExecuted) {
  CommandRunner runner({"", CommandRunner::default_environment()});
  const CommandResult r = runner.run({"/nonexistent/tool", "x"}, 1s, log_);
  EXPECT_FALSE(r.started);
  EXPECT_FALSE(r.ok());
  EXPECT_NE(r.describe.find("could not be executed"), std::string::npos) << r.describe;
}

TEST_F(CommandRunnerTest, RunsAsTheGivenUserWhenRoot) {
  if (::geteuid() != 0) GTEST_SKIP() << "needs root";
  CommandRunner runner({"postgres", CommandRunner::default_environment()});
  fs::permissions(dir_, fs::perms::all);
  const CommandResult r = runner.run({"/usr/bin/id", "-un"}, 5s, log_);
  EXPECT_TRUE(r.ok()) << r.describe;
  EXPECT_EQ(r.output_tail, "postgres");
}

}  // namespace
}  // namespace pgha::election
