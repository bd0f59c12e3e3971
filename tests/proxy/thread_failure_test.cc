// A thread whose loop fails ends the process with kThreadFailureExitStatus instead of leaving it
// half running: a relay worker (its SO_REUSEPORT acceptor would keep taking clients nobody
// serves) and a health check loop (its server's state would freeze). Death tests: each runs in a
// child process.
#include "proxy/thread_failure.h"

#include <gtest/gtest.h>
#include <spdlog/sinks/stdout_sinks.h>
#include <spdlog/spdlog.h>

#include "proxy/health_monitor.h"
#include "proxy/worker.h"
#include "tests/proxy/service_test_configs.h"
#include "tests/support/test_servers.h"

namespace pgha::proxy {
namespace {

using namespace std::chrono_literals;
namespace asio = boost::asio;
using asio::ip::tcp;
using testing::backend;
using testing::checked_backend;
using testing::config_with;

// Runs `body`, then waits long enough for a failure to end the process; exits 0 if none did.
// The logs go to stderr, where the death test looks for the reason.
template <typename Body>
void run_and_wait(Body body) {
  spdlog::set_default_logger(spdlog::stderr_logger_mt("stderr"));
  body();
  std::this_thread::sleep_for(10s);
  std::_Exit(0);
}

TEST(ThreadFailureDeathTest, AWorkerWhoseLoopThrowsEndsTheProcess) {
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  EXPECT_EXIT(run_and_wait([] {
                // Static: they live until the process exits, as the worker's thread uses them.
                static test::EchoServer echo;
                static const ProxyConfig config = config_with({backend("a", echo.port())});
                static SessionLimit process_sessions;
                static ListenerState listener(
                    config.listeners[0], {tcp::endpoint(asio::ip::make_address("127.0.0.1"), echo.port())},
                    process_sessions);
                auto snapshot = std::make_shared<HealthSnapshot>();
                snapshot->up = {{1}};
                snapshot->shut = {{0}};
                static Worker worker(0, {&listener}, snapshot);
                worker.bind();
                worker.start();
                worker.post_task([] { throw std::runtime_error("injected failure"); });
              }),
              ::testing::ExitedWithCode(kThreadFailureExitStatus), "worker 0 failed: injected failure");
}

TEST(ThreadFailureDeathTest, AHealthCheckLoopThatThrowsEndsTheProcess) {
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  EXPECT_EXIT(run_and_wait([] {
                static test::EchoServer echo;
                static test::HealthEndpoint health(200);
                static const ProxyConfig config = config_with({checked_backend("a", echo.port(), health.port())});
                // The transition to UP publishes a snapshot: the publisher fails inside the loop.
                static HealthMonitor monitor(config, [](HealthSnapshotPtr) { throw std::runtime_error("injected failure"); });
                monitor.start();
              }),
              ::testing::ExitedWithCode(kThreadFailureExitStatus), "health check loop of write/a failed: injected failure");
}

}  // namespace
}  // namespace pgha::proxy
