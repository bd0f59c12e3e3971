// The pgha-agent binary under a service manager, without a cluster: etcd on a port nobody listens
// on and no PostgreSQL data, so every HA iteration decides "etcd unreachable" at once. A test plays
// systemd's side of the notification protocol (a real AF_UNIX datagram socket in $NOTIFY_SOCKET):
// READY=1 with the decision as STATUS, RELOADING=1 then READY=1 on SIGHUP, STOPPING=1 on SIGTERM,
// WATCHDOG=1 repeatedly with $WATCHDOG_USEC and none while the process is frozen.
#include <signal.h>
#include <stdlib.h>

#include <filesystem>
#include <fstream>

#include <gtest/gtest.h>

#include "tests/support/child_process.h"
#include "tests/support/notify_socket.h"
#include "tests/support/test_servers.h"

namespace pgha::election {
namespace {

using namespace std::chrono_literals;
namespace fs = std::filesystem;
using pgha::test::has_line;
using pgha::test::NotifySocket;
using pgha::test::read_file;
using pgha::test::value_of;

class AgentSystemdNotifyTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/pgha-agent-notify-XXXXXX";
    ASSERT_NE(::mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
    std::ofstream(dir_ / "agent.yml") << "scope: demo\n"
                                      << "name: n1\n"
                                      << "restapi:\n  listen: 127.0.0.1:" << pgha::test::free_port() << "\n"
                                      << "etcd3:\n  hosts: 127.0.0.1:1\n"
                                      << "bootstrap:\n  dcs: {ttl: 10, loop_wait: 1, retry_timeout: 2}\n"
                                      << "postgresql:\n"
                                      << "  listen: 127.0.0.1:1\n"
                                      << "  data_dir: " << (dir_ / "data").string() << "\n"
                                      << "  authentication:\n"
                                      << "    superuser: {username: postgres, password: pw}\n"
                                      << "    replication: {username: replicator, password: pw}\n";
  }
  void TearDown() override {
    std::error_code ignored;
    fs::remove_all(dir_, ignored);
  }
  std::unique_ptr<pgha::test::ChildProcess> start(std::vector<std::string> environment) {
    return std::make_unique<pgha::test::ChildProcess>(
        std::vector<std::string>{PGHA_AGENT_BIN, (dir_ / "agent.yml").string()}, log(), std::move(environment));
  }
  std::string log() const { return (dir_ / "agent.log").string(); }
  fs::path dir_;
};

TEST_F(AgentSystemdNotifyTest, ReadyReloadingReadyStopping) {
  NotifySocket manager(NotifySocket::Kind::kAbstract);
  auto agent = start({"NOTIFY_SOCKET=" + manager.address()});
  ASSERT_GT(agent->pid(), 0);
  const auto ready = manager.receive(10000ms);
  ASSERT_TRUE(ready) << read_file(log());
  EXPECT_TRUE(has_line(*ready, "READY=1")) << *ready;
  EXPECT_NE(value_of(*ready, "STATUS").find("etcd unreachable"), std::string::npos) << *ready;
  EXPECT_NE(read_file(log()).find("HA loop starting"), std::string::npos) << "READY=1 before the HA loop ran";

  ASSERT_EQ(::kill(agent->pid(), SIGHUP), 0);
  const auto reloading = manager.receive_until("RELOADING=1", 10000ms);
  ASSERT_TRUE(reloading) << read_file(log());
  EXPECT_TRUE(has_line(*reloading, "RELOADING=1")) << *reloading;
  EXPECT_FALSE(value_of(*reloading, "MONOTONIC_USEC").empty());
  const auto reloaded = manager.receive_until("READY=1", 10000ms);
  ASSERT_TRUE(reloaded) << read_file(log());
  EXPECT_TRUE(has_line(*reloaded, "READY=1")) << *reloaded;
  EXPECT_NE(read_file(log()).find("reload failed: no PostgreSQL data"), std::string::npos)
      << "READY=1 before the HA loop ran the reload:\n" << read_file(log());

  ASSERT_EQ(::kill(agent->pid(), SIGTERM), 0);
  EXPECT_TRUE(manager.receive_until("STOPPING=1", 10000ms)) << read_file(log());
  EXPECT_EQ(agent->terminate(), 0) << read_file(log());
}

TEST_F(AgentSystemdNotifyTest, WatchdogKeepalivesWhileTheLoopTurns) {
  NotifySocket manager;
  auto agent = start({"NOTIFY_SOCKET=" + manager.address(), "WATCHDOG_USEC=1000000"});
  ASSERT_TRUE(manager.receive_until("READY=1", 10000ms)) << read_file(log());
  for (int i = 0; i < 5; ++i) {
    ASSERT_TRUE(manager.receive_until("WATCHDOG=1", 1000ms)) << "keepalive " << i << "\n" << read_file(log());
  }
  ASSERT_EQ(::kill(agent->pid(), SIGSTOP), 0);
  while (manager.receive(50ms)) {
  }
  EXPECT_FALSE(manager.receive(1000ms)) << "a frozen agent sends no keepalive";
  ASSERT_EQ(::kill(agent->pid(), SIGCONT), 0);
  EXPECT_TRUE(manager.receive_until("WATCHDOG=1", 2000ms));
  EXPECT_EQ(agent->terminate(), 0) << read_file(log());
}

}  // namespace
}  // namespace pgha::election
