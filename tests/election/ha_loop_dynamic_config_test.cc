// HaLoop applying the dynamic configuration (/config) at run time, with the in-memory etcd and the
// fake PostgreSQL: loop_wait changes the step delay; a ttl change grants a lease of the new ttl,
// moves the leader key onto it, and the fencing deadline always follows the lease that holds the
// key (never the ttl asked for); synchronous mode turned on, off (the leader deletes /sync before
// synchronous_standby_names goes) and on again; postgresql.parameters applied once per change,
// the local file's winning.
#include "election/ha_loop.h"

#include <gtest/gtest.h>

#include "tests/election/ha_loop_fakes.h"

namespace pgha::election {
namespace {

using namespace std::chrono_literals;
using test::FakeDcs;
using test::FakePeers;
using test::FakePostgres;
using Clock = std::chrono::steady_clock;
using Millis = std::chrono::milliseconds;

constexpr std::int64_t kWal = 0x5000000;

// n2 is the agent under test, leading a primary; n1 and n3 are its replicas.
class HaLoopDynamicConfigTest : public ::testing::Test {
 protected:
  HaLoopDynamicConfigTest() : keys_("/service", "postgres") {
    config_.scope = "postgres";
    config_.name = "n2";
    config_.ttl = 4s;
    config_.loop_wait = 1s;
    config_.retry_timeout = 1500ms;
    config_.pg_listen = "127.0.0.1:5435";
    config_.rest_listen = "127.0.0.1:8009";
    others_lease_ = dcs_.new_lease();
    dcs_.set(keys_.initialize(), "postgres");
  }

  HaLoop& loop() {
    if (!loop_) loop_ = std::make_unique<HaLoop>(config_, dcs_, pg_, peers_);
    return *loop_;
  }
  void set_replica(const std::string& name, int port) {
    MemberStatus m;
    m.name = name;
    m.role = "replica";
    m.state = "streaming";
    m.conn_url = "postgres://127.0.0.1:" + std::to_string(port) + "/postgres";
    m.api_url = "http://127.0.0.1:" + std::to_string(port + 2574) + "/patroni";
    m.wal_position = kWal - 100;
    m.timeline = 1;
    dcs_.set(keys_.member(name), encode_member(m), others_lease_);
  }
  void make_n2_leader() {
    pg_.running = true;
    set_replica("n1", 5434);
    set_replica("n3", 5436);
    for (int i = 0; i < 5 && !dcs_.leads(keys_.leader(), "n2"); ++i) loop().step();
    ASSERT_TRUE(dcs_.leads(keys_.leader(), "n2"));
    loop().step();
    ASSERT_TRUE(loop().status()->is_primary());
  }
  std::int64_t leader_lease() const { return dcs_.get(keys_.leader())->lease; }
  std::int64_t member_lease() const { return dcs_.get(keys_.member("n2"))->lease; }
  // How long from now the published status may still say "primary": the fencing deadline.
  Millis fencing_in() const {
    return std::chrono::duration_cast<Millis>(loop_->status()->lock_valid_until - Clock::now());
  }
  std::string sync_key() const {
    const auto kv = dcs_.get(keys_.sync());
    return kv ? kv->value : "absent";
  }

