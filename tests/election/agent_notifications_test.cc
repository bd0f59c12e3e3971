// AgentNotifications with a real HA thread (HaLoop::run() over the fakes) and a real notification
// socket: READY=1 only once the first iteration made its decision, RELOADING=1 on a reload and
// READY=1 only after the HA loop reloaded PostgreSQL, WATCHDOG=1 while the loop turns and none
// while an iteration is stuck, STOPPING=1 when asked to stop.
#include "election/agent_notifications.h"

#include <atomic>
#include <thread>

#include <gtest/gtest.h>

#include "service_notify/watchdog_keepalive.h"
#include "tests/election/ha_loop_fakes.h"
#include "tests/support/notify_socket.h"
#include "tests/support/test_servers.h"

namespace pgha::election {
namespace {

using namespace std::chrono_literals;
using pgha::test::eventually;
using pgha::test::has_line;
using pgha::test::NotifySocket;
using pgha::test::value_of;

AgentConfig one_member_config() {
  AgentConfig c;
  c.scope = "postgres";
  c.name = "n1";
  c.ttl = std::chrono::seconds(10);
  c.loop_wait = std::chrono::seconds(1);
  c.retry_timeout = 2s;
  c.pg_listen = "127.0.0.1:5435";
  c.rest_listen = "127.0.0.1:8009";
  return c;
}

class AgentNotificationsTest : public ::testing::Test {
 protected:
  AgentNotificationsTest() : config_(one_member_config()), keys_(config_.namespace_, config_.scope) {
    dcs_.set(keys_.initialize(), "postgres");
    pg_.running = true;  // a primary without a leader: it takes the lock
    // Set before the HA thread starts; it runs there.
    pg_.on_probe = [this] {
      if (!hold_probe_) return;
      probe_held_ = true;
      while (hold_probe_) std::this_thread::sleep_for(5ms);  // a stuck PostgreSQL probe
      probe_held_ = false;
    };
    pg_.on_call = [this](const std::string& call) {
      if (call == "reload_config") ++reloads_;
    };
  }
  ~AgentNotificationsTest() override {
    hold_probe_ = false;
    if (thread_.joinable()) {
      loop_->stop();
      thread_.join();
    }
  }
  void start(service_notify::ServiceNotifier& notifier) {
    loop_ = std::make_unique<HaLoop>(config_, dcs_, pg_, peers_);
    notifications_ = std::make_unique<AgentNotifications>(notifier, *loop_);
    thread_ = std::thread([this] { loop_->run(); });
  }
  void stop() {
    hold_probe_ = false;
    notifications_->stopping();
    loop_->stop();
    thread_.join();
  }

  AgentConfig config_;
  KeyLayout keys_;
  test::FakeDcs dcs_;
  test::FakePostgres pg_;
  test::FakePeers peers_;
  std::atomic<bool> hold_probe_{false};
  std::atomic<bool> probe_held_{false};
  std::atomic<int> reloads_{0};
  std::unique_ptr<HaLoop> loop_;
  std::unique_ptr<AgentNotifications> notifications_;
  std::thread thread_;
};

TEST_F(AgentNotificationsTest, ReadyAfterTheFirstDecisionReloadingThenReadyAroundAReloadStoppingAtTheEnd) {
  NotifySocket manager;
  service_notify::ServiceNotifier notifier(manager.address(), std::nullopt, nullptr);
  hold_probe_ = true;  // the first iteration cannot decide yet
  start(notifier);
  ASSERT_TRUE(eventually([&] { return probe_held_.load(); }));
  EXPECT_FALSE(manager.receive(300ms)) << "READY=1 before any decision";
  hold_probe_ = false;
  const auto ready = manager.receive(5000ms);
  ASSERT_TRUE(ready);
  EXPECT_TRUE(has_line(*ready, "READY=1")) << *ready;
  EXPECT_FALSE(value_of(*ready, "STATUS").empty()) << "the decision's reason: " << *ready;

  notifications_->reload();
  std::vector<std::string> seen;  // STATUS= updates may come between
  const auto reloading = manager.receive_until("RELOADING=1", 5000ms, &seen);
  ASSERT_TRUE(reloading);
  EXPECT_FALSE(value_of(*reloading, "MONOTONIC_USEC").empty());
  const auto reloaded = manager.receive_until("READY=1", 5000ms, &seen);
  ASSERT_TRUE(reloaded);
  EXPECT_EQ(reloads_.load(), 1) << "READY=1 only once PostgreSQL was reloaded";
  for (const std::string& datagram : seen) {
    if (&datagram != &seen.back()) {
      EXPECT_FALSE(has_line(datagram, "READY=1")) << "a READY=1 too early: " << datagram;
    }
  }

  stop();
  EXPECT_TRUE(manager.receive_until("STOPPING=1", 2000ms));
}

TEST_F(AgentNotificationsTest, NoKeepaliveWhileAnIterationIsStuck) {
  NotifySocket manager;
  service_notify::ServiceNotifier notifier(manager.address(), 400ms, nullptr);
  start(notifier);
  service_notify::WatchdogKeepalive keepalive(notifier, [this] { return notifications_->alive(); });
  keepalive.start();
  ASSERT_TRUE(manager.receive_until("READY=1", 5000ms));
  for (int i = 0; i < 3; ++i) ASSERT_TRUE(manager.receive_until("WATCHDOG=1", 1000ms)) << i;

  hold_probe_ = true;
  ASSERT_TRUE(eventually([&] { return probe_held_.load(); }, 5000ms)) << "the next iteration is stuck";
  // Keepalives may go on for up to the interval into the stuck iteration (400 ms), then stop.
  const auto stuck_since = std::chrono::steady_clock::now();
  while (pgha::test::elapsed_since(stuck_since) < 500ms) (void)manager.receive(50ms);
  EXPECT_FALSE(manager.receive_until("WATCHDOG=1", 800ms)) << "a keepalive while the HA loop is stuck";
  EXPECT_FALSE(notifications_->alive());

  hold_probe_ = false;
  EXPECT_TRUE(manager.receive_until("WATCHDOG=1", 2000ms)) << "keepalives resume once the loop turns";
  keepalive.stop();
  stop();
}

}  // namespace
}  // namespace pgha::election
