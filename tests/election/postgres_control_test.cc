// PostgresControl against real PostgreSQL 15 servers on loopback: bootstrap a primary (passwords
// enforced over TCP, roles created, checksums on), clone a replica that streams, promote it
// (timeline 2), diverge the old primary and rejoin it with pg_rewind, fence the new primary
// (demote), and a clone that overruns its deadline. When run as root (CI) every PostgreSQL tool
// goes through runuser as the postgres OS user, which is the path under test.
// Skipped when PostgreSQL 15's binaries are not installed.
#include "election/postgres_control.h"

#include <netinet/in.h>
#include <pwd.h>
#include <sys/stat.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <iterator>
#include <iostream>
#include <memory>
#include <set>
#include <thread>

#include <gtest/gtest.h>

#include "tests/support/test_servers.h"

namespace pgha::election {
namespace {

using namespace std::chrono_literals;
namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

const fs::path kBin = "/usr/lib/postgresql/15/bin";
const std::string kSuperPassword = "su'per:pw";  // a quote and a colon: conninfo, SQL and pgpass escaping
const std::string kReplPassword = "rep\\pw:x";

// A free loopback port outside the ranges other suites use (5432-5436, 2379-2580).
int free_port(std::set<int>& taken) {
  for (;;) {
    const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof addr;
    int port = 0;
    if (::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0 &&
        ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) == 0) {
      port = ntohs(addr.sin_port);
    }
    ::close(fd);
    if (port == 0 || (port >= 5432 && port <= 5436) || (port >= 2379 && port <= 2580) || taken.count(port)) continue;
    taken.insert(port);
    return port;
  }
}

bool wait_for(const std::function<bool()>& condition, std::chrono::milliseconds timeout) {
  const auto deadline = Clock::now() + timeout;
  for (;;) {
    if (condition()) return true;
    if (Clock::now() >= deadline) return false;
    std::this_thread::sleep_for(100ms);
  }
}

long long ms_since(Clock::time_point start) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - start).count();
}

// One statement over TCP with a password, as a client of the cluster would.
PgStatus tcp_query(int port, const std::string& user, const std::string& password, const std::string& sql,
                   PgRows* rows = nullptr) {
  const auto deadline = Clock::now() + 5s;
  PgConnection conn;
  PgStatus s = conn.connect({{"host", "127.0.0.1"},
                             {"port", std::to_string(port)},
                             {"user", user},
                             {"password", password},
                             {"dbname", "postgres"},
                             {"passfile", "/dev/null"}},
                            deadline);
  if (!s.ok()) return s;
  return conn.query(sql, deadline, rows);
}

std::optional<std::string> tcp_value(int port, const std::string& sql) {
  PgRows rows;
  if (!tcp_query(port, "postgres", kSuperPassword, sql, &rows).ok() || rows.empty() || rows[0].empty()) {
    return std::nullopt;
  }
  return rows[0][0];
}

class PostgresControlTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!fs::exists(kBin / "initdb")) GTEST_SKIP() << "PostgreSQL 15 not installed";
    char tmpl[] = "/tmp/pgha-pgctl-XXXXXX";
    ASSERT_NE(::mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
    ::chmod(dir_.c_str(), 0755);
    if (::geteuid() == 0) {
      const passwd* pw = ::getpwnam("postgres");
      ASSERT_NE(pw, nullptr) << "running as root needs a postgres OS user";
      ASSERT_EQ(::chown(dir_.c_str(), pw->pw_uid, pw->pw_gid), 0);
    }
  }

  void TearDown() override {
    // Stop every postmaster this test may have started, by PID, even after a failure.
    for (const auto& node : nodes_) {
      const int pid = node->postmaster_pid();
      if (pid == 0) continue;
      ::kill(pid, SIGQUIT);  // the postmaster's immediate shutdown
      if (!wait_for([&] { return node->postmaster_pid() == 0; }, 5s)) ::kill(pid, SIGKILL);  // zombie-aware
    }
    // Kept after a failure (or with PGHA_KEEP_TEST_DIR set): each node's log/ has every tool's output.
    std::cout << "[ timing ] postmasters stopped at " << ms_since(test_started_) << " ms" << std::endl;
    const bool keep = ::testing::Test::HasFailure() || std::getenv("PGHA_KEEP_TEST_DIR") != nullptr;
    std::error_code ignored;
    if (!dir_.empty() && !keep) fs::remove_all(dir_, ignored);
    if (keep) std::cerr << "kept " << dir_ << " for inspection\n";
  }

  PostgresControl& node(const std::string& name, int port, const std::function<void(AgentConfig&)>& adjust = {}) {
    AgentConfig config;
    config.scope = "pgctl-test";
    config.name = name;
    config.pg_listen = "127.0.0.1:" + std::to_string(port);
    config.pg_connect_address = config.pg_listen;
    config.data_dir = (dir_ / name / "data").string();
    config.superuser = {"postgres", kSuperPassword, {}};
    config.replication = {"replicator", kReplPassword, {}};
    config.extra_users["admin"] = {"admin", "admin", {"createrole", "createdb"}};
    config.parameters = {{"max_connections", "20"}, {"shared_buffers", "16MB"}, {"fsync", "off"},
                         {"log_min_messages", "warning"}};
    config.pg_hba = {"host replication replicator 127.0.0.1/32 scram-sha-256",
                     "host all all 127.0.0.1/32 scram-sha-256"};
    config.initdb_options = {"encoding: UTF8", "no-sync"};
    if (adjust) adjust(config);
    nodes_.push_back(std::make_unique<PostgresControl>(config));
    return *nodes_.back();
  }

  void step(const char* what, Clock::time_point started) const {
    std::cout << "[ timing ] " << what << ": " << ms_since(started) << " ms (at " << ms_since(test_started_)
              << " ms)" << std::endl;
  }

  const Clock::time_point test_started_ = Clock::now();
  fs::path dir_;
  std::set<int> ports_;
  std::vector<std::unique_ptr<PostgresControl>> nodes_;
};

