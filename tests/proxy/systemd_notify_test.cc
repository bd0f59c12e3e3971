// The pgha-proxy binary under a service manager: a test plays systemd's side of the notification
// protocol (a real AF_UNIX datagram socket in $NOTIFY_SOCKET) and checks what the proxy says and
// when: READY=1 only once the listener accepts connections and every server's first check has
// run (also when a check hangs until its timeout), RELOADING=1 then READY=1 around SIGHUP (also
// when the new file is refused), STOPPING=1 on SIGTERM, and WATCHDOG=1 repeatedly with
// $WATCHDOG_USEC, none when $WATCHDOG_PID names another process.
#include <signal.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

#include <gtest/gtest.h>

#include "tests/proxy/proxy_process.h"
#include "tests/support/notify_socket.h"
#include "tests/support/test_servers.h"

namespace pgha::proxy {
namespace {

using namespace std::chrono_literals;
namespace asio = boost::asio;
using asio::ip::tcp;
using test::has_line;
using test::NotifySocket;
using test::value_of;
using test::free_port;
using testing::ProxyProcess;
using test::read_file;

class SystemdNotifyTest : public ::testing::Test {
 protected:
  SystemdNotifyTest()
      : dir_(std::filesystem::temp_directory_path() /
             ("pgha-notify-" + std::to_string(::getpid()) + "-" +
              ::testing::UnitTest::GetInstance()->current_test_info()->name())) {
    std::filesystem::create_directories(dir_);
  }
  ~SystemdNotifyTest() override { std::filesystem::remove_all(dir_); }

  std::string config_path() const { return (dir_ / "proxy.yaml").string(); }
  std::string log_path() const { return (dir_ / "proxy.log").string(); }
  // One listener on `port`, one server checked over HTTP on `health_port` with `timeout`.
  void write_config(std::uint16_t port, std::uint16_t backend, std::uint16_t health_port, const char* timeout = "2s") {
    std::ofstream(config_path()) << "workers: 2\n"
                                 << "admin: { enabled: false }\n"
                                 << "listeners:\n"
                                 << "  - name: write\n"
                                 << "    bind: 127.0.0.1:" << port << "\n"
                                 << "    check: { type: http, path: /primary, port: " << health_port
                                 << ", inter: 100ms, timeout: " << timeout << " }\n"
                                 << "    servers: [{ name: pg, address: 127.0.0.1:" << backend << " }]\n";
  }
  static bool accepts(std::uint16_t port) {
    try {
      asio::io_context io;
      tcp::socket s = test::connect_blocking(io, port);
      return true;
    } catch (const std::exception&) {
      return false;
    }
  }

