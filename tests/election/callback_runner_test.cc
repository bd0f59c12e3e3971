// CallbackRunner with real processes: a callback gets its arguments, run() never waits for it,
// a newer callback kills the one still running, a hung one is killed at its deadline, and the
// destructor leaves nothing running.
#include "election/callback_runner.h"

#include <gtest/gtest.h>

#include "tests/election/hook_scripts.h"

namespace pgha::election {
namespace {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;
using test::HookScripts;

class CallbackRunnerTest : public ::testing::Test {
 protected:
  CommandRunner commands() const { return CommandRunner({"", CommandRunner::default_environment()}); }
  std::string log() const { return scripts_.path("callbacks.log"); }
  HookScripts scripts_;
};

TEST_F(CallbackRunnerTest, RunsTheCommandWithItsArgumentsAndLogsItsOutput) {
  CallbackRunner runner(commands(), log());
  const std::string cb = scripts_.script("cb.sh", "echo \"$*\" >> '" + scripts_.path("args") + "'\necho said-hello");
  runner.run("on_start", {cb, "on_start", "primary", "demo"}, 5s);
  ASSERT_TRUE(runner.wait_idle(10s));
  EXPECT_EQ(scripts_.lines("args"), std::vector<std::string>{"on_start primary demo"});
  const auto done = runner.completed();
  ASSERT_EQ(done.size(), 1u);
  EXPECT_EQ(done[0].name, "on_start");
  EXPECT_TRUE(done[0].result.ok()) << done[0].result.describe;
  EXPECT_EQ(done[0].result.output_tail, "said-hello");
}

TEST_F(CallbackRunnerTest, ANewerCallbackKillsTheOneStillRunningWithoutWaitingForIt) {
  CallbackRunner runner(commands(), log());
  runner.run("on_start", {scripts_.sleeper("slow.sh", "args", "slow.pid", 60), "on_start", "replica", "demo"}, 120s);
  const pid_t slow = scripts_.wait_pid("slow.pid");
  ASSERT_NE(slow, 0);
  const auto asked = Clock::now();
  runner.run("on_role_change", {scripts_.recorder("cb.sh", "args"), "on_role_change", "primary", "demo"}, 5s);
  EXPECT_LT(Clock::now() - asked, 100ms) << "run() waited for the callback it replaces";
  ASSERT_TRUE(scripts_.wait_lines("args", 2));
  EXPECT_TRUE(HookScripts::wait_dead(slow)) << "the replaced callback is still running";
  ASSERT_TRUE(runner.wait_idle(10s));
  EXPECT_EQ(scripts_.lines("args"), (std::vector<std::string>{"on_start replica demo", "on_role_change primary demo"}));
  const auto done = runner.completed();
  ASSERT_EQ(done.size(), 2u);
  EXPECT_TRUE(done[0].result.cancelled) << done[0].result.describe;
  EXPECT_TRUE(done[1].result.ok()) << done[1].result.describe;
}

TEST_F(CallbackRunnerTest, AHungCallbackIsKilledAtItsDeadline) {
  CallbackRunner runner(commands(), log());
  const auto begun = Clock::now();
  runner.run("on_stop", {scripts_.sleeper("hung.sh", "args", "hung.pid", 60), "on_stop", "primary", "demo"}, 300ms);
  const pid_t hung = scripts_.wait_pid("hung.pid");
  ASSERT_NE(hung, 0);
  ASSERT_TRUE(runner.wait_idle(10s));
  EXPECT_LT(Clock::now() - begun, 5s);
  EXPECT_TRUE(HookScripts::wait_dead(hung));
  const auto done = runner.completed();
  ASSERT_EQ(done.size(), 1u);
  EXPECT_TRUE(done[0].result.timed_out) << done[0].result.describe;
}

TEST_F(CallbackRunnerTest, TheNewestOfCallbacksSubmittedTogetherRunsLast) {
  CallbackRunner runner(commands(), log());
  const std::string cb = scripts_.recorder("cb.sh", "args");
  for (int i = 1; i <= 5; ++i) runner.run("on_reload", {cb, std::to_string(i)}, 5s);
  ASSERT_TRUE(runner.wait_idle(10s));
  const auto lines = scripts_.lines("args");
  ASSERT_FALSE(lines.empty());
  EXPECT_EQ(lines.back(), "5");  // earlier ones may have been dropped or killed, never run after it
  EXPECT_TRUE(runner.completed().back().result.ok());
}

TEST_F(CallbackRunnerTest, TheDestructorKillsACallbackStillRunning) {
  pid_t slow = 0;
  const auto begun = Clock::now();
  {
    CallbackRunner runner(commands(), log());
    runner.run("on_start", {scripts_.sleeper("slow.sh", "args", "slow.pid", 60)}, 120s);
    slow = scripts_.wait_pid("slow.pid");
    ASSERT_NE(slow, 0);
  }
  EXPECT_LT(Clock::now() - begun, 5s);
  EXPECT_TRUE(HookScripts::wait_dead(slow));
}

}  // namespace
}  // namespace pgha::election