  AgentConfig config_;
  KeyLayout keys_;
  FakeDcs dcs_;
  FakePostgres pg_;
  FakePeers peers_;
  std::int64_t others_lease_ = 0;
  std::unique_ptr<HaLoop> loop_;
};

TEST_F(HaLoopDynamicConfigTest, LoopWaitFromConfigSetsTheStepDelayAndABadValueKeepsTheLastGoodOne) {
  make_n2_leader();
  EXPECT_EQ(loop().step(), 1000ms) << "the local loop_wait";
  dcs_.set(keys_.config(), R"({"loop_wait": 0.5})");
  EXPECT_EQ(loop().step(), 500ms);
  dcs_.set(keys_.config(), R"({"loop_wait": "soon"})");
  EXPECT_EQ(loop().step(), 500ms) << "a bad value keeps the one in effect";
  dcs_.set(keys_.config(), R"({"loop_wait": 3})");
  EXPECT_EQ(loop().step(), 500ms) << "3 + 2*1.5 > ttl 4: refused as a whole";
  dcs_.set(keys_.config(), R"({"loop_wait": 0.25, "retry_timeout": 1})");
  EXPECT_EQ(loop().step(), 250ms);
  dcs_.erase(keys_.config());
  EXPECT_EQ(loop().step(), 1000ms) << "without /config, the local value again";
  EXPECT_TRUE(dcs_.leads(keys_.leader(), "n2"));
}

// A longer ttl: a lease of it is granted at once, the leader key moves onto it (the leader never
// lets go of the lock), the old lease is revoked at the next iteration, and the fencing deadline
// (and so /primary) follows the new lease.
TEST_F(HaLoopDynamicConfigTest, TtlChangeMovesTheLeaderKeyOntoALeaseOfTheNewTtl) {
  make_n2_leader();
  const std::int64_t old_lease = leader_lease();
  EXPECT_LE(fencing_in(), 3000ms) << "ttl 4 less the 1 s margin";
  dcs_.set(keys_.config(), R"({"ttl": 20, "loop_wait": 2, "retry_timeout": 5})");
  EXPECT_EQ(loop().step(), 2000ms);
  EXPECT_EQ(dcs_.granted_ttls().back(), 20);
  EXPECT_NE(leader_lease(), old_lease);
  EXPECT_TRUE(dcs_.leads(keys_.leader(), "n2"));
  EXPECT_EQ(member_lease(), leader_lease());
  EXPECT_GT(fencing_in(), 17000ms);
  EXPECT_LE(fencing_in(), 19000ms);
  loop().step();
  EXPECT_EQ(dcs_.revoked(), std::vector<std::int64_t>{old_lease});
  EXPECT_TRUE(loop().status()->is_primary());

  // Shorter again: the fencing deadline is the new, shorter lease's at once.
  dcs_.set(keys_.config(), R"({"ttl": 4, "loop_wait": 1, "retry_timeout": 1.5})");
  loop().step();
  EXPECT_EQ(dcs_.granted_ttls().back(), 4);
  EXPECT_TRUE(dcs_.leads(keys_.leader(), "n2"));
  EXPECT_LE(fencing_in(), 3000ms);
  EXPECT_TRUE(pg_.violations.empty());
}

// Until a lease of the new ttl is held, the old lease decides: a longer loop_wait and
// retry_timeout wait for it (they would outlast the lease held), and the fencing deadline stays
// the old lease's.
TEST_F(HaLoopDynamicConfigTest, LongerTimingWaitsForALeaseOfTheNewTtl) {
  make_n2_leader();
  const std::int64_t old_lease = leader_lease();
  dcs_.set(keys_.config(), R"({"ttl": 20, "loop_wait": 5, "retry_timeout": 7})");
  dcs_.fail_grant = 3;  // the renewal at once, then both tries of the next iteration
  EXPECT_EQ(loop().step(), 1000ms) << "loop_wait 5 does not fit the 4 s lease held";
  EXPECT_EQ(leader_lease(), old_lease);
  EXPECT_LE(fencing_in(), 3000ms);
  EXPECT_EQ(loop().step(), 1000ms);
  EXPECT_EQ(loop().step(), 5000ms) << "granted: the new timing applies";
  EXPECT_NE(leader_lease(), old_lease);
  EXPECT_GT(fencing_in(), 17000ms);
}

// A shorter ttl whose leader-key move goes unanswered, with the new lease not revocable either:
// the key may be on the new lease, so fencing counts from the earlier of both leases.
TEST_F(HaLoopDynamicConfigTest, UnansweredMoveFencesByTheShorterOfBothLeases) {
  config_.ttl = 20s;
  config_.loop_wait = 2s;
  config_.retry_timeout = 5s;
  make_n2_leader();
  const std::int64_t old_lease = leader_lease();
  EXPECT_GT(fencing_in(), 17000ms);
  dcs_.set(keys_.config(), R"({"ttl": 4, "loop_wait": 1, "retry_timeout": 1.5})");
  dcs_.fail_put = 1;
  dcs_.fail_put_key = keys_.leader();
  dcs_.fail_revoke = 1;
  loop().step();
  EXPECT_EQ(leader_lease(), old_lease);
  EXPECT_LE(fencing_in(), 3000ms) << "the new 4 s lease may hold the key";
  // Next iteration: the new lease is revoked, the move retried and done.
  loop().step();
  EXPECT_NE(leader_lease(), old_lease);
  EXPECT_TRUE(dcs_.leads(keys_.leader(), "n2"));
  EXPECT_LE(fencing_in(), 3000ms);
}

// Synchronous mode on, off and on again from /config. Off: /sync is deleted before the agent's
// synchronous_standby_names goes; on again: the leader lists its standby again.
TEST_F(HaLoopDynamicConfigTest, SynchronousModeOnOffOn) {
  pg_.replication = {{"n1", true, "async", kWal - 100}, {"n3", true, "sync", kWal}};
  make_n2_leader();
  EXPECT_EQ(sync_key(), "absent");
  dcs_.set(keys_.config(), R"({"synchronous_mode": true})");
  for (int i = 0; i < 4 && sync_key().find("n3") == std::string::npos; ++i) loop().step();
  EXPECT_EQ(sync_key(), R"({"leader":"n2","sync_standby":"n3"})");
  EXPECT_EQ(pg_.standby_names, R"(FIRST 1 ("n3"))");

  std::string sync_when_cleared;
  pg_.on_call = [&](const std::string& call) {
    if (call.rfind("apply_parameters", 0) == 0) sync_when_cleared = sync_key() + " / " + call;
  };
  dcs_.set(keys_.config(), R"({"synchronous_mode": false})");
  loop().step();
  EXPECT_EQ(sync_when_cleared, "absent / apply_parameters ");
  EXPECT_EQ(pg_.standby_names, "");
  loop().step();
  EXPECT_EQ(sync_key(), "absent");

  dcs_.set(keys_.config(), R"({"synchronous_mode": true, "synchronous_mode_strict": true})");
  for (int i = 0; i < 4 && sync_key().find("n3") == std::string::npos; ++i) loop().step();
  EXPECT_EQ(sync_key(), R"({"leader":"n2","sync_standby":"n3"})");
  EXPECT_EQ(pg_.standby_names, R"(FIRST 1 ("n3"))");
  EXPECT_TRUE(dcs_.leads(keys_.leader(), "n2"));
}

// A /sync that cannot be deleted keeps synchronous commits (the file) until it is.
TEST_F(HaLoopDynamicConfigTest, SynchronousModeOffKeepsTheSettingWhileSyncCannotBeDeleted) {
  config_.synchronous_mode = true;
  pg_.replication = {{"n3", true, "sync", kWal}};
  make_n2_leader();
  for (int i = 0; i < 4 && sync_key().find("n3") == std::string::npos; ++i) loop().step();
  ASSERT_EQ(sync_key(), R"({"leader":"n2","sync_standby":"n3"})");
  pg_.calls.clear();
  dcs_.set(keys_.config(), R"({"synchronous_mode": false})");
  dcs_.fail_delete = 1;
  loop().step();
  EXPECT_EQ(pg_.standby_names, R"(FIRST 1 ("n3"))");
  EXPECT_NE(sync_key(), "absent");
  loop().step();
  EXPECT_EQ(sync_key(), "absent");
  EXPECT_EQ(pg_.standby_names, "");
}

// postgresql.parameters from /config, the local file's winning and what the agent sets left out;
// handed to PostgreSQL once per change.
TEST_F(HaLoopDynamicConfigTest, PostgresqlParametersAreAppliedOncePerChange) {
  config_.local_parameters = {{"shared_buffers", "64MB"}};
  config_.parameters = config_.local_parameters;
  make_n2_leader();
  pg_.calls.clear();
  dcs_.set(keys_.config(),
           R"({"postgresql": {"parameters": {"work_mem": "8MB", "shared_buffers": "1GB", "port": 1}}})");
  loop().step();
  loop().step();
  EXPECT_EQ(pg_.calls, std::vector<std::string>{"apply_parameters shared_buffers=64MB,work_mem=8MB"});
  dcs_.set(keys_.config(), R"({"postgresql": {"parameters": {"work_mem": "16MB"}}})");
  loop().step();
  EXPECT_EQ(pg_.applied_parameters,
            (std::map<std::string, std::string>{{"shared_buffers", "64MB"}, {"work_mem", "16MB"}}));
}

}  // namespace
}  // namespace pgha::election