  std::filesystem::path dir_;
};

TEST_F(SystemdNotifyTest, ReadyOnlyOnceTheListenerAcceptsAndTheFirstCheckRan) {
  test::EchoServer backend;
  test::SilentServer hung_health;  // the first check ends only at its 800 ms timeout
  const std::uint16_t port = free_port();
  write_config(port, backend.port(), hung_health.port(), "800ms");
  NotifySocket manager(NotifySocket::Kind::kPath);
  const auto started = std::chrono::steady_clock::now();
  ProxyProcess proxy(config_path(), log_path(), {"NOTIFY_SOCKET=" + manager.address()});
  ASSERT_GT(proxy.pid(), 0);
  std::vector<std::string> seen;
  const auto ready = manager.receive_until("READY=1", 10000ms, &seen);
  const auto waited = test::elapsed_since(started);
  ASSERT_TRUE(ready) << read_file(log_path());
  EXPECT_TRUE(accepts(port)) << "READY=1 before the listener accepts";
  EXPECT_EQ(seen.size(), 1u) << "nothing before READY=1";
  EXPECT_GE(hung_health.connections_accepted(), 1);
  EXPECT_GE(waited, 700ms) << "READY=1 before the first check had ended";
  EXPECT_NE(read_file(log_path()).find("first check: failed"), std::string::npos) << read_file(log_path());
  EXPECT_EQ(value_of(*ready, "STATUS"), "1 listener(s), 0 of 1 server(s) UP, 0 session(s)");
  EXPECT_EQ(proxy.terminate(), 0);
}

TEST_F(SystemdNotifyTest, ADeadHealthPortDoesNotHoldReady) {
  test::EchoServer backend;
  test::HealthEndpoint healthy(200);
  const std::uint16_t port = free_port();
  write_config(port, backend.port(), free_port());  // nobody listens there: refused at once
  NotifySocket manager(NotifySocket::Kind::kAbstract);
  const auto started = std::chrono::steady_clock::now();
  ProxyProcess proxy(config_path(), log_path(), {"NOTIFY_SOCKET=" + manager.address()});
  const auto ready = manager.receive_until("READY=1", 10000ms);
  ASSERT_TRUE(ready) << read_file(log_path());
  EXPECT_LT(test::elapsed_since(started), 3000ms);
  EXPECT_TRUE(accepts(port));

  // With a server that passes its check, READY says it is UP.
  write_config(port, backend.port(), healthy.port());
  ASSERT_EQ(::kill(proxy.pid(), SIGHUP), 0);
  ASSERT_TRUE(manager.receive_until("READY=1", 10000ms)) << read_file(log_path());
  EXPECT_EQ(proxy.terminate(), 0);
}

TEST_F(SystemdNotifyTest, SighupSendsReloadingThenReadyAlsoWhenTheFileIsRefused) {
  test::EchoServer backend;
  test::HealthEndpoint healthy(200);
  const std::uint16_t port = free_port();
  write_config(port, backend.port(), healthy.port());
  NotifySocket manager(NotifySocket::Kind::kAbstract);
  ProxyProcess proxy(config_path(), log_path(), {"NOTIFY_SOCKET=" + manager.address()});
  const auto first = manager.receive_until("READY=1", 10000ms);
  ASSERT_TRUE(first) << read_file(log_path());
  EXPECT_EQ(value_of(*first, "STATUS"), "1 listener(s), 1 of 1 server(s) UP, 0 session(s)");

  timespec before{};
  ::clock_gettime(CLOCK_MONOTONIC, &before);
  ASSERT_EQ(::kill(proxy.pid(), SIGHUP), 0);
  const auto reloading = manager.receive(10000ms);
  ASSERT_TRUE(reloading) << read_file(log_path());
  EXPECT_TRUE(has_line(*reloading, "RELOADING=1")) << *reloading;
  const std::uint64_t stamp = std::stoull(value_of(*reloading, "MONOTONIC_USEC"));
  EXPECT_GE(stamp, static_cast<std::uint64_t>(before.tv_sec) * 1'000'000u + static_cast<std::uint64_t>(before.tv_nsec) / 1000u);
  const auto reloaded = manager.receive(10000ms);
  ASSERT_TRUE(reloaded) << read_file(log_path());
  EXPECT_TRUE(has_line(*reloaded, "READY=1")) << *reloaded;
  EXPECT_EQ(value_of(*reloaded, "STATUS").find("reload refused"), std::string::npos) << *reloaded;

  std::ofstream(config_path()) << "listeners:\n  - name: write\n    bind: 127.0.0.1:" << port << "\n    severs: []\n";
  ASSERT_EQ(::kill(proxy.pid(), SIGHUP), 0);
  const auto refusing = manager.receive(10000ms);
  ASSERT_TRUE(refusing);
  EXPECT_TRUE(has_line(*refusing, "RELOADING=1")) << *refusing;
  const auto refused = manager.receive(10000ms);
  ASSERT_TRUE(refused);
  EXPECT_TRUE(has_line(*refused, "READY=1")) << *refused;
  EXPECT_EQ(value_of(*refused, "STATUS").rfind("reload refused: config error: " + config_path() + ":4:", 0), 0u)
      << *refused;
  EXPECT_TRUE(accepts(port)) << "the running configuration stays";

  ASSERT_EQ(::kill(proxy.pid(), SIGTERM), 0);
  const auto stopping = manager.receive(10000ms);
  ASSERT_TRUE(stopping);
  EXPECT_TRUE(has_line(*stopping, "STOPPING=1")) << *stopping;
  EXPECT_EQ(proxy.terminate(), 0);
}

TEST_F(SystemdNotifyTest, WatchdogKeepalivesArriveRepeatedlyWithWatchdogUsec) {
  test::EchoServer backend;
  test::HealthEndpoint healthy(200);
  const std::uint16_t port = free_port();
  write_config(port, backend.port(), healthy.port());
  NotifySocket manager;
  ProxyProcess proxy(config_path(), log_path(), {"NOTIFY_SOCKET=" + manager.address(), "WATCHDOG_USEC=1000000"});
  ASSERT_TRUE(manager.receive_until("READY=1", 10000ms)) << read_file(log_path());
  for (int i = 0; i < 5; ++i) {
    // Every 250 ms; each within the interval, as systemd requires.
    ASSERT_TRUE(manager.receive_until("WATCHDOG=1", 1000ms)) << "keepalive " << i << "\n" << read_file(log_path());
  }
  // They go on through a reload.
  ASSERT_EQ(::kill(proxy.pid(), SIGHUP), 0);
  std::vector<std::string> seen;
  ASSERT_TRUE(manager.receive_until("READY=1", 10000ms, &seen));
  for (int i = 0; i < 3; ++i) ASSERT_TRUE(manager.receive_until("WATCHDOG=1", 1000ms)) << "after the reload, " << i;
  // Frozen (SIGSTOP): none; thawed: again.
  ASSERT_EQ(::kill(proxy.pid(), SIGSTOP), 0);
  while (manager.receive(50ms)) {
  }
  EXPECT_FALSE(manager.receive(1000ms)) << "a stopped proxy sends no keepalive";
  ASSERT_EQ(::kill(proxy.pid(), SIGCONT), 0);
  EXPECT_TRUE(manager.receive_until("WATCHDOG=1", 2000ms));
  EXPECT_EQ(proxy.terminate(), 0);
}

TEST_F(SystemdNotifyTest, NoKeepaliveForAnotherProcesssWatchdog) {
  test::EchoServer backend;
  test::HealthEndpoint healthy(200);
  write_config(free_port(), backend.port(), healthy.port());
  NotifySocket manager;
  ProxyProcess proxy(config_path(), log_path(),
                     {"NOTIFY_SOCKET=" + manager.address(), "WATCHDOG_USEC=200000", "WATCHDOG_PID=1"});
  ASSERT_TRUE(manager.receive_until("READY=1", 10000ms)) << read_file(log_path());
  EXPECT_FALSE(manager.receive_until("WATCHDOG=1", 600ms));
  EXPECT_EQ(proxy.terminate(), 0);
}

}  // namespace
}  // namespace pgha::proxy