TEST_F(PostgresControlTest, BootstrapCloneStreamPromoteRewindDemote) {
  const int port_a = free_port(ports_);
  const int port_b = free_port(ports_);
  PostgresControl& a = node("a", port_a);
  PostgresControl& b = node("b", port_b);
  const PgUpstream upstream_a{"127.0.0.1", port_a};
  const PgUpstream upstream_b{"127.0.0.1", port_b};

  // --- bootstrap A
  auto t = Clock::now();
  PgStatus s = a.bootstrap(60s);
  ASSERT_TRUE(s.ok()) << s.message();
  step("bootstrap A", t);
  EXPECT_TRUE(tcp_query(port_a, "postgres", kSuperPassword, "SELECT 1").ok());
  EXPECT_FALSE(tcp_query(port_a, "postgres", "wrong", "SELECT 1").ok()) << "pg_hba must not trust TCP";
  PgRows rows;
  s = tcp_query(port_a, "admin", "admin",
                "SELECT rolcreaterole, rolcreatedb, rolsuper FROM pg_roles WHERE rolname = 'admin'", &rows);
  ASSERT_TRUE(s.ok()) << s.message();
  ASSERT_EQ(rows.size(), 1u);
  EXPECT_EQ(rows[0], (PgRow{"t", "t", "f"}));
  EXPECT_EQ(tcp_value(port_a, "SHOW data_checksums"), "on");
  EXPECT_EQ(tcp_value(port_a, "SHOW wal_log_hints"), "on");
  EXPECT_EQ(tcp_value(port_a, "SHOW server_encoding"), "UTF8");
  EXPECT_EQ(tcp_value(port_a, "SELECT rolreplication FROM pg_roles WHERE rolname = 'replicator'"), "t");
  EXPECT_EQ(tcp_value(port_a, "SHOW unix_socket_directories"), a.socket_dir());
  EXPECT_FALSE(a.bootstrap(10s).ok()) << "a second bootstrap must refuse an initialized data dir";
  {
    const PgProbe p = a.probe(5s);
    EXPECT_TRUE(p.data_dir_initialized && p.running && p.accepting) << p.error;
    EXPECT_FALSE(p.in_recovery);
    EXPECT_EQ(p.timeline, 1);
    EXPECT_GT(p.wal_position, 0);
    EXPECT_TRUE(p.following.empty());
  }
  // pgpass: 0600, and nothing of the passwords in the tools' argv (the commands log shows argv).
  EXPECT_EQ(fs::status(a.pgpass_path()).permissions() & fs::perms::all, fs::perms::owner_read | fs::perms::owner_write);

  // --- clone B from A, start it as A's replica, watch it stream
  t = Clock::now();
  s = b.clone_from(upstream_a, 60s);
  ASSERT_TRUE(s.ok()) << s.message();
  step("clone B from A", t);
  t = Clock::now();
  // B streams through the slot named after it (primary_slot_name), which the leader's HA loop
  // would have made: here, by hand.
  ASSERT_TRUE(tcp_query(port_a, "postgres", kSuperPassword, "SELECT pg_create_physical_replication_slot('b', true)").ok());
  s = b.start_standby(30s, upstream_a, /*in_sync_with_upstream=*/true);
  ASSERT_TRUE(s.ok()) << s.message();
  step("start B as replica", t);
  {
    const PgProbe p = b.probe(5s);
    EXPECT_TRUE(p.running && p.accepting) << p.error;
    EXPECT_TRUE(p.in_recovery);
    EXPECT_EQ(p.following, upstream_a.address());
    LocalState local;
    p.apply_to(local, {MemberStatus{.name = "a", .conn_url = "postgres://127.0.0.1:" + std::to_string(port_a) + "/postgres"},
                       MemberStatus{.name = "b", .conn_url = "postgres://127.0.0.1:" + std::to_string(port_b) + "/postgres"}});
    EXPECT_EQ(local.following, "a");
    EXPECT_TRUE(local.in_recovery && local.postgres_running && local.data_dir_initialized);
  }
  t = Clock::now();
  EXPECT_TRUE(wait_for([&] {
    return tcp_value(port_a, "SELECT state FROM pg_stat_replication WHERE application_name = 'b'") == "streaming";
  }, 15s)) << "B never streamed from A";
  step("B streaming from A", t);
  ASSERT_TRUE(tcp_query(port_a, "postgres", kSuperPassword,
                        "CREATE TABLE t (id int PRIMARY KEY, origin text); INSERT INTO t VALUES (1, 'a')").ok());
  t = Clock::now();
  EXPECT_TRUE(wait_for([&] { return tcp_value(port_b, "SELECT origin FROM t WHERE id = 1") == "a"; }, 15s));
  step("row written on A visible on B", t);
  EXPECT_TRUE(b.probe(5s).streaming);

  // --- promote B
  t = Clock::now();
  s = b.promote(20s);
  ASSERT_TRUE(s.ok()) << s.message();
  step("promote B", t);
  {
    const PgProbe p = b.probe(5s);
    EXPECT_FALSE(p.in_recovery);
    EXPECT_EQ(p.timeline, 2);
    EXPECT_TRUE(p.following.empty());
  }
  // A is still a primary on timeline 1 (split brain, as after a fencing failure): diverge it.
  ASSERT_TRUE(tcp_query(port_a, "postgres", kSuperPassword, "INSERT INTO t VALUES (2, 'a-diverged')").ok());
  ASSERT_TRUE(tcp_query(port_b, "postgres", kSuperPassword, "INSERT INTO t VALUES (3, 'b-after-promote')").ok());

  // --- rejoin A under B with pg_rewind
  ASSERT_TRUE(tcp_query(port_b, "postgres", kSuperPassword, "SELECT pg_create_physical_replication_slot('a', true)").ok());
  t = Clock::now();
  s = a.rewind_and_follow(upstream_b, 60s);
  ASSERT_TRUE(s.ok()) << s.message();
  step("rewind A and follow B", t);
  EXPECT_EQ(s.message().rfind("rewound", 0), 0u) << "expected pg_rewind, not a re-clone: " << s.message();
  {
    const PgProbe p = a.probe(5s);
    EXPECT_TRUE(p.running && p.accepting) << p.error;
    EXPECT_TRUE(p.in_recovery);
    EXPECT_EQ(p.following, upstream_b.address());
  }
  t = Clock::now();
  EXPECT_TRUE(wait_for([&] { return tcp_value(port_a, "SELECT origin FROM t WHERE id = 3") == "b-after-promote"; }, 20s));
  step("row written on B visible on A", t);
  EXPECT_EQ(tcp_value(port_a, "SELECT count(*) FROM t WHERE id = 2"), "0") << "the diverged write must be gone";
  EXPECT_TRUE(wait_for([&] {
    return tcp_value(port_b, "SELECT state FROM pg_stat_replication WHERE application_name = 'a'") == "streaming";
  }, 15s));
  t = Clock::now();
  EXPECT_TRUE(wait_for([&] { return a.probe(5s).timeline == 2; }, 15s));
  step("A streaming from B and on timeline 2", t);
  s = a.follow(upstream_b, 10s);
  EXPECT_TRUE(s.ok()) << s.message();
  EXPECT_EQ(s.message().rfind("reloaded", 0), 0u) << "a running replica only reloads: " << s.message();
  EXPECT_EQ(a.probe(5s).following, upstream_b.address());

  // --- fence B
  t = Clock::now();
  s = b.demote(10s);
  ASSERT_TRUE(s.ok()) << s.message();
  step("demote B", t);
  EXPECT_LT(ms_since(t), 10000);
  EXPECT_FALSE(b.probe(2s).running);
  EXPECT_FALSE(tcp_query(port_b, "postgres", kSuperPassword, "SELECT 1").ok());
  EXPECT_TRUE(b.stop(PostgresControl::StopMode::kFast, 5s).ok()) << "stopping a stopped server is a no-op";

  // --- A restarts cleanly as a replica (of nobody reachable now), and stops
  t = Clock::now();
  s = a.stop(PostgresControl::StopMode::kFast, 30s);
  EXPECT_TRUE(s.ok()) << s.message();
  s = a.start_standby(30s, upstream_b, /*in_sync_with_upstream=*/false);
  EXPECT_TRUE(s.ok()) << s.message();
  step("restart A", t);
  EXPECT_FALSE(a.may_have_diverged()) << "A was a standby already";
  EXPECT_TRUE(a.probe(5s).in_recovery) << "a restart must not turn a replica into a primary";

  // --- A crashes (kill -9 of the postmaster) and starts again
  const int crashed = a.postmaster_pid();
  ASSERT_NE(crashed, 0);
  ::kill(crashed, SIGKILL);
  ASSERT_TRUE(wait_for([&] { return a.postmaster_pid() == 0; }, 5s));
  t = Clock::now();
  // The killed postmaster's children leave shortly after it; until then a new one refuses to start.
  EXPECT_TRUE(wait_for([&] { return a.start_standby(10s, upstream_b, false).ok(); }, 20s)) << "no restart after a crash";
  step("start A after kill -9", t);
  EXPECT_TRUE(a.probe(5s).in_recovery);
  t = Clock::now();
  EXPECT_TRUE(a.stop(PostgresControl::StopMode::kFast, 15s).ok());
  step("stop A", t);
  EXPECT_FALSE(a.probe(2s).running);
}

