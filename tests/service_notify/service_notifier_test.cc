// ServiceNotifier against a real notification socket (a bound AF_UNIX datagram socket, path and
// abstract forms): the datagrams it sends, the watchdog variables it reads and takes out of the
// environment, and that a missing, full or unusable socket neither blocks nor crashes (one log
// line per run of failures).
#include "service_notify/service_notifier.h"

#include <stdlib.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "tests/support/notify_socket.h"

namespace pgha::service_notify {
namespace {

using namespace std::chrono_literals;
using test::has_line;
using test::NotifySocket;
using test::value_of;

struct Errors {
  std::vector<std::string> lines;
  ServiceNotifier::ErrorLog log() {
    return [this](const std::string& line) { lines.push_back(line); };
  }
};

TEST(ServiceNotifierTest, SendsEachMessageAsOneDatagramToAPathSocket) {
  NotifySocket manager(NotifySocket::Kind::kPath);
  Errors errors;
  ServiceNotifier notifier(manager.address(), std::nullopt, errors.log());
  ASSERT_TRUE(notifier.enabled());
  EXPECT_TRUE(notifier.ready("2 listener(s)"));
  EXPECT_EQ(manager.receive(2000ms).value_or(""), "READY=1\nSTATUS=2 listener(s)");
  EXPECT_TRUE(notifier.stopping());
  EXPECT_EQ(manager.receive(2000ms).value_or(""), "STOPPING=1");
  EXPECT_TRUE(notifier.watchdog());
  EXPECT_EQ(manager.receive(2000ms).value_or(""), "WATCHDOG=1");
  EXPECT_TRUE(notifier.status("line one\nREADY=1"));
  EXPECT_EQ(manager.receive(2000ms).value_or(""), "STATUS=line one READY=1") << "a status is one line";
  EXPECT_TRUE(errors.lines.empty());
}

TEST(ServiceNotifierTest, SendsToAnAbstractSocket) {
  NotifySocket manager(NotifySocket::Kind::kAbstract);
  ASSERT_EQ(manager.address()[0], '@');
  Errors errors;
  ServiceNotifier notifier(manager.address(), std::nullopt, errors.log());
  EXPECT_TRUE(notifier.ready());
  EXPECT_EQ(manager.receive(2000ms).value_or(""), "READY=1");
  EXPECT_TRUE(errors.lines.empty());
}

TEST(ServiceNotifierTest, ReloadingCarriesTheMonotonicClockInMicroseconds) {
  NotifySocket manager;
  ServiceNotifier notifier(manager.address(), std::nullopt, nullptr);
  const std::uint64_t before = monotonic_usec();
  EXPECT_TRUE(notifier.reloading("reloading x"));
  const std::uint64_t after = monotonic_usec();
  const std::string datagram = manager.receive(2000ms).value_or("");
  EXPECT_TRUE(has_line(datagram, "RELOADING=1")) << datagram;
  EXPECT_EQ(value_of(datagram, "STATUS"), "reloading x");
  const std::uint64_t stamp = std::stoull(value_of(datagram, "MONOTONIC_USEC"));
  EXPECT_GE(stamp, before);
  EXPECT_LE(stamp, after);
  timespec now{};
  ::clock_gettime(CLOCK_MONOTONIC, &now);
  EXPECT_NEAR(static_cast<double>(stamp) / 1e6, static_cast<double>(now.tv_sec), 2.0) << "seconds, not another unit";
}

TEST(ServiceNotifierTest, WithoutASocketEverythingIsANoOp) {
  Errors errors;
  ServiceNotifier notifier("", std::chrono::seconds(10), errors.log());
  EXPECT_FALSE(notifier.enabled());
  EXPECT_FALSE(notifier.ready());
  EXPECT_FALSE(notifier.watchdog_interval()) << "no watchdog without a service manager to answer";
  EXPECT_TRUE(errors.lines.empty());
}

TEST(ServiceNotifierTest, AMissingSocketIsLoggedOncePerRunOfFailuresAndNeverThrows) {
  const std::string path = "/tmp/pgha-notify-missing-" + std::to_string(::getpid()) + ".sock";
  Errors errors;
  ServiceNotifier notifier(path, std::nullopt, errors.log());
  ASSERT_TRUE(notifier.enabled());
  for (int i = 0; i < 5; ++i) EXPECT_FALSE(notifier.watchdog());
  ASSERT_EQ(errors.lines.size(), 1u);
  EXPECT_NE(errors.lines[0].find("WATCHDOG=1"), std::string::npos) << errors.lines[0];
  EXPECT_NE(errors.lines[0].find("No such file"), std::string::npos) << errors.lines[0];
}

TEST(ServiceNotifierTest, AFailureAfterASuccessIsLoggedAgain) {
  Errors errors;
  std::optional<NotifySocket> manager(std::in_place);
  ServiceNotifier notifier(manager->address(), std::nullopt, errors.log());
  EXPECT_TRUE(notifier.ready());
  manager.reset();  // the service manager's socket is gone
  EXPECT_FALSE(notifier.watchdog());
  EXPECT_FALSE(notifier.watchdog());
  EXPECT_EQ(errors.lines.size(), 1u);
  NotifySocket back;  // another socket: this notifier still fails, without a new log line
  EXPECT_FALSE(notifier.watchdog());
  EXPECT_EQ(errors.lines.size(), 1u);
}

TEST(ServiceNotifierTest, AFullQueueDropsDatagramsWithoutBlocking) {
  NotifySocket manager;  // never read
  Errors errors;
  ServiceNotifier notifier(manager.address(), std::nullopt, errors.log());
  const auto start = std::chrono::steady_clock::now();
  int dropped = 0;
  for (int i = 0; i < 20000 && dropped == 0; ++i) {
    if (!notifier.watchdog()) ++dropped;
  }
  EXPECT_EQ(dropped, 1) << "the receiver's queue filled up";
  EXPECT_LT(std::chrono::steady_clock::now() - start, 5s) << "sending never blocks";
  ASSERT_EQ(errors.lines.size(), 1u);
  EXPECT_NE(errors.lines[0].find("unavailable"), std::string::npos) << errors.lines[0];
}

TEST(ServiceNotifierTest, UnusableAddressesDisableItWithOneLogLine) {
  for (const std::string& address : {std::string("relative/notify.sock"), "/" + std::string(200, 'x')}) {
    Errors errors;
    ServiceNotifier notifier(address, std::nullopt, errors.log());
    EXPECT_FALSE(notifier.enabled()) << address;
    EXPECT_FALSE(notifier.ready());
    EXPECT_EQ(errors.lines.size(), 1u) << address;
  }
}

TEST(ServiceNotifierTest, WatchdogVariablesAreParsedLikeSdWatchdogEnabled) {
  const long self = 4242;
  EXPECT_EQ(watchdog_interval_from("30000000", nullptr, self), std::chrono::seconds(30));
  EXPECT_EQ(watchdog_interval_from("500", "4242", self), std::chrono::microseconds(500));
  EXPECT_EQ(watchdog_interval_from("500", "", self), std::chrono::microseconds(500));
  EXPECT_FALSE(watchdog_interval_from(nullptr, nullptr, self));
  EXPECT_FALSE(watchdog_interval_from("", nullptr, self));
  std::string why;
  EXPECT_FALSE(watchdog_interval_from("500", "4243", self, &why)) << "another process's watchdog";
  EXPECT_EQ(why, "");
  for (const char* bad : {"0", "-5", "12x", "abc", "99999999999999999999999"}) {
    why.clear();
    EXPECT_FALSE(watchdog_interval_from(bad, nullptr, self, &why)) << bad;
    EXPECT_NE(why.find("WATCHDOG_USEC"), std::string::npos) << bad;
  }
  why.clear();
  EXPECT_FALSE(watchdog_interval_from("500", "pid", self, &why));
  EXPECT_NE(why.find("WATCHDOG_PID"), std::string::npos);
}

TEST(ServiceNotifierTest, FromEnvironmentReadsAndRemovesTheVariables) {
  NotifySocket manager(NotifySocket::Kind::kAbstract);
  ::setenv("NOTIFY_SOCKET", manager.address().c_str(), 1);
  ::setenv("WATCHDOG_USEC", "2000000", 1);
  ::setenv("WATCHDOG_PID", std::to_string(::getpid()).c_str(), 1);
  Errors errors;
  ServiceNotifier notifier = ServiceNotifier::from_environment(errors.log());
  EXPECT_EQ(std::getenv("NOTIFY_SOCKET"), nullptr) << "children must not notify in our name";
  EXPECT_EQ(std::getenv("WATCHDOG_USEC"), nullptr);
  EXPECT_EQ(std::getenv("WATCHDOG_PID"), nullptr);
  EXPECT_EQ(notifier.watchdog_interval(), std::chrono::seconds(2));
  EXPECT_TRUE(notifier.ready());
  EXPECT_EQ(manager.receive(2000ms).value_or(""), "READY=1");

  ::setenv("NOTIFY_SOCKET", manager.address().c_str(), 1);
  ::setenv("WATCHDOG_USEC", "2000000", 1);
  ::setenv("WATCHDOG_PID", std::to_string(::getpid() + 1).c_str(), 1);
  EXPECT_FALSE(ServiceNotifier::from_environment(errors.log()).watchdog_interval()) << "another process's";

  ::setenv("NOTIFY_SOCKET", manager.address().c_str(), 1);
  ::setenv("WATCHDOG_USEC", "soon", 1);
  EXPECT_FALSE(ServiceNotifier::from_environment(errors.log()).watchdog_interval());
  ASSERT_EQ(errors.lines.size(), 1u);
  EXPECT_NE(errors.lines[0].find("WATCHDOG_USEC='soon'"), std::string::npos) << errors.lines[0];

  ServiceNotifier none = ServiceNotifier::from_environment(errors.log());
  EXPECT_FALSE(none.enabled()) << "the variables were removed";
}

}  // namespace
}  // namespace pgha::service_notify
