// WatchdogKeepalive against a real notification socket: WATCHDOG=1 every quarter of the interval
// while `alive` says so, none while it does not, nothing at all without a watchdog interval.
#include "service_notify/watchdog_keepalive.h"

#include <atomic>
#include <chrono>

#include <gtest/gtest.h>

#include "tests/support/notify_socket.h"

namespace pgha::service_notify {
namespace {

using namespace std::chrono_literals;
using test::NotifySocket;

// WATCHDOG=1 datagrams received within `window`.
int keepalives_within(NotifySocket& manager, std::chrono::milliseconds window) {
  const auto end = std::chrono::steady_clock::now() + window;
  int n = 0;
  for (;;) {
    const auto left = std::chrono::ceil<std::chrono::milliseconds>(end - std::chrono::steady_clock::now());
    if (left.count() <= 0) return n;
    auto datagram = manager.receive(left);
    if (!datagram) return n;
    if (*datagram == "WATCHDOG=1") ++n;
  }
}

TEST(WatchdogKeepaliveTest, SendsEveryQuarterIntervalOnlyWhileAlive) {
  NotifySocket manager;
  ServiceNotifier notifier(manager.address(), 200ms, nullptr);
  std::atomic<bool> alive{true};
  std::atomic<int> asked{0};
  WatchdogKeepalive keepalive(notifier, [&] {
    ++asked;
    return alive.load();
  });
  EXPECT_EQ(keepalive.period(), 50ms);
  keepalive.start();
  // Repeatedly: at least 3 within 4 periods' worth plus scheduling slack.
  EXPECT_GE(keepalives_within(manager, 600ms), 3);
  alive = false;
  (void)keepalives_within(manager, 100ms);  // one may have been on its way
  const int asked_before = asked.load();
  EXPECT_EQ(keepalives_within(manager, 400ms), 0) << "no keepalive while not alive";
  EXPECT_GT(asked.load(), asked_before) << "it keeps asking";
  alive = true;
  EXPECT_TRUE(manager.receive_until("WATCHDOG=1", 2000ms)) << "keepalives resume";
  keepalive.stop();
  (void)keepalives_within(manager, 100ms);
  EXPECT_EQ(keepalives_within(manager, 300ms), 0) << "none after stop()";
}

TEST(WatchdogKeepaliveTest, WithoutAnIntervalNothingRuns) {
  NotifySocket manager;
  ServiceNotifier notifier(manager.address(), std::nullopt, nullptr);
  std::atomic<int> asked{0};
  WatchdogKeepalive keepalive(notifier, [&] {
    ++asked;
    return true;
  });
  keepalive.start();
  EXPECT_FALSE(manager.receive(300ms));
  EXPECT_EQ(asked.load(), 0);
}

TEST(WatchdogKeepaliveTest, StopIsPromptEvenWithALongInterval) {
  NotifySocket manager;
  ServiceNotifier notifier(manager.address(), std::chrono::hours(1), nullptr);
  WatchdogKeepalive keepalive(notifier, [] { return true; });
  keepalive.start();
  EXPECT_EQ(manager.receive(2000ms).value_or(""), "WATCHDOG=1") << "the first keepalive goes at once";
  const auto start = std::chrono::steady_clock::now();
  keepalive.stop();
  EXPECT_LT(std::chrono::steady_clock::now() - start, 1s);
}

}  // namespace
}  // namespace pgha::service_notify
