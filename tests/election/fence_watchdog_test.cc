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

#include "election/etcd_client.h"
#include "tests/election/etcd_process.h"

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
    start_postmaster();
  }
  // A stand-in postmaster: runs in the data dir (as a postmaster does) until a signal ends it.
  // postmaster.pid is written once the stand-in is in the data dir, as a postmaster's is.
  void start_postmaster(bool ignores_sigquit = false) {
    int ready[2];
    ASSERT_EQ(::pipe(ready), 0);
    postmaster_ = ::fork();
    if (postmaster_ == 0) {
      if (ignores_sigquit) ::signal(SIGQUIT, SIG_IGN);
      if (::chdir(dir_.c_str()) != 0) ::_exit(3);
      [[maybe_unused]] ssize_t n = ::write(ready[1], "x", 1);
      // Without the watchdog's pipe, which a fork inherits: the watchdog must see it close.
      ::close_range(3, ~0U, 0);
      for (;;) ::pause();
    }
    ::close(ready[1]);
    char byte = 0;
    ASSERT_EQ(::read(ready[0], &byte, 1), 1) << "the stand-in postmaster did not start";
    ::close(ready[0]);
    reaped_ = false;
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
  ASSERT_TRUE(watchdog->arm(armed_at + 200ms));
  EXPECT_EQ(ended_by(3000ms), SIGQUIT) << "immediate shutdown of the postmaster";
  EXPECT_GE(Clock::now() - armed_at, 190ms) << "not before the deadline";
}

TEST_F(FenceWatchdogTest, ARenewedDeadlineAndDisarmingKeepPostgresRunning) {
  auto watchdog = FenceWatchdog::start(dir_.string());
  ASSERT_NE(watchdog, nullptr);
  for (int i = 0; i < 20; ++i) {  // renewed every 50 ms for 1 s, each deadline 500 ms ahead: never reached
    ASSERT_TRUE(watchdog->arm(Clock::now() + 500ms));
    EXPECT_EQ(ended_by(50ms), 0);
  }
  ASSERT_TRUE(watchdog->disarm());
  EXPECT_EQ(ended_by(400ms), 0) << "disarmed: no fencing";
  watchdog.reset();  // disarmed and closed: the watchdog exits without fencing
  EXPECT_EQ(ended_by(200ms), 0);
}

// An agent that resumes after a pause may start PostgreSQL again on what it knew before: until it
// renews the deadline or disarms, any postmaster in the data dir is stopped.
TEST_F(FenceWatchdogTest, APostmasterStartedAfterTheDeadlinePassedIsFencedToo) {
  auto watchdog = FenceWatchdog::start(dir_.string());
  ASSERT_NE(watchdog, nullptr);
  ASSERT_TRUE(watchdog->arm(Clock::now() + 100ms));
  ASSERT_EQ(ended_by(3000ms), SIGQUIT);
  start_postmaster();
  EXPECT_EQ(ended_by(3000ms), SIGQUIT) << "started after the fence, before any renewal";
  // Disarmed (the agent lost the lock): its PostgreSQL may run as a standby. The pipe has no
  // acknowledgement: give the watchdog more than one re-check period to read the message first.
  ASSERT_TRUE(watchdog->disarm());
  std::this_thread::sleep_for(200ms);
  start_postmaster();
  EXPECT_EQ(ended_by(300ms), 0) << "disarmed: a standby may run";
  const auto passed = Clock::now() - 1ms;
  ASSERT_TRUE(watchdog->arm(passed));
  EXPECT_EQ(ended_by(3000ms), SIGQUIT) << "a deadline already passed fences at once";
  start_postmaster();
  ASSERT_TRUE(watchdog->arm(passed));
  EXPECT_EQ(ended_by(3000ms), SIGQUIT) << "the same passed deadline again still fences";
  // Renewed: the lease is the agent's again, its PostgreSQL runs.
  ASSERT_TRUE(watchdog->arm(Clock::now() + 60s));
  std::this_thread::sleep_for(200ms);
  start_postmaster();
  EXPECT_EQ(ended_by(300ms), 0);
}

// A stale postmaster.pid whose PID now belongs to a process outside the data dir is not signalled.
TEST_F(FenceWatchdogTest, APidThatIsNotAPostmasterOfTheDataDirIsLeftAlone) {
  const pid_t stranger = ::fork();
  if (stranger == 0) {
    ::close_range(3, ~0U, 0);
    for (;;) ::pause();  // runs in the test's working directory, not the data dir
  }
  std::ofstream(dir_ / "postmaster.pid") << stranger << "\n" << dir_.string() << "\n";
  auto watchdog = FenceWatchdog::start(dir_.string());
  ASSERT_NE(watchdog, nullptr);
  ASSERT_TRUE(watchdog->arm(Clock::now() + 50ms));
  std::this_thread::sleep_for(300ms);  // past the deadline and several re-checks
  int status = 0;
  EXPECT_EQ(::waitpid(stranger, &status, WNOHANG), 0) << "the stranger was signalled";
  ::kill(stranger, SIGKILL);
  ::waitpid(stranger, nullptr, 0);
}

