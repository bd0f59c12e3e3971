// The descriptor limit (RLIMIT_NOFILE) against the configuration: a global maxconn that the limit
// cannot carry is lowered with a warning, and a health check that cannot get a socket here is
// "not run" and leaves its server's state alone (it used to mark the server DOWN, turning every
// client away). The soft limit is lowered in this process and restored by each test.
#include <fcntl.h>
#include <sys/resource.h>
#include <unistd.h>

#include <gtest/gtest.h>
#include <spdlog/sinks/ringbuffer_sink.h>

#include "proxy/fd_budget.h"
#include "proxy/log.h"
#include "proxy/proxy_service.h"
#include "tests/proxy/service_test_configs.h"
#include "tests/support/test_servers.h"

namespace pgha::proxy {
namespace {

using namespace std::chrono_literals;
using test::eventually;
using testing::backend;
using testing::checked_backend;
using testing::config_with;

// Lowers the soft descriptor limit for its lifetime.
class SoftFdLimit {
 public:
  explicit SoftFdLimit(rlim_t soft) {
    EXPECT_EQ(::getrlimit(RLIMIT_NOFILE, &saved_), 0);
    rlimit lowered = saved_;
    lowered.rlim_cur = soft;
    EXPECT_EQ(::setrlimit(RLIMIT_NOFILE, &lowered), 0);
  }
  ~SoftFdLimit() { EXPECT_EQ(::setrlimit(RLIMIT_NOFILE, &saved_), 0); }

 private:
  rlimit saved_{};
};

// The highest descriptor number open in this process, plus one.
int fd_ceiling() {
  int highest = 0;
  for (int fd = 0; fd < 65536; ++fd) {
    if (::fcntl(fd, F_GETFD) != -1) highest = fd + 1;
  }
  return highest;
}

TEST(FdLimitTest, AMaxconnTheLimitCannotCarryIsLoweredWithAWarning) {
  test::EchoServer echo;
  auto config = config_with({backend("a", echo.port())});
  config.maxconn = 1000;  // 2,000 descriptors
  auto sink = std::make_shared<spdlog::sinks::ringbuffer_sink_mt>(16);
  log().sinks().push_back(sink);
  int max = 0;
  FdBudget budget;
  {
    SoftFdLimit limit(256);
    budget = fd_budget_for(config, config.workers);
    ProxyService service(config);
    max = service.process_sessions().max();
  }
  log().sinks().pop_back();
  EXPECT_EQ(budget.limit, 256);
  EXPECT_GT(budget.reserve, 2 * config.workers) << "listeners, pollers, checks and the admin API";
  EXPECT_EQ(max, (256 - budget.reserve) / 2);
  std::string logged;
  for (const auto& line : sink->last_formatted()) logged += line;
  EXPECT_NE(logged.find("maxconn 1000 needs about"), std::string::npos) << logged;
  EXPECT_NE(logged.find("maxconn lowered to " + std::to_string(max)), std::string::npos) << logged;

  config.maxconn = 50;
  ProxyService carried(config);
  EXPECT_EQ(carried.process_sessions().max(), 50) << "a maxconn the limit carries stays as configured";
}

TEST(FdLimitTest, SpliceListenersCountAPipePerSession) {
  auto config = config_with({backend("a", 1)});
  const FdBudget plain = fd_budget_for(config, 2);
  config.listeners[0].splice = true;
  const FdBudget spliced = fd_budget_for(config, 2);
  EXPECT_EQ(plain.per_session, 2);
  EXPECT_EQ(spliced.per_session, 4);
  EXPECT_GT(spliced.reserve, plain.reserve) << "the idle pipes each worker keeps";
}

TEST(FdLimitTest, AHealthCheckThatCannotGetADescriptorLeavesTheServerAsItIs) {
  test::EchoServer echo;
  test::HealthEndpoint health(200);
  ProxyService service(config_with({checked_backend("a", echo.port(), health.port())}));  // fall 1
  service.start();
  ASSERT_TRUE(eventually([&] { return service.health().status(0, 0).up; }));
  const std::uint64_t transitions = service.health().status(0, 0).transitions;
  {
    SoftFdLimit limit(static_cast<rlim_t>(fd_ceiling() + 32));
    std::vector<int> hogs;
    for (int fd; (fd = ::dup(0)) >= 0;) hogs.push_back(fd);
    ASSERT_EQ(errno, EMFILE);
    const bool not_run = eventually([&] { return service.health().status(0, 0).checks_not_run >= 3; });
    const ServerHealth h = service.health().status(0, 0);
    for (int fd : hogs) ::close(fd);
    ASSERT_TRUE(not_run) << h.last_detail;
    EXPECT_TRUE(h.up) << "a check that could not run says nothing about the server";
    EXPECT_EQ(h.transitions, transitions);
    EXPECT_NE(h.last_detail.find("not run"), std::string::npos) << h.last_detail;
  }
  const std::uint64_t checks = service.health().status(0, 0).checks;
  EXPECT_TRUE(eventually([&] { return service.health().status(0, 0).checks > checks; })) << "checks run again";
  EXPECT_TRUE(service.health().status(0, 0).up);
  service.stop(0ms);
}

}  // namespace
}  // namespace pgha::proxy
