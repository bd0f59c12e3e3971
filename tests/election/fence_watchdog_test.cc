// FenceWatchdog: the fencing process stops "PostgreSQL" (a stand-in process whose PID is in
// DATA/postmaster.pid) when its deadline passes or the agent dies while armed, and leaves it
// alone while the deadline keeps moving or when disarmed.
#include "election/fence_watchdog.h"

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <thread>

#include <gtest/gtest.h>

namespace pgha::election {
namespace {

using namespace std::chrono_literals;
using Clock = FenceWatchdog::Clock;

class FenceWatchdogTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() / ("pgha-watchdog-" + std::to_string(::getpid()) + "-" +
                                                     ::testing::UnitTest::GetInstance()->current_test_info()->name());
    std::filesystem::create_directories(dir_);
    postmaster_ = ::fork();
    if (postmaster_ == 0) {
      for (;;) ::pause();  // stands in for the postmaster until a signal ends it
    }
    std::ofstream(dir_ / "postmaster.pid") << postmaster_ << "\n" << dir_.string() << "\n";
  }
  void TearDown() override {
    if (postmaster_ > 0 && !reaped_) {
      ::kill(postmaster_, SIGKILL);
      ::waitpid(postmaster_, nullptr, 0);
    }
    std::filesystem::remove_all(dir_);
  }
  // The signal that ended the stand-in within `timeout`, or 0 if it is still alive.
  int ended_by(std::chrono::milliseconds timeout) {
    const auto deadline = Clock::now() + timeout;
    while (Clock::now() < deadline) {
      int status = 0;
      if (::waitpid(postmaster_, &status, WNOHANG) == postmaster_) {
        reaped_ = true;
        return WIFSIGNALED(status) ? WTERMSIG(status) : -1;
      }
      std::this_thread::sleep_for(5ms);
    }
    return 0;
  }

  std::filesystem::path dir_;
  pid_t postmaster_ = -1;
  bool reaped_ = false;
};

TEST_F(FenceWatchdogTest, FencesWhenTheDeadlinePassesWithoutRenewal) {
  auto watchdog = FenceWatchdog::start(dir_.string());
  ASSERT_NE(watchdog, nullptr);
  const auto armed_at = Clock::now();
  watchdog->arm(armed_at + 200ms);
  EXPECT_EQ(ended_by(3000ms), SIGQUIT) << "immediate shutdown of the postmaster";
  EXPECT_GE(Clock::now() - armed_at, 190ms) << "not before the deadline";
}

TEST_F(FenceWatchdogTest, ARenewedDeadlineAndDisarmingKeepPostgresRunning) {
  auto watchdog = FenceWatchdog::start(dir_.string());
  ASSERT_NE(watchdog, nullptr);
  for (int i = 0; i < 12; ++i) {  // renewed every 50 ms, each deadline 200 ms ahead: never reached
    watchdog->arm(Clock::now() + 200ms);
    EXPECT_EQ(ended_by(50ms), 0);
  }
  watchdog->disarm();
  EXPECT_EQ(ended_by(400ms), 0) << "disarmed: no fencing";
  watchdog.reset();  // disarmed and closed: the watchdog exits without fencing
  EXPECT_EQ(ended_by(200ms), 0);
}

TEST_F(FenceWatchdogTest, FencesAtOnceWhenTheAgentDiesWhileLeading) {
  // The "agent" is a child that arms the watchdog far ahead and dies without a word (kill -9).
  const pid_t agent = ::fork();
  if (agent == 0) {
    auto watchdog = FenceWatchdog::start(dir_.string());
    watchdog->arm(Clock::now() + 60s);
    ::kill(::getpid(), SIGKILL);
  }
  int status = 0;
  ASSERT_EQ(::waitpid(agent, &status, 0), agent);
  ASSERT_TRUE(WIFSIGNALED(status));
  EXPECT_EQ(ended_by(3000ms), SIGQUIT) << "the pipe closed while armed: fence now, not in 60 s";
}

TEST_F(FenceWatchdogTest, AnAgentThatDiesWhileNotLeadingLeavesPostgresAlone) {
  const pid_t agent = ::fork();
  if (agent == 0) {
    auto watchdog = FenceWatchdog::start(dir_.string());
    watchdog->arm(Clock::now() + 60s);
    watchdog->disarm();  // lost the lock, then died
    ::kill(::getpid(), SIGKILL);
  }
  ::waitpid(agent, nullptr, 0);
  EXPECT_EQ(ended_by(500ms), 0);
}

}  // namespace
}  // namespace pgha::election