TEST_F(FenceWatchdogTest, FencesAtOnceWhenTheAgentDiesWhileLeading) {
  // The "agent" is a child that arms the watchdog far ahead and dies without a word (kill -9).
  const pid_t agent = ::fork();
  if (agent == 0) {
    auto watchdog = FenceWatchdog::start(dir_.string());
    if (!watchdog->arm(Clock::now() + 60s)) ::_exit(3);
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
    if (!watchdog->arm(Clock::now() + 60s) || !watchdog->disarm()) ::_exit(3);  // lost the lock, then died
    ::kill(::getpid(), SIGKILL);
  }
  ::waitpid(agent, nullptr, 0);
  EXPECT_EQ(ended_by(500ms), 0);
}

// With the agent dead while leading, the watchdog revokes the agent's lease, so the leader key it
// held goes at once, but only after the postmaster has exited.
class FenceWatchdogRevokeTest : public FenceWatchdogTest {
 protected:
  static void SetUpTestSuite() { etcd_ = std::make_unique<test::EtcdProcess>(); }
  static void TearDownTestSuite() { etcd_.reset(); }

  EtcdClientOptions options() const {
    EtcdClientOptions o;
    o.endpoints = {etcd_->endpoint()};
    o.call_timeout = 2000ms;
    return o;
  }
  // A lease of 60 s holding `key`: only a revoke removes it within the test.
  std::int64_t leader_key(const std::string& key) {
    EtcdClient client(options());
    auto grant = client.lease_grant(60s);
    EXPECT_TRUE(grant.ok()) << grant.status().to_string();
    auto put = client.put(key, "agent", grant->id);
    EXPECT_TRUE(put.ok()) << put.status().to_string();
    return grant->id;
  }
  bool key_exists(const std::string& key) {
    EtcdClient client(options());
    auto range = client.range(key);
    return range.ok() && !range->kvs.empty();
  }
  // The agent: starts the watchdog with the lease, arms it far ahead, dies by kill -9.
  void agent_dies_while_leading(std::int64_t lease) {
    const pid_t agent = ::fork();
    if (agent == 0) {
      auto watchdog = FenceWatchdog::start(dir_.string(), options());
      if (!watchdog || !watchdog->set_lease(lease) || !watchdog->arm(Clock::now() + 60s)) ::_exit(3);
      ::kill(::getpid(), SIGKILL);
    }
    int status = 0;
    ASSERT_EQ(::waitpid(agent, &status, 0), agent);
    ASSERT_TRUE(WIFSIGNALED(status)) << "the agent child failed to arm its watchdog";
  }

  static std::unique_ptr<test::EtcdProcess> etcd_;
};
std::unique_ptr<test::EtcdProcess> FenceWatchdogRevokeTest::etcd_;

TEST_F(FenceWatchdogRevokeTest, RevokesTheLeaseOnceThePostmasterHasExited) {
  const std::int64_t lease = leader_key("/t/leader-1");
  agent_dies_while_leading(lease);
  EXPECT_EQ(ended_by(3000ms), SIGQUIT);
  const auto deadline = Clock::now() + 5s;
  while (key_exists("/t/leader-1") && Clock::now() < deadline) std::this_thread::sleep_for(20ms);
  EXPECT_FALSE(key_exists("/t/leader-1")) << "the lease (60 s) should have been revoked after fencing";
}

TEST_F(FenceWatchdogRevokeTest, NeverRevokesWhileThePostmasterStillRuns) {
  // A postmaster that does not die of SIGQUIT (stuck): the lease must stay, or another node
  // could be promoted beside a server that may still take writes.
  ::kill(postmaster_, SIGKILL);
  ::waitpid(postmaster_, nullptr, 0);
  start_postmaster(/*ignores_sigquit=*/true);
  const std::int64_t lease = leader_key("/t/leader-2");
  agent_dies_while_leading(lease);
  EXPECT_EQ(ended_by(1500ms), 0) << "the stand-in ignores SIGQUIT";
  EXPECT_TRUE(key_exists("/t/leader-2")) << "revoked while the postmaster still runs";
  ::kill(postmaster_, SIGKILL);  // now it is gone: the watchdog (waiting up to 10 s) revokes
  EXPECT_EQ(ended_by(1000ms), SIGKILL);
  const auto deadline = Clock::now() + 8s;
  while (key_exists("/t/leader-2") && Clock::now() < deadline) std::this_thread::sleep_for(20ms);
  EXPECT_FALSE(key_exists("/t/leader-2"));
}

}  // namespace
}  // namespace pgha::election
