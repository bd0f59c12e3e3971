// HaLoop's planned work with the fakes: a restart runs on the HA thread and a leader keeps its
// lock across it (the lease refreshed around the stop and the start, PostgreSQL back as the
// primary, /primary answering 503 meanwhile); the restart's conditions; a scheduled restart fires
// at its time and not before, and a cancelled one never; a reinitialize is refused on the leader
// and on a replica stops, wipes and clones from the leader; a reload reaches PostgreSQL; on_restart
// and on_reload fire.
#include "election/ha_loop.h"

#include <future>
#include <thread>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "tests/election/ha_loop_fakes.h"
#include "tests/election/hook_scripts.h"

namespace pgha::election {
namespace {

using namespace std::chrono_literals;
using test::contains;
using test::FakeDcs;
using test::FakePeers;
using test::FakePostgres;
using Clock = std::chrono::steady_clock;
using Millis = std::chrono::milliseconds;

constexpr std::int64_t kWal = 0x5000000;


// The calls in `list` that are among `wanted`, in order.
std::vector<std::string> only(const std::vector<std::string>& list, const std::vector<std::string>& wanted) {
  std::vector<std::string> out;
  for (const std::string& call : list) {
    if (contains(wanted, call)) out.push_back(call);
  }
  return out;
}

// n2 is the agent under test; n1 (port 5434) and n3 (5436) are the other members.
class PlannedWorkTest : public ::testing::Test {
 protected:
  PlannedWorkTest() : keys_("", "postgres") {
    config_.scope = "postgres";
    config_.name = "n2";
    config_.ttl = std::chrono::seconds(4);
    config_.loop_wait = std::chrono::seconds(1);
    config_.retry_timeout = 1500ms;
    config_.maximum_lag_on_failover = 1048576;
    config_.pg_listen = "127.0.0.1:5435";
    config_.rest_listen = "127.0.0.1:8009";
    pg_.may_be_writable = [this] { return dcs_.leads(keys_.leader(), "n2"); };
    others_lease_ = dcs_.new_lease();
    dcs_.set(keys_.initialize(), "postgres");
  }
  ~PlannedWorkTest() override { loop_.reset(); }  // the loop uses hooks_ until it goes

  HaLoop& loop() {
    if (!loop_) loop_ = std::make_unique<HaLoop>(config_, dcs_, pg_, peers_, nullptr, SwitchoverTimings{}, hooks_.get());
    return *loop_;
  }
  void set_member(const std::string& name, int port, const std::string& role, const std::string& state) {
    MemberStatus m;
    m.name = name;
    m.role = role;
    m.state = state;
    m.conn_url = "postgres://127.0.0.1:" + std::to_string(port) + "/postgres";
    m.api_url = "http://127.0.0.1:" + std::to_string(port + 2574) + "/patroni";
    m.wal_position = kWal - 100;
    m.timeline = 1;
    dcs_.set(keys_.member(name), encode_member(m), others_lease_);
  }
  void make_n2_leader() {
    pg_.running = true;
    set_member("n1", 5434, "replica", "streaming");
    set_member("n3", 5436, "replica", "streaming");
    for (int i = 0; i < 5 && !dcs_.leads(keys_.leader(), "n2"); ++i) loop().step();
    ASSERT_TRUE(dcs_.leads(keys_.leader(), "n2"));
    loop().step();
    ASSERT_TRUE(loop().status()->is_primary());
    pg_.calls.clear();
  }
  void make_n2_replica_of_n1() {
    pg_.running = pg_.in_recovery = pg_.standby_signal = true;
    pg_.following = "127.0.0.1:5434";
    set_member("n1", 5434, "primary", "running");
    dcs_.set(keys_.leader(), "n1", others_lease_);
    loop().step();
    ASSERT_TRUE(loop().status()->is_replica());
    pg_.calls.clear();
  }
  // A REST thread's request; the test thread is the HA thread and steps the loop until the
  // answer comes (bounded).
  SwitchoverResult on_rest_thread(std::function<SwitchoverResult()> request) {
    auto answer = std::async(std::launch::async, std::move(request));
    const auto deadline = Clock::now() + 10s;
    while (answer.wait_for(5ms) != std::future_status::ready && Clock::now() < deadline) loop().step();
    EXPECT_EQ(answer.wait_for(1s), std::future_status::ready);
    return answer.get();
  }
  SwitchoverResult restart(RestartRequest request = {}) {
    return on_rest_thread([this, request] { return loop().request_restart(request); });
  }
  std::string member_key() { return dcs_.get(keys_.member("n2")).value_or(FakeDcs::Entry{}).value; }

