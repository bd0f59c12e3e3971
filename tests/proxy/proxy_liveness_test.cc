// ProxyLiveness: alive() only when every relay worker of the watched service ran the no-op of the
// previous round, so a worker stuck in a task stops the systemd watchdog's keepalives; a reload
// (watch() of the next service) keeps them going.
#include "proxy/proxy_liveness.h"

#include <future>

#include <gtest/gtest.h>

#include "proxy/proxy_service.h"
#include "tests/proxy/service_test_configs.h"
#include "tests/support/test_servers.h"

namespace pgha::proxy {
namespace {

using namespace std::chrono_literals;
using test::eventually;
using testing::backend;
using testing::config_with;

TEST(ProxyLivenessTest, AliveOnlyWhileEveryWorkerAnswers) {
  test::EchoServer echo;
  ProxyService service(config_with({backend("a", echo.port())}));  // 2 workers
  service.start();
  ASSERT_EQ(service.worker_count(), 2u);
  ProxyLiveness liveness;
  liveness.watch(&service);
  EXPECT_FALSE(liveness.alive()) << "no round was posted yet";
  EXPECT_TRUE(eventually([&] { return liveness.alive(); }));

  // Worker 1 stuck in a task: its next no-op waits behind it.
  std::promise<void> release;
  std::shared_future<void> released = release.get_future().share();
  service.worker(1).post_task([released] { released.wait(); });
  (void)liveness.alive();  // judges a round that may have been answered before the task
  for (int i = 0; i < 10; ++i) {
    std::this_thread::sleep_for(20ms);  // the period between two keepalive ticks
    EXPECT_FALSE(liveness.alive()) << "tick " << i << ": a stuck worker did not answer";
  }
  release.set_value();
  EXPECT_TRUE(eventually([&] { return liveness.alive(); }));
  service.stop(0ms);
}

TEST(ProxyLivenessTest, FollowsTheServiceAReloadStarted) {
  test::EchoServer echo;
  auto first = std::make_unique<ProxyService>(config_with({backend("a", echo.port())}));
  first->start();
  ProxyLiveness liveness;
  liveness.watch(first.get());
  ASSERT_TRUE(eventually([&] { return liveness.alive(); }));
  auto second = std::make_unique<ProxyService>(config_with({backend("a", echo.port())}), first.get());
  ListenerHandover handover = first->hand_over_listeners();
  second->start(&handover);
  liveness.watch(second.get());
  first->stop(0ms);
  first.reset();  // the round it was sent may never be answered; the next one is the second's
  (void)liveness.alive();
  EXPECT_TRUE(eventually([&] { return liveness.alive(); }));
  liveness.watch(nullptr);
  (void)liveness.alive();
  EXPECT_FALSE(liveness.alive()) << "nothing watched";
  second->stop(0ms);
}

}  // namespace
}  // namespace pgha::proxy