// The rule behind "a member without the lock never runs out of recovery": a primary's data dir
// started with start_standby() and no upstream (no leader known yet) comes up in recovery and is
// marked as possibly diverged; start_primary() on a standby's data dir does not end recovery by
// itself. The switchover's steps on a real server: the grace's count of busy client sessions (a
// client's open transaction counts until it commits), then the shutdown checkpoint LSN read from
// pg_controldata after a clean stop.
TEST_F(PostgresControlTest, FormerPrimaryStartsAsStandbyAndShutdownCheckpointIsRead) {
  const int port = free_port(ports_);
  PostgresControl& a = node("a", port);
  PgStatus s = a.bootstrap(60s);
  ASSERT_TRUE(s.ok()) << s.message();
  ASSERT_TRUE(tcp_query(port, "postgres", kSuperPassword, "CREATE TABLE t (id int); INSERT INTO t VALUES (1)").ok());
  EXPECT_TRUE(a.may_have_diverged()) << "a primary's data dir may hold WAL nobody else has";

  // Recency window 0: only what the sessions are doing counts. The agent's own query does not.
  int busy = -1;
  auto busy_now = [&](std::chrono::milliseconds recent) {
    busy = -1;
    const PgStatus counted = a.busy_client_sessions(recent, 5s, &busy);
    EXPECT_TRUE(counted.ok()) << counted.message();
    return busy;
  };
  EXPECT_TRUE(wait_for([&] { return busy_now(0ms) == 0; }, 5s)) << busy << " busy sessions before any client";
  {
    PgConnection client;
    const auto deadline = Clock::now() + 10s;
    s = client.connect({{"host", "127.0.0.1"}, {"port", std::to_string(port)}, {"user", "postgres"},
                        {"password", kSuperPassword}, {"dbname", "postgres"}, {"passfile", "/dev/null"}},
                       deadline);
    ASSERT_TRUE(s.ok()) << s.message();
    EXPECT_EQ(busy_now(60s), 1) << "a session that has just connected is about to send its query";
    s = client.query("BEGIN; INSERT INTO t VALUES (10)", deadline);
    ASSERT_TRUE(s.ok()) << s.message();
    EXPECT_EQ(busy_now(0ms), 1) << "a session idle in a transaction";
    s = client.query("COMMIT", deadline);
    ASSERT_TRUE(s.ok()) << s.message();
    EXPECT_EQ(busy_now(0ms), 0) << "an idle session outside a transaction";
    EXPECT_EQ(busy_now(60s), 0) << "a long-lived session between transactions is not waited for, however recent";
  }
  EXPECT_TRUE(wait_for([&] { return busy_now(60s) == 0; }, 5s)) << "a closed session is gone";

  std::int64_t lsn = 0;
  EXPECT_FALSE(a.shutdown_checkpoint_lsn(5s, &lsn).ok()) << "no shutdown checkpoint while it runs";
  const auto before = parse_lsn(tcp_value(port, "SELECT pg_current_wal_lsn()").value_or(""));
  ASSERT_TRUE(before.has_value());
  s = a.checkpoint(10s);
  ASSERT_TRUE(s.ok()) << s.message();
  s = a.stop(PostgresControl::StopMode::kFast, 30s);
  ASSERT_TRUE(s.ok()) << s.message();
  s = a.shutdown_checkpoint_lsn(5s, &lsn);
  ASSERT_TRUE(s.ok()) << s.message();
  EXPECT_GE(lsn, *before) << "the shutdown checkpoint follows every earlier write";
  EXPECT_EQ(s.message(), format_lsn(lsn));

  // No leader known: start as a standby without primary_conninfo. It must not accept writes.
  s = a.start_standby(30s, std::nullopt, /*in_sync_with_upstream=*/false);
  ASSERT_TRUE(s.ok()) << s.message();
  EXPECT_TRUE(a.probe(5s).in_recovery);
  EXPECT_FALSE(tcp_query(port, "postgres", kSuperPassword, "INSERT INTO t VALUES (2)").ok()) << "a standby took a write";
  EXPECT_TRUE(a.may_have_diverged()) << "the marker must survive the start as a standby";
  EXPECT_EQ(tcp_value(port, "SELECT pg_last_wal_replay_lsn() > '" + format_lsn(lsn) + "'"), "t")
      << "the standby replays its own WAL up to and past the shutdown checkpoint record";

  // A crash (no clean shutdown): pg_controldata must refuse to give a handover position.
  const int pid = a.postmaster_pid();
  ASSERT_NE(pid, 0);
  ::kill(pid, SIGKILL);
  ASSERT_TRUE(wait_for([&] { return a.postmaster_pid() == 0; }, 5s));
  EXPECT_FALSE(a.shutdown_checkpoint_lsn(5s, &lsn).ok()) << "a crashed server has no shutdown checkpoint";

  // The lock holder's start of a standby's data dir comes up in recovery; promote() ends it.
  EXPECT_TRUE(wait_for([&] { return a.start_primary(10s).ok(); }, 20s));
  EXPECT_TRUE(a.probe(5s).in_recovery);
  s = a.promote(30s);
  ASSERT_TRUE(s.ok()) << s.message();
  EXPECT_TRUE(tcp_query(port, "postgres", kSuperPassword, "INSERT INTO t VALUES (3)").ok());
  EXPECT_TRUE(a.stop(PostgresControl::StopMode::kFast, 30s).ok());
}