  AgentConfig config_;
  KeyLayout keys_;
  FakeDcs dcs_;
  FakePostgres pg_;
  FakePeers peers_;
  std::int64_t others_lease_ = 0;
  test::HookScripts scripts_;
  std::unique_ptr<PostgresCallbacks> hooks_;
  std::unique_ptr<HaLoop> loop_;
};

TEST_F(PlannedWorkTest, LeaderRestartsOnTheHaThreadKeepingItsLockAndComesBackAsThePrimary) {
  make_n2_leader();
  const auto ha_thread = std::this_thread::get_id();
  const int starts_before = pg_.starts;
  bool off_thread = false;
  bool lock_lost = false;
  bool primary_answered_during = false;
  int keepalives_at_stop = 0;
  int keepalives_at_start = 0;
  pg_.on_call = [&](const std::string& call) {
    off_thread = off_thread || std::this_thread::get_id() != ha_thread;
    lock_lost = lock_lost || !dcs_.leads(keys_.leader(), "n2");
    if (call == "stop fast") {
      keepalives_at_stop = dcs_.keepalives();
      primary_answered_during = loop().status()->is_primary();
    }
    if (call == "start_primary") keepalives_at_start = dcs_.keepalives();
  };
  const SwitchoverResult result = restart();
  EXPECT_EQ(result.http_status, 200) << result.message;
  EXPECT_EQ(result.message, "restarted successfully");
  EXPECT_FALSE(off_thread) << "PostgreSQL was driven from another thread than the HA loop's";
  EXPECT_FALSE(lock_lost) << "the leader key was lost during the restart";
  EXPECT_FALSE(primary_answered_during) << "/primary answered 200 while PostgreSQL was being stopped";
  EXPECT_GT(keepalives_at_start, keepalives_at_stop) << "the lease was not refreshed between the stop and the start";
  EXPECT_EQ(only(pg_.calls, {"checkpoint", "stop fast", "start_primary"}),
            (std::vector<std::string>{"checkpoint", "stop fast", "start_primary"}));
  EXPECT_FALSE(contains(pg_.calls, "start_standby -"));
  EXPECT_EQ(pg_.starts, starts_before + 1);
  EXPECT_TRUE(pg_.writable());
  loop().step();
  EXPECT_TRUE(dcs_.leads(keys_.leader(), "n2"));
  EXPECT_TRUE(loop().status()->is_primary());
  EXPECT_TRUE(pg_.violations.empty()) << pg_.violations.front();
}

TEST_F(PlannedWorkTest, ALeaseLostWhileStoppedLeavesTheStartToTheOrdinaryRules) {
  make_n2_leader();
  pg_.on_call = [&](const std::string& call) {
    if (call == "stop fast") dcs_.expire(dcs_.get(keys_.leader())->lease);
  };
  const SwitchoverResult result = restart();
  EXPECT_EQ(result.http_status, 503);
  EXPECT_NE(result.message.find("lease was lost"), std::string::npos) << result.message;
  EXPECT_FALSE(contains(pg_.calls, "start_primary"));
  pg_.on_call = nullptr;
  for (int i = 0; i < 3; ++i) loop().step();
  EXPECT_FALSE(pg_.writable() && !dcs_.leads(keys_.leader(), "n2"));
  EXPECT_TRUE(pg_.violations.empty()) << pg_.violations.front();
}

TEST_F(PlannedWorkTest, ALeaderWhoseLeaseCannotBeRefreshedDoesNotStop) {
  make_n2_leader();
  dcs_.fail_keepalive = 1000;  // etcd stops answering keepalives
  const SwitchoverResult result = on_rest_thread([this] {
    const SwitchoverResult r = loop().request_restart({});
    dcs_.fail_keepalive = 0;
    return r;
  });
  EXPECT_EQ(result.http_status, 503);
  EXPECT_EQ(result.message, "restart failed, nothing was stopped: the leader lease could not be refreshed");
  EXPECT_FALSE(contains(pg_.calls, "stop fast")) << ::testing::PrintToString(pg_.calls);
  EXPECT_TRUE(pg_.writable());
}

TEST_F(PlannedWorkTest, ConditionsPendingRestartRoleAndVersionAreCheckedBeforeAnythingStops) {
  make_n2_leader();
  RestartRequest pending;
  pending.restart_pending = true;
  SwitchoverResult result = restart(pending);
  EXPECT_EQ(result.http_status, 503);
  EXPECT_EQ(result.message, "restart conditions are not satisfied");
  RestartRequest replica_only;
  replica_only.role = "replica";
  EXPECT_EQ(restart(replica_only).message, "restart conditions are not satisfied");
  RestartRequest older_than_15_4;
  older_than_15_4.postgres_version_num = 150004;  // the fake runs 15.4
  EXPECT_EQ(restart(older_than_15_4).message, "restart conditions are not satisfied");
  EXPECT_FALSE(contains(pg_.calls, "stop fast")) << ::testing::PrintToString(pg_.calls);

  pg_.pending_restart = true;
  loop().step();
  pending.role = "primary";
  result = restart(pending);
  EXPECT_EQ(result.http_status, 200) << result.message;
  EXPECT_TRUE(contains(pg_.calls, "stop fast"));
  loop().step();
  EXPECT_FALSE(loop().status()->pending_restart) << "pending_restart is still reported after the restart";
  EXPECT_EQ(member_key().find("pending_restart"), std::string::npos) << member_key();
}

TEST_F(PlannedWorkTest, ReplicaRestartsAsAStandbyOfItsUpstream) {
  make_n2_replica_of_n1();
  const SwitchoverResult result = restart();
  EXPECT_EQ(result.http_status, 200) << result.message;
  EXPECT_EQ(only(pg_.calls, {"stop fast", "start_standby 127.0.0.1:5434 in_sync", "start_primary", "checkpoint"}),
            (std::vector<std::string>{"stop fast", "start_standby 127.0.0.1:5434 in_sync"}));
  EXPECT_TRUE(pg_.in_recovery);
  EXPECT_TRUE(pg_.violations.empty()) << pg_.violations.front();
}

TEST_F(PlannedWorkTest, RestartIsAllowedInMaintenanceModeButAScheduleIsNot) {
  make_n2_leader();
  dcs_.set(keys_.config(), R"({"pause": true})");
  loop().step();
  RestartRequest later;
  later.schedule = std::chrono::system_clock::now() + 1h;
  const SwitchoverResult refused = loop().request_restart(later);
  EXPECT_EQ(refused.http_status, 500);
  EXPECT_EQ(refused.message, "Can't schedule restart in the paused state");
  const SwitchoverResult now = restart();
  EXPECT_EQ(now.http_status, 200) << now.message;
  EXPECT_TRUE(contains(pg_.calls, "start_primary"));
  EXPECT_TRUE(pg_.writable());
}

TEST_F(PlannedWorkTest, ScheduledRestartFiresAtItsTimeAndNotBefore) {
  make_n2_leader();
  RestartRequest at;
  at.schedule = std::chrono::system_clock::now() + 700ms;
  SwitchoverResult result = loop().request_restart(at);
  EXPECT_EQ(result.http_status, 202);
  EXPECT_EQ(result.message, "Restart scheduled");
  ASSERT_TRUE(loop().status()->scheduled_restart) << "GET /patroni does not show the schedule at once";
  result = loop().request_restart(at);
  EXPECT_EQ(result.http_status, 409);
  EXPECT_EQ(result.message, "Another restart is already scheduled");

  std::optional<std::chrono::system_clock::time_point> stopped_at;
  pg_.on_call = [&](const std::string& call) {
    if (call == "stop fast" && !stopped_at) stopped_at = std::chrono::system_clock::now();
  };
  Millis delay = loop().step();
  EXPECT_FALSE(stopped_at);
  // In the member key as Patroni keeps it there, with the postmaster's start time it was scheduled under.
  const nlohmann::json published = nlohmann::json::parse(member_key());
  ASSERT_TRUE(published.contains("scheduled_restart")) << member_key();
  EXPECT_EQ(published["scheduled_restart"]["schedule"], format_iso8601(*at.schedule));
  EXPECT_EQ(published["scheduled_restart"]["postmaster_start_time"], "start 0");
  ASSERT_TRUE(loop().status()->scheduled_restart);
  // The loop sleeps no longer than until the schedule (loop_wait is 1 s).
  EXPECT_LE(delay, 701ms);
  const auto deadline = Clock::now() + 5s;
  while (!stopped_at && Clock::now() < deadline) {
    std::this_thread::sleep_for(std::min<Millis>(delay, 100ms));  // the time of the schedule, as the loop would
    delay = loop().step();
  }
  ASSERT_TRUE(stopped_at) << "the scheduled restart did not run";
  EXPECT_GE(*stopped_at, *at.schedule) << "the scheduled restart ran before its time";
  EXPECT_TRUE(contains(pg_.calls, "start_primary"));
  EXPECT_TRUE(dcs_.leads(keys_.leader(), "n2"));
  loop().step();
  EXPECT_EQ(member_key().find("scheduled_restart"), std::string::npos) << member_key();
  EXPECT_FALSE(loop().status()->scheduled_restart);
  EXPECT_EQ(loop().cancel_scheduled_restart().http_status, 404);
}

TEST_F(PlannedWorkTest, ACancelledScheduledRestartNeverRuns) {
  make_n2_leader();
  RestartRequest at;
  at.schedule = std::chrono::system_clock::now() + 300ms;
  ASSERT_EQ(loop().request_restart(at).http_status, 202);
  loop().step();
  SwitchoverResult result = loop().cancel_scheduled_restart();
  EXPECT_EQ(result.http_status, 200);
  EXPECT_EQ(result.message, "scheduled restart deleted");
  EXPECT_FALSE(loop().status()->scheduled_restart);
  result = loop().cancel_scheduled_restart();
  EXPECT_EQ(result.http_status, 404);
  EXPECT_EQ(result.message, "no restarts are scheduled");
  loop().step();
  EXPECT_EQ(member_key().find("scheduled_restart"), std::string::npos);
  const auto past_it = Clock::now() + 600ms;
  while (Clock::now() < past_it) {
    loop().step();
    std::this_thread::sleep_for(50ms);
  }
  EXPECT_FALSE(contains(pg_.calls, "stop fast")) << ::testing::PrintToString(pg_.calls);
}

TEST_F(PlannedWorkTest, ARestartSinceTheScheduleCancelsIt) {
  make_n2_leader();
  RestartRequest at;
  at.schedule = std::chrono::system_clock::now() + 300ms;
  ASSERT_EQ(loop().request_restart(at).http_status, 202);
  ASSERT_EQ(restart().http_status, 200);
  pg_.calls.clear();
  const auto past_it = Clock::now() + 600ms;
  while (Clock::now() < past_it) {
    loop().step();
    std::this_thread::sleep_for(50ms);
  }
  EXPECT_FALSE(contains(pg_.calls, "stop fast")) << ::testing::PrintToString(pg_.calls);
  EXPECT_EQ(loop().cancel_scheduled_restart().http_status, 404);
}

TEST_F(PlannedWorkTest, ReinitializeIsRefusedOnTheLeaderAndWithoutOne) {
  make_n2_leader();
  SwitchoverResult result = loop().request_reinitialize(false);
  EXPECT_EQ(result.http_status, 503);
  EXPECT_EQ(result.message, "I am the leader, can not reinitialize");
  result = loop().request_reinitialize(true);
  EXPECT_EQ(result.message, "I am the leader, can not reinitialize");
  EXPECT_FALSE(contains(pg_.calls, "clone_from 127.0.0.1:5434"));
}

TEST_F(PlannedWorkTest, ReinitializeWithoutALeaderIsRefused) {
  config_.nofailover = true;  // n2 does not take over meanwhile
  make_n2_replica_of_n1();
  dcs_.expire(others_lease_);  // n1's lease runs out with its keys
  loop().step();
  const SwitchoverResult result = loop().request_reinitialize(false);
  EXPECT_EQ(result.http_status, 503);
  EXPECT_EQ(result.message, "Cluster has no leader, can not reinitialize");
  EXPECT_FALSE(contains(pg_.calls, "stop immediate"));
}

TEST_F(PlannedWorkTest, ReinitializeStopsWipesAndClonesFromTheLeaderOnTheHaThread) {
  make_n2_replica_of_n1();
  const auto ha_thread = std::this_thread::get_id();
  bool off_thread = false;
  pg_.on_call = [&](const std::string&) { off_thread = off_thread || std::this_thread::get_id() != ha_thread; };
  const SwitchoverResult result = on_rest_thread([this] { return loop().request_reinitialize(false); });
  EXPECT_EQ(result.http_status, 200);
  EXPECT_EQ(result.message, "reinitialize started");
  EXPECT_FALSE(off_thread);
  EXPECT_EQ(only(pg_.calls, {"stop immediate", "clone_from 127.0.0.1:5434", "start_standby 127.0.0.1:5434 in_sync"}),
            (std::vector<std::string>{"stop immediate", "clone_from 127.0.0.1:5434",
                                      "start_standby 127.0.0.1:5434 in_sync"}));
  loop().step();
  EXPECT_TRUE(loop().status()->is_replica());
  EXPECT_TRUE(pg_.violations.empty()) << pg_.violations.front();
}

TEST_F(PlannedWorkTest, ReloadReachesPostgresAndOnRestartAndOnReloadFire) {
  const std::string cb = scripts_.recorder("cb.sh", "events");
  for (const char* event : {"on_restart", "on_reload"}) config_.callbacks[event] = {cb};
  PostgresCallbacksOptions options;
  options.log_path = scripts_.path("callbacks.log");
  options.run_as = "";
  hooks_ = std::make_unique<PostgresCallbacks>(config_, options);
  make_n2_leader();

  const SwitchoverResult reload = loop().request_reload();
  EXPECT_EQ(reload.http_status, 202);
  EXPECT_EQ(reload.message, "reload scheduled");
  loop().step();
  EXPECT_EQ(pg_.reloads, 1);
  ASSERT_TRUE(scripts_.wait_lines("events", 1));
  EXPECT_EQ(scripts_.lines("events").back(), "on_reload primary postgres");

  ASSERT_EQ(restart().http_status, 200);
  loop().step();  // the callback fires once PostgreSQL answers again
  ASSERT_TRUE(scripts_.wait_lines("events", 2));
  EXPECT_EQ(scripts_.lines("events").back(), "on_restart primary postgres");
  ASSERT_TRUE(hooks_->wait_idle(5s));
  EXPECT_EQ(scripts_.lines("events").size(), 2u);
}

}  // namespace
}  // namespace pgha::election