// The dynamic configuration's parameters on a running server: a reloadable one is in effect for
// new sessions, one that needs a restart shows as pending_restart, a name PostgreSQL does not
// know is left out (it would stop the next start), and the next start runs with what was applied.
TEST_F(PostgresControlTest, AppliedParametersAreReloadedAndARestartOneIsPending) {
  const int port = free_port(ports_);
  PostgresControl& a = node("a", port);
  ASSERT_TRUE(a.bootstrap(120s).ok());
  ASSERT_FALSE(a.probe(5s).pending_restart);
  std::map<std::string, std::string> parameters = a.config().parameters;
  parameters["work_mem"] = "7MB";
  parameters["max_connections"] = "30";
  parameters["no_such_setting"] = "1";
  const PgStatus applied = a.apply_parameters(parameters, false, 10s);
  ASSERT_TRUE(applied.ok()) << applied.message();
  EXPECT_NE(applied.message().find("left out: no_such_setting"), std::string::npos) << applied.message();
  EXPECT_TRUE(wait_for([&] { return tcp_value(port, "SHOW work_mem") == std::optional<std::string>("7MB"); }, 10s));
  EXPECT_TRUE(wait_for([&] { return a.probe(5s).pending_restart; }, 10s));
  EXPECT_EQ(tcp_value(port, "SHOW max_connections"), std::optional<std::string>("20"));
  ASSERT_TRUE(a.stop(LocalPostgres::StopMode::kFast, 30s).ok());
  ASSERT_TRUE(a.start_primary(60s).ok());
  EXPECT_EQ(tcp_value(port, "SHOW max_connections"), std::optional<std::string>("30"));
  EXPECT_FALSE(a.probe(5s).pending_restart);
}

// A standby configured with less than its primary ran with (a /config that lowered
// max_connections, the replica restarted first) starts with the primary's value from its control
// file, as Patroni does, and reports pending_restart; with the values equal again, it does not.
TEST_F(PostgresControlTest, StandbyStartsWithAtLeastThePrimarysRecordedSettings) {
  const int port_a = free_port(ports_);
  const int port_b = free_port(ports_);
  PostgresControl& a = node("a", port_a, [](AgentConfig& c) { c.parameters["max_connections"] = "30"; });
  PostgresControl& b = node("b", port_b);  // max_connections 20
  ASSERT_TRUE(a.bootstrap(120s).ok());
  const PgUpstream upstream_a{"127.0.0.1", port_a};
  PgStatus s = b.clone_from(upstream_a, 60s);
  ASSERT_TRUE(s.ok()) << s.message();
  s = b.start_standby(60s, upstream_a, /*in_sync_with_upstream=*/true);
  ASSERT_TRUE(s.ok()) << s.message();
  EXPECT_EQ(tcp_value(port_b, "SHOW max_connections"), std::optional<std::string>("30"));
  EXPECT_TRUE(b.probe(5s).pending_restart);
  std::map<std::string, std::string> parameters = b.config().parameters;
  parameters["max_connections"] = "30";
  ASSERT_TRUE(b.apply_parameters(parameters, false, 10s).ok());
  ASSERT_TRUE(b.stop(LocalPostgres::StopMode::kFast, 30s).ok());
  ASSERT_TRUE(b.start_standby(60s, upstream_a, /*in_sync_with_upstream=*/true).ok());
  EXPECT_EQ(tcp_value(port_b, "SHOW max_connections"), std::optional<std::string>("30"));
  EXPECT_FALSE(b.probe(5s).pending_restart);
}

// POST /reload and /restart on a real server: reload_config() rewrites the files the agent
// manages (a hand edit of pg_hba.conf goes) and has PostgreSQL read its configuration (ALTER
// SYSTEM's reloadable settings take effect; a restart-only one shows as pending_restart), and the
// restart the HA loop makes of it (stop, start) clears pending_restart under a new postmaster.
TEST_F(PostgresControlTest, ReloadRewritesManagedFilesAndARestartClearsPendingRestart) {
  const int port = free_port(ports_);
  PostgresControl& a = node("a", port);
  PgStatus s = a.bootstrap(60s);
  ASSERT_TRUE(s.ok()) << s.message();
  const PgProbe first = a.probe(5s);
  ASSERT_TRUE(first.accepting) << first.error;
  EXPECT_FALSE(first.pending_restart);

  const fs::path hba = fs::path(a.config().data_dir) / "pg_hba.conf";
  std::ofstream(hba, std::ios::app) << "host all all 0.0.0.0/0 trust\n";
  ASSERT_TRUE(tcp_query(port, "postgres", kSuperPassword, "ALTER SYSTEM SET work_mem = '7MB'").ok());
  ASSERT_TRUE(tcp_query(port, "postgres", kSuperPassword, "ALTER SYSTEM SET max_prepared_transactions = 3").ok());
  EXPECT_EQ(tcp_value(port, "SHOW work_mem"), "4MB") << "took effect before the reload";

  s = a.reload_config(10s);
  ASSERT_TRUE(s.ok()) << s.message();
  EXPECT_EQ(s.message(), "configuration files rewritten, PostgreSQL reloaded");
  std::ifstream in(hba);
  const std::string rules((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  EXPECT_EQ(rules.find("0.0.0.0/0 trust"), std::string::npos) << "the hand edit of pg_hba.conf survived the reload";
  EXPECT_TRUE(wait_for([&] { return tcp_value(port, "SHOW work_mem") == "7MB"; }, 10s)) << "not reloaded";
  EXPECT_TRUE(wait_for([&] { return a.probe(5s).pending_restart; }, 10s))
      << "a restart-only setting changed, but PostgreSQL does not report pending_restart";

  s = a.stop(PostgresControl::StopMode::kFast, 30s);
  ASSERT_TRUE(s.ok()) << s.message();
  s = a.reload_config(10s);
  ASSERT_TRUE(s.ok()) << s.message();
  EXPECT_EQ(s.message(), "configuration files rewritten; PostgreSQL is not running");
  s = a.start_primary(30s);
  ASSERT_TRUE(s.ok()) << s.message();
  const PgProbe after = a.probe(5s);
  ASSERT_TRUE(after.accepting) << after.error;
  EXPECT_FALSE(after.pending_restart);
  EXPECT_NE(after.postmaster_start_time, first.postmaster_start_time);
  EXPECT_EQ(tcp_value(port, "SHOW max_prepared_transactions"), "3");
}

TEST(LsnTest, FormatsAndParses) {
  EXPECT_EQ(format_lsn(0x5000028), "0/5000028");
  EXPECT_EQ(format_lsn((std::int64_t{0x1A} << 32) | 0xFF), "1A/FF");
  EXPECT_EQ(parse_lsn("0/5000028"), 0x5000028);
  EXPECT_EQ(parse_lsn("1a/ff"), (std::int64_t{0x1A} << 32) | 0xFF);
  EXPECT_FALSE(parse_lsn(""));
  EXPECT_FALSE(parse_lsn("5000028"));
  EXPECT_FALSE(parse_lsn("0/"));
  EXPECT_FALSE(parse_lsn("0/xyz"));
  EXPECT_FALSE(parse_lsn("123456789/0"));
}

TEST_F(PostgresControlTest, CloneThatOverrunsItsDeadlineIsKilledAndReported) {
  test::SilentServer silent;  // accepts and never answers: pg_basebackup hangs in its startup
  PostgresControl& c = node("c", free_port(ports_));
  const auto t = Clock::now();
  const PgStatus s = c.clone_from(PgUpstream{"127.0.0.1", silent.port()}, 1s);
  const auto took = ms_since(t);
  step("clone from a silent server (1 s deadline)", t);
  EXPECT_FALSE(s.ok());
  EXPECT_NE(s.message().find("timed out"), std::string::npos) << s.message();
  EXPECT_NE(s.message().find("pg_basebackup"), std::string::npos) << s.message();
  EXPECT_LT(took, 4000);
  EXPECT_FALSE(fs::exists(fs::path(c.config().data_dir) / "PG_VERSION"));
  const PgProbe p = c.probe(1s);
  EXPECT_FALSE(p.data_dir_initialized);
  EXPECT_FALSE(p.running);
}

// The agent runs as root and writes the pgpass (the passwords) into a directory the postgres OS
// user owns: a symlink planted there, at the temporary's path or at the pgpass itself, must not
// get another file overwritten, re-moded or chowned.
TEST_F(PostgresControlTest, PgpassIsNeverWrittenThroughASymlink) {
  const int closed_port = free_port(ports_);  // nothing listens: the clone fails after the pgpass
  PostgresControl& p = node("p", free_port(ports_));
  const fs::path runtime = p.runtime_dir();
  fs::create_directories(runtime);
  const fs::path victim_tmp = dir_ / "victim-tmp";
  const fs::path victim_final = dir_ / "victim-final";
  for (const fs::path& victim : {victim_tmp, victim_final}) {
    std::ofstream(victim) << "victim\n";
    ::chmod(victim.c_str(), 0644);
  }
  fs::create_symlink(victim_tmp, p.pgpass_path() + ".pgha-tmp");  // where the temporary used to be
  fs::create_symlink(victim_final, p.pgpass_path());

  const PgStatus s = p.clone_from(PgUpstream{"127.0.0.1", closed_port}, 10s);
  EXPECT_FALSE(s.ok());
  EXPECT_NE(s.message().find("pg_basebackup"), std::string::npos) << s.message();

  for (const fs::path& victim : {victim_tmp, victim_final}) {
    struct stat st {};
    ASSERT_EQ(::lstat(victim.c_str(), &st), 0);
    EXPECT_EQ(st.st_mode & 07777, 0644u) << victim;
    EXPECT_EQ(st.st_uid, ::geteuid()) << victim;
    std::ifstream in(victim);
    EXPECT_EQ(std::string(std::istreambuf_iterator<char>(in), {}), "victim\n") << victim;
  }
  struct stat st {};
  ASSERT_EQ(::lstat(p.pgpass_path().c_str(), &st), 0);
  EXPECT_TRUE(S_ISREG(st.st_mode)) << "the pgpass must be a regular file, not the planted symlink";
  EXPECT_EQ(st.st_mode & 07777, 0600u);
  if (::geteuid() == 0) {
    EXPECT_EQ(st.st_uid, ::getpwnam("postgres")->pw_uid);
  }
  std::ifstream in(p.pgpass_path());
  EXPECT_EQ(std::string(std::istreambuf_iterator<char>(in), {}),
            "*:*:*:replicator:rep\\\\pw\\:x\n*:*:*:postgres:su'per\\:pw\n");
  for (const auto& entry : fs::directory_iterator(runtime)) {
    EXPECT_NE(entry.path().filename().string().rfind(".pgpass.pgha-", 0), 0u)
        << "temporary left behind: " << entry.path();
  }
}

// A data_dir that points at a directory of other files (a typo, another service's directory)
// is never emptied for initdb or a clone. An empty directory is fine.
TEST_F(PostgresControlTest, RefusesToWipeADirectoryThatHoldsNoPostgresData) {
  const int closed_port = free_port(ports_);
  PostgresControl& w = node("w", free_port(ports_));
  const fs::path data = w.config().data_dir;
  fs::create_directories(data / "sub");
  std::ofstream(data / "important.txt") << "not PostgreSQL's\n";
  for (PgStatus s : {w.bootstrap(10s), w.clone_from(PgUpstream{"127.0.0.1", closed_port}, 10s)}) {
    EXPECT_FALSE(s.ok());
    EXPECT_NE(s.message().find("refusing to wipe data_dir " + data.string() +
                               ": it is not empty and holds no PostgreSQL data (no PG_VERSION)"),
              std::string::npos)
        << s.message();
  }
  EXPECT_TRUE(fs::exists(data / "important.txt"));
  EXPECT_TRUE(fs::exists(data / "sub"));

  // Emptied by the operator: the clone goes ahead (and fails on the closed port, not on the dir).
  fs::remove_all(data / "sub");
  fs::remove(data / "important.txt");
  const PgStatus s = w.clone_from(PgUpstream{"127.0.0.1", closed_port}, 10s);
  EXPECT_FALSE(s.ok());
  EXPECT_NE(s.message().find("pg_basebackup"), std::string::npos) << s.message();
  EXPECT_EQ(s.message().find("refusing"), std::string::npos) << s.message();
}

// pg_rewind that fails (a stand-in that exits 1, every other tool the real one): by default the
// former primary's data dir is kept and PostgreSQL left stopped, with a clear error, for a later
// attempt or the operator; with remove_data_directory_on_rewind_failure it is re-cloned. With
// use_pg_rewind off nothing is touched unless remove_data_directory_on_diverged_timelines.
TEST_F(PostgresControlTest, FailedRewindKeepsTheDataDirUnlessConfiguredToReclone) {
  const fs::path fake_bin = dir_ / "bin";
  fs::create_directories(fake_bin);
  for (const auto& entry : fs::directory_iterator(kBin)) {
    if (entry.path().filename() != "pg_rewind") fs::create_symlink(entry.path(), fake_bin / entry.path().filename());
  }
  std::ofstream(fake_bin / "pg_rewind")
      << "#!/bin/sh\necho 'pg_rewind: error: could not find common ancestor' >&2\nexit 1\n";
  ::chmod((fake_bin / "pg_rewind").c_str(), 0755);
  ::chmod(fake_bin.c_str(), 0755);

  const int port_a = free_port(ports_);
  const int port_c = free_port(ports_);
  PostgresControl& a = node("a", port_a);
  const PgUpstream upstream_a{"127.0.0.1", port_a};
  PgStatus s = a.bootstrap(60s);
  ASSERT_TRUE(s.ok()) << s.message();
  auto with_fake_rewind = [&](bool remove_on_rewind_failure, bool use_pg_rewind, bool remove_on_diverged) {
    return [=](AgentConfig& config) {
      config.bin_dir = fake_bin.string();
      config.use_pg_rewind = use_pg_rewind;
      config.remove_data_directory_on_rewind_failure = remove_on_rewind_failure;
      config.remove_data_directory_on_diverged_timelines = remove_on_diverged;
    };
  };
  PostgresControl& keep = node("c", port_c, with_fake_rewind(false, true, false));
  s = keep.clone_from(upstream_a, 60s);
  ASSERT_TRUE(s.ok()) << s.message();
  const fs::path data = keep.config().data_dir;
  std::ofstream(data / "pgha-test-marker") << "kept\n";  // gone only if the data dir is wiped

  s = keep.rewind_and_follow(upstream_a, 60s);
  EXPECT_FALSE(s.ok());
  EXPECT_NE(s.message().find("pg_rewind from " + upstream_a.address() + " failed"), std::string::npos) << s.message();
  EXPECT_NE(s.message().find("could not find common ancestor"), std::string::npos) << s.message();
  EXPECT_NE(s.message().find(data.string() + " was kept and PostgreSQL left stopped "
                                             "(postgresql.remove_data_directory_on_rewind_failure is false)"),
            std::string::npos)
      << s.message();
  EXPECT_TRUE(fs::exists(data / "pgha-test-marker"));
  EXPECT_TRUE(fs::exists(data / "PG_VERSION"));
  EXPECT_TRUE(fs::exists(data / "standby.signal")) << "a later start must start a standby";
  EXPECT_EQ(keep.postmaster_pid(), 0);

  PostgresControl& no_rewind = node("c", port_c, with_fake_rewind(false, false, false));
  s = no_rewind.rewind_and_follow(upstream_a, 60s);
  EXPECT_FALSE(s.ok());
  EXPECT_NE(s.message().find("use_pg_rewind is off and postgresql.remove_data_directory_on_diverged_timelines is "
                             "false"),
            std::string::npos)
      << s.message();
  EXPECT_TRUE(fs::exists(data / "pgha-test-marker"));

  PostgresControl& reclone = node("c", port_c, with_fake_rewind(true, true, false));
  s = reclone.rewind_and_follow(upstream_a, 60s);
  ASSERT_TRUE(s.ok()) << s.message();
  EXPECT_EQ(s.message().rfind("re-cloned: pg_rewind failed", 0), 0u) << s.message();
  EXPECT_FALSE(fs::exists(data / "pgha-test-marker")) << "a fresh copy of the leader";
  EXPECT_TRUE(reclone.probe(5s).in_recovery);
  EXPECT_TRUE(reclone.stop(PostgresControl::StopMode::kFast, 30s).ok());

  std::ofstream(data / "pgha-test-marker") << "kept\n";
  PostgresControl& diverged = node("c", port_c, with_fake_rewind(false, false, true));
  s = diverged.rewind_and_follow(upstream_a, 60s);
  ASSERT_TRUE(s.ok()) << s.message();
  EXPECT_EQ(s.message(), "re-cloned: use_pg_rewind is off");
  EXPECT_FALSE(fs::exists(data / "pgha-test-marker"));
}

TEST(PgUpstreamTest, ParsesHostPort) {
  EXPECT_EQ(PgUpstream::parse("127.0.0.1:5434")->address(), "127.0.0.1:5434");
  EXPECT_EQ(PgUpstream::parse("[::1]:6000")->host, "::1");
  EXPECT_FALSE(PgUpstream::parse("nohost"));
  EXPECT_FALSE(PgUpstream::parse("h:99999"));
  EXPECT_FALSE(PgUpstream::parse("h:12x"));
}

}  // namespace
}  // namespace pgha::election
