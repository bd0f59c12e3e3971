// HaLoop's action sequences, with an in-memory etcd, a fake PostgreSQL and scripted peers: the
// start-as-standby rule (no start by anyone but the lock holder is writable, whatever the path),
// the switchover protocol and each of its failures, and the failures on the fencing and stop paths
// that must keep the lock. A randomized run checks that no sequence of views makes a member
// without the lock writable.
#include "election/ha_loop.h"

#include <future>
#include <random>
#include <thread>

#include <gtest/gtest.h>

#include "election/iso8601.h"
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

AgentConfig config_for(const std::string& name) {
  AgentConfig c;
  c.scope = "postgres";
  c.name = name;
  c.ttl = std::chrono::seconds(4);
  c.loop_wait = std::chrono::seconds(1);
  c.retry_timeout = 1500ms;
  c.maximum_lag_on_failover = 1048576;
  c.pg_listen = "127.0.0.1:5435";
  c.rest_listen = "127.0.0.1:8009";
  return c;
}

std::string member_json(const std::string& name, int port, const std::string& role, const std::string& state,
                        std::int64_t wal) {
  MemberStatus m;
  m.name = name;
  m.role = role;
  m.state = state;
  m.conn_url = "postgres://127.0.0.1:" + std::to_string(port) + "/postgres";
  m.api_url = "http://127.0.0.1:" + std::to_string(port + 2574) + "/patroni";
  m.wal_position = wal;
  m.timeline = 1;
  return encode_member(m);
}

bool any_starts_with(const std::vector<std::string>& list, const std::string& prefix) {
  return std::any_of(list.begin(), list.end(), [&](const std::string& s) { return s.rfind(prefix, 0) == 0; });
}
std::size_t index_of(const std::vector<std::string>& list, const std::string& prefix) {
  for (std::size_t i = 0; i < list.size(); ++i) {
    if (list[i].rfind(prefix, 0) == 0) return i;
  }
  return list.size();
}

// n2 is the agent under test; n1 (5434) and n3 (5436) are the other members.
class HaLoopTest : public ::testing::Test {
 protected:
  HaLoopTest() : config_(config_for("n2")), keys_(config_.namespace_, config_.scope) {
    timings_.candidate_check = 100ms;
    timings_.catch_up = 300ms;
    timings_.catch_up_poll = 10ms;
    timings_.outcome_wait = 5s;
    timings_.new_leader_wait = 1s;
    timings_.new_leader_poll = 10ms;
    pg_.may_be_writable = [this] { return dcs_.leads(keys_.leader(), "n2"); };
    others_lease_ = dcs_.new_lease();
    dcs_.set(keys_.initialize(), "postgres");
  }

  HaLoop& loop() {
    if (!loop_) loop_ = std::make_unique<HaLoop>(config_, dcs_, pg_, peers_, nullptr, timings_, callbacks_);
    return *loop_;
  }
  void set_member(const std::string& name, int port, const std::string& role, const std::string& state,
                  std::int64_t wal) {
    dcs_.set(keys_.member(name), member_json(name, port, role, state, wal), others_lease_);
  }
  void replicas_n1_n3(std::int64_t wal = kWal) {
    set_member("n1", 5434, "replica", "streaming", wal);
    set_member("n3", 5436, "replica", "streaming", wal);
  }
  // n2 runs a primary and takes the lock (a few iterations, bounded).
  void make_n2_leader() {
    pg_.running = true;
    pg_.in_recovery = false;
    pg_.standby_signal = false;
    replicas_n1_n3(kWal - 100);
    for (int i = 0; i < 5 && !dcs_.leads(keys_.leader(), "n2"); ++i) loop().step();
    ASSERT_TRUE(dcs_.leads(keys_.leader(), "n2"));
    loop().step();
    ASSERT_TRUE(loop().status()->is_primary());
  }
  // A switchover request on a REST thread; steps the loop until it answers (bounded).
  SwitchoverResult switchover_to(const std::string& candidate) {
    auto answer = std::async(std::launch::async, [this, candidate] {
      return loop().request_switchover(SwitchoverRequest{"n2", candidate, std::nullopt}, false);
    });
    for (int i = 0; i < 200 && answer.wait_for(0ms) != std::future_status::ready; ++i) {
      if (dcs_.get(keys_.failover())) loop().step();
      else std::this_thread::sleep_for(5ms);
    }
    EXPECT_EQ(answer.wait_for(10s), std::future_status::ready);
    return answer.get();
  }

  AgentConfig config_;
  KeyLayout keys_;
  SwitchoverTimings timings_;
  FakeDcs dcs_;
  FakePostgres pg_;
  FakePeers peers_;
  std::int64_t others_lease_ = 0;
  PostgresCallbacks* callbacks_ = nullptr;  // set before loop() is first called
  std::unique_ptr<HaLoop> loop_;
};

// As Patroni does, the member key tells the others (and pghactl) to use https once the REST API has
// a certificate.
TEST_F(HaLoopTest, MemberKeyAdvertisesHttpsWhenTheRestApiHasACertificate) {
  const auto api_url_published = [this] {
    loop().step();
    const auto entry = dcs_.get(keys_.member("n2"));
    EXPECT_TRUE(entry);
    const auto member = entry ? decode_member("n2", entry->value) : std::nullopt;
    return member ? member->api_url : "";
  };
  EXPECT_EQ(api_url_published(), "http://127.0.0.1:8009/patroni");
  loop_.reset();
  config_.rest_tls.certfile = "/etc/pgha/rest.crt";
  EXPECT_EQ(api_url_published(), "https://127.0.0.1:8009/patroni");
  EXPECT_EQ(loop().status()->api_url, "https://127.0.0.1:8009/patroni");
}

// The bug behind a lost write: after stepping down, with no leader known yet, the old leader's
// PostgreSQL was started "as configured", i.e. as a primary, and took writes for a moment.
TEST_F(HaLoopTest, FormerLeaderWithNoLeaderKnownStartsAsStandbyThenRewindsUnderTheNewLeader) {
  make_n2_leader();
  // Stepped down: PostgreSQL stopped (a primary's data dir: no standby.signal), lock released,
  // a switchover to n1 pending, nobody has taken the lock yet.
  pg_.running = false;
  dcs_.erase(keys_.leader());
  dcs_.set(keys_.failover(), encode_failover({"n2", "n1"}));
  pg_.calls.clear();
  loop().step();
  EXPECT_EQ(pg_.calls, std::vector<std::string>{"start_standby -"});
  EXPECT_TRUE(pg_.running && pg_.in_recovery) << "a member without the lock came up writable";
  EXPECT_TRUE(pg_.may_have_diverged()) << "a former primary started as a standby must be rewound before it follows";
  EXPECT_FALSE(loop().status()->is_primary());
  // n1 takes over: n2 rewinds before following it (its WAL may hold what n1 never got).
  set_member("n1", 5434, "primary", "running", kWal + 100);
  dcs_.set(keys_.leader(), "n1", others_lease_);
  dcs_.erase(keys_.failover());
  pg_.calls.clear();
  loop().step();
  EXPECT_EQ(pg_.calls, std::vector<std::string>{"rewind_and_follow 127.0.0.1:5434"});
  EXPECT_TRUE(pg_.violations.empty()) << pg_.violations.front();
}

TEST_F(HaLoopTest, CrashedPrimaryWhoseLockExpiredStartsAsStandbyOfTheNewLeaderAfterRewind) {
  make_n2_leader();
  pg_.crash();
  dcs_.erase(keys_.leader());
  set_member("n1", 5434, "primary", "running", kWal + 100);
  dcs_.set(keys_.leader(), "n1", others_lease_);
  pg_.calls.clear();
  loop().step();
  // Rule 4 starts it as a standby of n1; a diverged data dir is rewound first.
  EXPECT_EQ(pg_.calls, std::vector<std::string>{"rewind_and_follow 127.0.0.1:5434"});
  EXPECT_TRUE(pg_.in_recovery);
  EXPECT_TRUE(pg_.violations.empty());
}

// An agent paused between its lease refresh and its action (SIGSTOP, a starved machine) must not
// act on what it read before the pause: its lease may have run out meanwhile and another member
// been promoted. Here the leader's PostgreSQL was fenced during the pause and n1 took over; the
// stale view said "I lead, PostgreSQL is down": starting it as a primary made two writable nodes.
TEST_F(HaLoopTest, LeaderPausedPastItsFencingDeadlineDoesNotActOnWhatItReadBefore) {
  config_.ttl = 1s;  // fencing deadline: 750 ms after the refresh
  make_n2_leader();
  pg_.crash();
  pg_.calls.clear();
  pg_.on_probe = [this] {
    pg_.on_probe = nullptr;
    const auto leader = dcs_.get(keys_.leader());
    ASSERT_TRUE(leader.has_value());
    const auto paused_until = Clock::now() + 800ms;  // the pause, between the refresh and the probe
    dcs_.expire(leader->lease);
    set_member("n1", 5434, "primary", "running", kWal + 100);
    dcs_.set(keys_.leader(), "n1", others_lease_);
    std::this_thread::sleep_until(paused_until);
  };
  loop().step();
  EXPECT_TRUE(pg_.calls.empty()) << ::testing::PrintToString(pg_.calls);
  EXPECT_FALSE(loop().status()->is_primary());
  // The next iteration reads the truth: n1 leads, n2 rejoins it as a standby.
  loop().step();
  EXPECT_EQ(pg_.calls, std::vector<std::string>{"rewind_and_follow 127.0.0.1:5434"});
  EXPECT_TRUE(pg_.violations.empty()) << pg_.violations.front();
}

// Synchronous mode, the leader's side: /sync only ever lists standbys that have every commit the
// leader acknowledged. A standby enters synchronous_standby_names first and /sync once it is
// synchronous and has flushed what the leader had; it leaves /sync before it leaves the setting.
TEST_F(HaLoopTest, SynchronousLeaderConfirmsAStandbyBeforeListingItAndUnlistsItFirst) {
  config_.synchronous_mode = true;
  auto sync_key = [this] { return dcs_.get(keys_.sync()) ? dcs_.get(keys_.sync())->value : std::string("absent"); };
  // At each change of synchronous_standby_names, what /sync said.
  std::vector<std::string> sync_at_setting;
  pg_.on_call = [&](const std::string& call) {
    if (call.rfind("synchronous_standby_names", 0) == 0) sync_at_setting.push_back(call + " with /sync " + sync_key());
  };
  pg_.replication = {{"n1", true, "async", kWal - 100}, {"n3", true, "async", kWal}};
  make_n2_leader();
  EXPECT_EQ(sync_key(), R"({"leader":"n2","sync_standby":null})");
  EXPECT_EQ(pg_.standby_names, R"(FIRST 1 ("n3"))") << "the least lagging streaming replica";
  // n3 becomes synchronous; the leader notes its flush position then, and lists n3 once n3 has it.
  pg_.replication[1].sync_state = "sync";
  pg_.wal = kWal + 500;
  loop().step();
  EXPECT_EQ(sync_key(), R"({"leader":"n2","sync_standby":null})") << "not before n3 has flushed " << kWal + 500;
  loop().step();
  EXPECT_EQ(sync_key(), R"({"leader":"n2","sync_standby":null})");
  pg_.replication[1].flush = kWal + 500;
  loop().step();
  EXPECT_EQ(sync_key(), R"({"leader":"n2","sync_standby":"n3"})");
  // n3 goes away: /sync drops it before synchronous_standby_names names n1.
  pg_.replication.erase(pg_.replication.begin() + 1);
  sync_at_setting.clear();
  loop().step();
  ASSERT_EQ(sync_at_setting.size(), 1u);
  EXPECT_EQ(sync_at_setting[0],
            R"(synchronous_standby_names 'FIRST 1 ("n1")' with /sync {"leader":"n2","sync_standby":null})");
  EXPECT_TRUE(pg_.violations.empty());
}

// Quorum commit: "any quorum + 1 voters of /sync include one with every acknowledged commit" must
// hold for the setting in force and for the one before it, at every change of either. A standby
// joins (the key is narrowed only once the walsenders use the new setting and it has what was
// acknowledged before), then leaves.
TEST_F(HaLoopTest, QuorumLeaderChangesTheSettingAndTheKeyInAnOrderThatCoversEveryCommit) {
  config_.synchronous_mode = config_.synchronous_quorum = true;
  auto sync_key = [this] { return dcs_.get(keys_.sync()) ? dcs_.get(keys_.sync())->value : std::string("absent"); };
  // "ANY k (...)" → (k, names); "" → (0, {}).
  auto parse_setting = [](const std::string& value) {
    std::pair<int, std::set<std::string>> out{0, {}};
    if (value.rfind("ANY ", 0) != 0) return out;
    out.first = std::atoi(value.c_str() + 4);
    for (std::size_t at = value.find('"'); at != std::string::npos; at = value.find('"', value.find('"', at + 1) + 1)) {
      const std::size_t end = value.find('"', at + 1);
      out.second.insert(value.substr(at + 1, end - at - 1));
    }
    return out;
  };
  // The key covers a setting (k, S): S within the voters and quorum >= |V| - k; a key without
  // voters lets nobody be promoted, which is safe for any setting.
  auto covers = [&](const std::string& key_text, const std::string& setting) {
    const auto key = decode_sync_state(key_text);
    if (!key || key->standbys.empty()) return true;
    const auto [k, names] = parse_setting(setting);
    if (k == 0) return false;  // asynchronous commits are on no standby
    for (const std::string& n : names) {
      if (!key->is_standby(n)) return false;
    }
    return key->quorum.value_or(0) >= static_cast<int>(key->standbys.size()) - k;
  };
  std::string previous_setting;
  std::vector<std::string> violations;
  pg_.on_call = [&](const std::string& call) {
    if (call.rfind("synchronous_standby_names '", 0) != 0) return;
    const std::string setting = call.substr(27, call.size() - 28);
    if (!covers(sync_key(), setting)) violations.push_back("set '" + setting + "' under " + sync_key());
    if (!previous_setting.empty() && !covers(sync_key(), previous_setting)) {
      violations.push_back("left '" + previous_setting + "' uncovered under " + sync_key());
    }
    previous_setting = setting;
  };
  pg_.replication = {{"n1", true, "async", kWal - 100}, {"n3", true, "async", kWal - 100}};
  make_n2_leader();
  EXPECT_EQ(pg_.standby_names, R"(ANY 1 ("n1", "n3"))");
  EXPECT_EQ(sync_key(), R"({"leader":"n2","quorum":0,"sync_standby":null})") << "no voter before they have it all";
  for (auto& r : pg_.replication) r.sync_state = "quorum";
  pg_.wal = kWal + 500;
  loop().step();  // the walsenders use the setting: note the leader's flush LSN
  loop().step();
  EXPECT_EQ(sync_key(), R"({"leader":"n2","quorum":0,"sync_standby":null})") << "not before one has flushed it";
  pg_.replication[1].flush = kWal + 500;
  loop().step();
  EXPECT_EQ(sync_key(), R"({"leader":"n2","quorum":1,"sync_standby":"n1,n3"})");
  // n1 stops streaming: the setting names n3 alone first (still covered), then the key follows.
  pg_.replication[0].streaming = false;
  loop().step();
  EXPECT_EQ(pg_.standby_names, R"(ANY 1 ("n3"))");
  EXPECT_EQ(sync_key(), R"({"leader":"n2","quorum":1,"sync_standby":"n1,n3"})");
  for (int i = 0; i < 3; ++i) loop().step();
  EXPECT_EQ(sync_key(), R"({"leader":"n2","quorum":0,"sync_standby":"n3"})");
  // n1 streams again: the key widens to both (quorum 1) before the setting names n1.
  pg_.replication[0].streaming = true;
  loop().step();
  EXPECT_EQ(pg_.standby_names, R"(ANY 1 ("n1", "n3"))");
  EXPECT_EQ(sync_key(), R"({"leader":"n2","quorum":1,"sync_standby":"n3,n1"})");
  pg_.wal = kWal + 900;
  for (int i = 0; i < 3; ++i) loop().step();
  EXPECT_EQ(sync_key(), R"({"leader":"n2","quorum":1,"sync_standby":"n3,n1"})") << "n1 and n3 lack " << kWal + 900;
  pg_.replication[0].flush = kWal + 900;
  loop().step();
  EXPECT_EQ(sync_key(), R"({"leader":"n2","quorum":1,"sync_standby":"n1,n3"})");
  // Both go: nobody is a voter before commits stop waiting.
  pg_.replication[0].streaming = pg_.replication[1].streaming = false;
  loop().step();
  EXPECT_EQ(pg_.standby_names, "");
  EXPECT_EQ(sync_key(), R"({"leader":"n2","quorum":0,"sync_standby":null})");
  EXPECT_TRUE(violations.empty()) << ::testing::PrintToString(violations);
  EXPECT_TRUE(pg_.violations.empty());
}

// Quorum commit, leader lost: a voter takes the lock only once the quorum of other voters answered
// and none of them has received more WAL than it has.
TEST_F(HaLoopTest, AQuorumVoterCampaignsOnlyWhenTheQuorumAnswersAndNobodyIsAhead) {
  config_.synchronous_mode = config_.synchronous_quorum = true;
  pg_.running = true;
  pg_.in_recovery = pg_.standby_signal = true;
  set_member("n3", 5436, "replica", "streaming", kWal - 100);
  dcs_.set(keys_.sync(), R"({"leader":"n1","quorum":1,"sync_standby":"n2,n3"})");
  peers_.fail_received = true;
  for (int i = 0; i < 2; ++i) loop().step();
  EXPECT_FALSE(dcs_.leads(keys_.leader(), "n2"));
  EXPECT_NE(loop().status()->last_action.find("only 0 of the 1 other voters"), std::string::npos)
      << loop().status()->last_action;
  peers_.fail_received = false;
  peers_.received = kWal + 10;  // n3 has more than its member key said
  loop().step();
  EXPECT_FALSE(dcs_.leads(keys_.leader(), "n2"));
  EXPECT_NE(loop().status()->last_action.find("n3 has received WAL"), std::string::npos)
      << loop().status()->last_action;
  peers_.received = kWal - 10;
  for (int i = 0; i < 3 && !dcs_.leads(keys_.leader(), "n2"); ++i) loop().step();
  EXPECT_TRUE(dcs_.leads(keys_.leader(), "n2"));
}

// A synchronous standby that takes the lock makes /sync name it alone, and resets
// synchronous_standby_names ('*' when strict), before it promotes; if /sync cannot be written it
// does not promote.
TEST_F(HaLoopTest, SynchronousCandidateRewritesSyncBeforePromoting) {
  config_.synchronous_mode = true;
  config_.synchronous_mode_strict = true;
  pg_.running = true;
  pg_.in_recovery = pg_.standby_signal = true;
  pg_.following = "127.0.0.1:5434";
  set_member("n3", 5436, "replica", "streaming", kWal);
  dcs_.set(keys_.sync(), R"({"leader":"n1","sync_standby":"n2"})");
  std::string sync_at_promote;
  pg_.on_call = [&](const std::string& call) {
    if (call == "promote") sync_at_promote = dcs_.get(keys_.sync())->value + " / '" + pg_.standby_names + "'";
  };
  dcs_.fail_put = 1;
  dcs_.fail_put_key = keys_.sync();
  for (int i = 0; i < 6 && !pg_.writable(); ++i) loop().step();
  ASSERT_TRUE(pg_.writable());
  EXPECT_EQ(sync_at_promote, R"({"leader":"n2","sync_standby":null} / '*')");
  EXPECT_TRUE(pg_.violations.empty());
}

// The asynchronous n3 never takes over from a leader whose /sync lists n2 only.
TEST_F(HaLoopTest, AsynchronousReplicaDoesNotTakeTheLockInSynchronousMode) {
  config_.synchronous_mode = true;
  pg_.running = true;
  pg_.in_recovery = pg_.standby_signal = true;
  set_member("n3", 5436, "replica", "streaming", kWal - 100);
  dcs_.set(keys_.sync(), R"({"leader":"n1","sync_standby":"n3"})");
  for (int i = 0; i < 3; ++i) loop().step();
  EXPECT_FALSE(dcs_.leads(keys_.leader(), "n2"));
  EXPECT_FALSE(contains(pg_.calls, "promote"));
}

// Failsafe mode: the leader names every member in /failsafe; with etcd gone it stays primary
// (no demote, /primary still 200) for as long as every member confirms it, and fences as without
// failsafe mode the moment one does not.
TEST_F(HaLoopTest, FailsafeLeaderStaysPrimaryWhileEveryMemberConfirmsItAndFencesWhenOneRefuses) {
  config_.retry_timeout = 60ms;
  config_.loop_wait = std::chrono::seconds(0);
  make_n2_leader();
  dcs_.set(keys_.config(), R"({"failsafe_mode": true})");
  loop().step();
  const auto key = dcs_.get(keys_.failsafe());
  ASSERT_TRUE(key);
  EXPECT_EQ(key->value, R"({"n1":"http://127.0.0.1:8008/patroni","n2":"http://127.0.0.1:8009/patroni",)"
                  R"("n3":"http://127.0.0.1:8010/patroni"})");
  peers_.failsafe_answers["http://127.0.0.1:8008/patroni"] = {200, "Accepted"};
  peers_.failsafe_answers["http://127.0.0.1:8010/patroni"] = {200, "Accepted"};
  dcs_.fail_keepalive = dcs_.fail_range = 100000;  // etcd is gone
  pg_.calls.clear();
  const auto until = Clock::now() + 5 * config_.retry_timeout;
  while (Clock::now() < until) {
    loop().step();
    std::this_thread::sleep_for(10ms);
  }
  EXPECT_FALSE(contains(pg_.calls, "demote")) << ::testing::PrintToString(pg_.calls);
  EXPECT_TRUE(loop().status()->is_primary()) << loop().status()->last_action;
  EXPECT_TRUE(loop().status()->failsafe_active);
  EXPECT_GE(peers_.failsafe_asks(), 4u);
  EXPECT_TRUE(contains(peers_.failsafe_asked, "http://127.0.0.1:8008/patroni by n2"));

  peers_.failsafe_answers["http://127.0.0.1:8010/patroni"] = {500, "Running as a leader"};
  const auto fenced_by = Clock::now() + 5 * config_.retry_timeout;
  while (Clock::now() < fenced_by && !contains(pg_.calls, "demote")) {
    loop().step();
    std::this_thread::sleep_for(10ms);
  }
  EXPECT_TRUE(contains(pg_.calls, "demote")) << "a refusal must end the failsafe";
  EXPECT_FALSE(loop().status()->is_primary());
}

// Without failsafe mode in /config the same outage fences at retry_timeout, and nobody is asked.
TEST_F(HaLoopTest, WithoutFailsafeModeALeaderCutFromEtcdFencesWithoutAskingAnyone) {
  config_.retry_timeout = 60ms;
  config_.loop_wait = std::chrono::seconds(0);
  make_n2_leader();
  peers_.failsafe_answers["http://127.0.0.1:8008/patroni"] = {200, "Accepted"};
  peers_.failsafe_answers["http://127.0.0.1:8010/patroni"] = {200, "Accepted"};
  dcs_.fail_keepalive = dcs_.fail_range = 100000;
  const auto fenced_by = Clock::now() + 5 * config_.retry_timeout;
  while (Clock::now() < fenced_by && !contains(pg_.calls, "demote")) {
    loop().step();
    std::this_thread::sleep_for(10ms);
  }
  EXPECT_TRUE(contains(pg_.calls, "demote"));
  EXPECT_EQ(peers_.failsafe_asks(), 0u);
}

// A member that confirmed a leader (POST /failsafe) does not take the lock for ttl after, even
// though etcd shows no leader; then it does. Once it campaigns it refuses to confirm anyone.
TEST_F(HaLoopTest, AMemberThatConfirmedALeaderHoldsBackForTtlAndRefusesOnceItCampaigns) {
  config_.ttl = std::chrono::seconds(1);
  config_.loop_wait = std::chrono::seconds(0);
  config_.retry_timeout = 100ms;
  pg_.running = true;
  pg_.in_recovery = pg_.standby_signal = true;
  set_member("n3", 5436, "replica", "streaming", kWal - 100);
  dcs_.set(keys_.config(), R"({"failsafe_mode": true})");
  dcs_.set(keys_.failsafe(), R"({"n1":"http://127.0.0.1:8008/patroni","n2":"http://127.0.0.1:8009/patroni",)"
                             R"("n3":"http://127.0.0.1:8010/patroni"})");
  set_member("n1", 5434, "primary", "running", kWal);
  dcs_.set(keys_.leader(), "n1", others_lease_);
  loop().step();  // follows n1; learns that failsafe mode is on
  const std::string ping = R"({"name":"n1","conn_url":"postgres://127.0.0.1:5434/postgres",)"
                           R"("api_url":"http://127.0.0.1:8008/patroni"})";
  EXPECT_EQ(loop().accept_failsafe("{").http_status, 400);
  const SwitchoverResult accepted = loop().accept_failsafe(ping);
  EXPECT_EQ(accepted.http_status, 200);
  EXPECT_EQ(accepted.message, "Accepted");
  const auto confirmed_at = Clock::now();
  dcs_.erase(keys_.leader());  // n1's lease ran out in etcd: n1 cannot reach it
  dcs_.erase(keys_.member("n1"));
  loop().step();
  EXPECT_FALSE(dcs_.leads(keys_.leader(), "n2")) << loop().status()->last_action;
  EXPECT_NE(loop().status()->last_action.find("confirmed n1"), std::string::npos) << loop().status()->last_action;
  EXPECT_TRUE(loop().status()->failsafe_active);
  while (!dcs_.leads(keys_.leader(), "n2") && Clock::now() < confirmed_at + 10 * config_.ttl) {
    loop().step();
    std::this_thread::sleep_for(20ms);
  }
  ASSERT_TRUE(dcs_.leads(keys_.leader(), "n2"));
  EXPECT_GE(Clock::now() - confirmed_at, config_.ttl) << "took the lock within ttl of confirming another leader";
  const SwitchoverResult refused = loop().accept_failsafe(ping);
  EXPECT_EQ(refused.http_status, 500) << refused.message;
}

// A member missing from a non-empty /failsafe key never campaigns in failsafe mode: no leader
// would ask it to confirm, so it could not know to hold back.
TEST_F(HaLoopTest, AMemberMissingFromTheFailsafeKeyDoesNotCampaign) {
  pg_.running = true;
  pg_.in_recovery = pg_.standby_signal = true;
  set_member("n3", 5436, "replica", "streaming", kWal - 100);
  dcs_.set(keys_.config(), R"({"failsafe_mode": true})");
  dcs_.set(keys_.failsafe(), R"({"n1":"http://127.0.0.1:8008/patroni","n3":"http://127.0.0.1:8010/patroni"})");
  for (int i = 0; i < 3; ++i) loop().step();
  EXPECT_FALSE(dcs_.leads(keys_.leader(), "n2"));
  EXPECT_NE(loop().status()->last_action.find("not in the /failsafe key"), std::string::npos)
      << loop().status()->last_action;
  EXPECT_EQ(loop().accept_failsafe(R"({"name":"n1"})").http_status, 200);
  dcs_.set(keys_.config(), R"({"failsafe_mode": false})");
  loop().step();
  EXPECT_EQ(loop().accept_failsafe(R"({"name":"n1"})").http_status, 502);
}

// Maintenance mode from the /config key: a leader whose PostgreSQL stopped keeps the lock and
// does not start it; once resumed it does.
TEST_F(HaLoopTest, PausedLeaderKeepsTheLockWithoutStartingPostgresUntilResumed) {
  make_n2_leader();
  dcs_.set(keys_.config(), R"({"pause": true, "ttl": 4})");
  pg_.crash();
  pg_.calls.clear();
  for (int i = 0; i < 3; ++i) loop().step();
  EXPECT_TRUE(pg_.calls.empty()) << ::testing::PrintToString(pg_.calls);
  EXPECT_TRUE(dcs_.leads(keys_.leader(), "n2"));
  dcs_.set(keys_.config(), R"({"pause": false, "ttl": 4})");
  loop().step();
  loop().step();
  EXPECT_EQ(pg_.calls, (std::vector<std::string>{"controldata", "start_standby -", "promote"}));
  EXPECT_TRUE(pg_.writable());
}

// A rejoin whose pg_rewind fails (the data dir kept for the operator) is tried again after
// loop_wait, not at once in a tight loop, and PostgreSQL is not started in between.
TEST_F(HaLoopTest, FailedRejoinIsRetriedAfterLoopWaitWithoutStartingPostgres) {
  make_n2_leader();
  pg_.crash();
  dcs_.erase(keys_.leader());
  set_member("n1", 5434, "primary", "running", kWal + 100);
  dcs_.set(keys_.leader(), "n1", others_lease_);
  pg_.fail_rewind = 2;
  for (int attempt = 0; attempt < 2; ++attempt) {
    pg_.calls.clear();
    EXPECT_EQ(loop().step(), std::chrono::milliseconds(config_.loop_wait)) << "attempt " << attempt;
    EXPECT_EQ(pg_.calls, std::vector<std::string>{"rewind_and_follow 127.0.0.1:5434"});
    EXPECT_FALSE(pg_.running);
    EXPECT_TRUE(pg_.may_have_diverged());
  }
  pg_.calls.clear();
  loop().step();
  EXPECT_EQ(pg_.calls, std::vector<std::string>{"rewind_and_follow 127.0.0.1:5434"});
  EXPECT_TRUE(pg_.running && pg_.in_recovery);
  EXPECT_TRUE(pg_.violations.empty()) << pg_.violations.front();
}

// The lock holder's PostgreSQL that crashed (or was fenced) starts read-only and is promoted by
// the next iteration: crash recovery may outlast the fencing deadline, and a server started
// writable would be fenced mid-recovery over and over while the lease kept everyone else out.
// The lease is refreshed once the start returns, so that the watchdog is armed from then.
TEST_F(HaLoopTest, LeaderWhosePostgresCrashedStartsItReadOnlyRefreshesTheLeaseAndPromotesIt) {
  make_n2_leader();
  pg_.crash();
  pg_.calls.clear();
  int keepalives_at_start = -1;
  pg_.on_call = [&](const std::string& call) {
    if (call.starts_with("start_standby")) keepalives_at_start = dcs_.keepalives();
  };
  loop().step();
  EXPECT_EQ(pg_.calls, (std::vector<std::string>{"controldata", "start_standby -"}));
  EXPECT_TRUE(pg_.running && pg_.in_recovery) << "started writable";
  EXPECT_GT(dcs_.keepalives(), keepalives_at_start) << "the lease was not refreshed after the start";
  EXPECT_TRUE(pg_.may_have_diverged()) << "if the lease ran out, our WAL may hold what the new leader lacks";
  loop().step();
  EXPECT_EQ(pg_.calls, (std::vector<std::string>{"controldata", "start_standby -", "promote"}));
  EXPECT_TRUE(pg_.writable());
  EXPECT_TRUE(dcs_.leads(keys_.leader(), "n2"));
  EXPECT_TRUE(pg_.violations.empty()) << pg_.violations.front();
}

// The lease ran out while PostgreSQL started (a long crash recovery) and n1 took over: n2 never
// promotes, and rewinds before following n1.
TEST_F(HaLoopTest, LeaderWhoseLeaseRunsOutDuringTheStartFollowsTheNewLeaderRewound) {
  make_n2_leader();
  pg_.crash();
  pg_.calls.clear();
  pg_.on_call = [&](const std::string& call) {
    if (!call.starts_with("start_standby")) return;
    const auto leader = dcs_.get(keys_.leader());
    ASSERT_TRUE(leader.has_value());
    dcs_.expire(leader->lease);
    set_member("n1", 5434, "primary", "running", kWal + 100);
    dcs_.set(keys_.leader(), "n1", others_lease_);
  };
  loop().step();
  pg_.on_call = nullptr;
  EXPECT_TRUE(pg_.running && pg_.in_recovery);
  loop().step();
  EXPECT_EQ(pg_.calls, (std::vector<std::string>{"controldata", "start_standby -", "rewind_and_follow 127.0.0.1:5434"}));
  EXPECT_FALSE(contains(pg_.calls, "promote"));
  EXPECT_TRUE(pg_.violations.empty()) << pg_.violations.front();
}

// Stopped cleanly (no recovery to run): started as the primary at once, on its timeline.
TEST_F(HaLoopTest, LeaderWhosePostgresStoppedCleanlyStartsItAsThePrimaryAtOnce) {
  make_n2_leader();
  ASSERT_TRUE(pg_.stop(LocalPostgres::StopMode::kFast, 1000ms).ok());
  const int timeline = pg_.timeline;
  pg_.calls.clear();
  loop().step();
  EXPECT_EQ(pg_.calls, (std::vector<std::string>{"controldata", "start_primary"}));
  EXPECT_TRUE(pg_.writable());
  EXPECT_EQ(pg_.timeline, timeline);
  EXPECT_TRUE(pg_.violations.empty()) << pg_.violations.front();
}

TEST_F(HaLoopTest, LeaderWithAStandbyDataDirStartsItAndPromotesIt) {
  // The lock holder's data dir is a standby's (it took the lock while stopped): start, then promote.
  make_n2_leader();
  pg_.crash();
  pg_.standby_signal = true;
  pg_.calls.clear();
  loop().step();
  loop().step();
  EXPECT_EQ(pg_.calls, (std::vector<std::string>{"controldata", "start_standby -", "promote"}));
  EXPECT_TRUE(pg_.writable());
  EXPECT_TRUE(pg_.violations.empty());
}

// After a promotion, /primary answers 200 before the CHECKPOINT that makes the new timeline
// visible to pg_rewind: under write load that checkpoint takes a while, and clients wait for the
// 200 (a proxy routes writes on it).
TEST_F(HaLoopTest, APromotedLeaderAnnouncesItselfBeforeItsCheckpoint) {
  make_n2_leader();
  pg_.crash();
  pg_.standby_signal = true;
  loop().step();  // starts it; it is still in recovery
  pg_.calls.clear();
  std::optional<bool> primary_at_checkpoint;
  pg_.on_call = [&](const std::string& call) {
    if (call == "checkpoint") primary_at_checkpoint = loop().status()->is_primary();
  };
  for (int i = 0; i < 4 && !primary_at_checkpoint; ++i) loop().step();
  ASSERT_EQ(index_of(pg_.calls, "promote"), 0u) << "promoted first";
  ASSERT_TRUE(primary_at_checkpoint.has_value()) << "no CHECKPOINT after the promotion";
  EXPECT_TRUE(*primary_at_checkpoint) << "the CHECKPOINT ran before /primary answered 200";
  pg_.on_call = nullptr;
  pg_.calls.clear();
  loop().step();
  EXPECT_EQ(index_of(pg_.calls, "checkpoint"), pg_.calls.size()) << "one CHECKPOINT per promotion";
}

// A scheduled switchover (POST /switchover with scheduled_at): 202 at once, the /failover key
// carries the time, nobody acts on it before then, and the leader hands over once it is due.
TEST_F(HaLoopTest, AScheduledSwitchoverWaitsForItsTimeThenHandsOver) {
  make_n2_leader();
  peers_.received = kWal + 0x28;
  const auto at = std::chrono::system_clock::now() + 1500ms;
  const SwitchoverResult r =
      loop().request_switchover(SwitchoverRequest{"n2", "n3", format_iso8601(at + 1s)}, false);
  EXPECT_EQ(r.http_status, 202) << r.message;
  EXPECT_EQ(r.message, "Switchover scheduled");
  const auto key = dcs_.get(keys_.failover());
  ASSERT_TRUE(key);
  EXPECT_EQ(decode_failover(key->value)->scheduled_at, format_iso8601(at + 1s));
  pg_.calls.clear();
  loop().step();
  const Millis delay = loop().step();
  EXPECT_LE(delay, 2600ms) << "the loop wakes for the schedule";
  EXPECT_FALSE(contains(pg_.calls, "stop fast")) << "handed over before the scheduled time";
  EXPECT_TRUE(dcs_.leads(keys_.leader(), "n2"));
  const auto until = Clock::now() + 6s;
  while (!contains(pg_.calls, "stop fast") && Clock::now() < until) {
    loop().step();
    std::this_thread::sleep_for(50ms);
  }
  EXPECT_TRUE(contains(pg_.calls, "stop fast")) << ::testing::PrintToString(pg_.calls);
  bool zone = false;
  EXPECT_GE(std::chrono::system_clock::now(), *parse_iso8601(format_iso8601(at + 1s), &zone))
      << "handed over before the scheduled time (whole seconds)";
  EXPECT_FALSE(dcs_.leads(keys_.leader(), "n2"));
}

// Patroni's checks of a schedule, a stale one dropped without a switchover, and DELETE
// /switchover.
TEST_F(HaLoopTest, ScheduledSwitchoversAreCheckedCancelledAndDroppedWhenStale) {
  make_n2_leader();
  const auto in_an_hour = format_iso8601(std::chrono::system_clock::now() + 1h);
  EXPECT_EQ(loop().request_switchover(SwitchoverRequest{"n2", "n3", "2020-01-01T00:00:00+00:00"}, false).http_status,
            422);
  EXPECT_EQ(loop().request_switchover(SwitchoverRequest{"n2", "n3", "2099-01-01T00:00:00"}, false).message,
            "Timezone information is mandatory for the scheduled switchover");
  EXPECT_EQ(loop().request_switchover(SwitchoverRequest{"n2", "n3", "soon"}, false).http_status, 422);
  EXPECT_FALSE(dcs_.get(keys_.failover()));
  EXPECT_EQ(loop().cancel_scheduled_switchover().http_status, 404);
  ASSERT_EQ(loop().request_switchover(SwitchoverRequest{"n2", "n3", in_an_hour}, false).http_status, 202);
  const SwitchoverResult cancelled = loop().cancel_scheduled_switchover();
  EXPECT_EQ(cancelled.http_status, 200);
  EXPECT_EQ(cancelled.message, "scheduled switchover deleted");
  EXPECT_FALSE(dcs_.get(keys_.failover()));

  dcs_.set(keys_.failover(), encode_failover(FailoverRequest{"n2", "n3", "2020-01-01T00:00:00+00:00"}));
  pg_.calls.clear();
  loop().step();
  EXPECT_FALSE(dcs_.get(keys_.failover())) << "a stale schedule is dropped";
  EXPECT_FALSE(contains(pg_.calls, "stop fast"));
  EXPECT_TRUE(dcs_.leads(keys_.leader(), "n2"));

  dcs_.set(keys_.config(), R"({"pause": true})");
  loop().step();
  EXPECT_EQ(loop().request_switchover(SwitchoverRequest{"n2", "n3", in_an_hour}, false).message,
            "Can't schedule switchover in the paused state");
}

// A scheduled switchover runs past its time by the checkpoint and the grace: when the old leader
// releases the lock the schedule may look stale, but it still names who takes over. A replica
// that is not the candidate must not campaign (here it would be as healthy as the candidate).
TEST_F(HaLoopTest, AScheduledSwitchoverUnderWayStillNamesTheCandidatePastItsTime) {
  pg_.running = pg_.in_recovery = pg_.standby_signal = true;
  pg_.following = "127.0.0.1:5434";
  set_member("n1", 5434, "replica", "stopped", kWal);
  set_member("n3", 5436, "replica", "streaming", kWal);
  const auto started = std::chrono::system_clock::now() - 10s;  // long past loop_wait x 1.5
  dcs_.set(keys_.failover(), encode_failover(FailoverRequest{"n1", "n3", format_iso8601(started)}));
  for (int i = 0; i < 3; ++i) loop().step();
  EXPECT_FALSE(dcs_.get(keys_.leader())) << "n2 took the lock the schedule gave to n3";
  EXPECT_FALSE(contains(pg_.calls, "promote"));
  EXPECT_TRUE(dcs_.get(keys_.failover())) << "only a leader drops a schedule";
  // n3 takes over; as the new leader it drops the request, n2 follows it.
  set_member("n3", 5436, "primary", "running", kWal);
  dcs_.set(keys_.leader(), "n3", others_lease_);
  loop().step();
  EXPECT_FALSE(dcs_.get(keys_.leader()) && dcs_.leads(keys_.leader(), "n2"));
  EXPECT_TRUE(pg_.violations.empty()) << pg_.violations.front();
}

TEST_F(HaLoopTest, SwitchoverChecksStopsWaitsPublishesThenReleasesAndFollows) {
  make_n2_leader();
  peers_.received = kWal + 0x28;  // the candidate has the shutdown checkpoint record
  bool primary_at_checkpoint = false;
  bool primary_at_sessions = true;
  bool primary_at_stop = true;
  pg_.on_call = [&](const std::string& call) {
    if (call == "checkpoint") primary_at_checkpoint = loop().status()->is_primary();
    if (call == "sessions") primary_at_sessions = loop().status()->is_primary();
    if (call == "stop fast") primary_at_stop = loop().status()->is_primary();
  };
  pg_.calls.clear();
  const SwitchoverResult r = switchover_to("n3");
  EXPECT_EQ(r.http_status, 200) << r.message;
  EXPECT_NE(r.message.find("n2 -> n3 at 0/5000000 (candidate had 0/5000028), writes refused for"), std::string::npos)
      << r.message;
  EXPECT_NE(r.message.find(", no session to wait for\n"), std::string::npos) << r.message;
  EXPECT_GE(pg_.busy_session_polls, 2) << "an idle server is looked at again one recency window after the 503";
  // The CHECKPOINT runs while writes are still taken, so that the refusal is short.
  EXPECT_TRUE(primary_at_checkpoint) << "/primary answered 503 before the CHECKPOINT";
  EXPECT_FALSE(primary_at_sessions) << "/primary must answer 503 before the grace";
  EXPECT_FALSE(primary_at_stop) << "/primary must answer 503 before PostgreSQL stops";
  // The order: checkpoint, grace, fast stop, shutdown checkpoint, follow the candidate in sync.
  const auto& c = pg_.calls;
  ASSERT_LT(index_of(c, "start_standby"), c.size()) << ::testing::PrintToString(c);
  EXPECT_LT(index_of(c, "checkpoint"), index_of(c, "sessions"));
  EXPECT_LT(index_of(c, "sessions"), index_of(c, "stop fast"));
  EXPECT_LT(index_of(c, "stop fast"), index_of(c, "controldata"));
  EXPECT_LT(index_of(c, "controldata"), index_of(c, "start_standby"));
  EXPECT_TRUE(contains(c, "start_standby 127.0.0.1:5436 in_sync")) << ::testing::PrintToString(c);
  EXPECT_FALSE(any_starts_with(c, "start_primary"));
  // The handover position was published before the leader key went.
  const auto puts = dcs_.puts();
  const auto handover = std::find_if(puts.begin(), puts.end(), [&](const std::string& p) {
    return p.rfind(keys_.status() + "=", 0) == 0 && p.find("\"handover\":83886080") != std::string::npos;
  });
  EXPECT_NE(handover, puts.end()) << ::testing::PrintToString(puts);
  EXPECT_TRUE(contains(dcs_.deletes(), keys_.leader()));
  EXPECT_FALSE(dcs_.get(keys_.leader()));
  EXPECT_FALSE(loop().status()->is_primary());
  EXPECT_TRUE(pg_.in_recovery);
  EXPECT_FALSE(pg_.may_have_diverged()) << "a clean handover needs no rewind";
  EXPECT_TRUE(pg_.violations.empty());
}

// The grace after the 503: the stop waits while sessions are busy, and comes as soon as they are
// done; the answer says how long and for how many.
TEST_F(HaLoopTest, SwitchoverGraceWaitsForBusySessionsThenStops) {
  make_n2_leader();
  peers_.received = kWal + 0x28;
  pg_.busy_sessions = {2, 2, 1, 1, 1, 0};
  int busy_at_stop = -1;
  int polls_at_stop = -1;
  pg_.on_call = [&](const std::string& call) {
    if (call != "stop fast") return;
    busy_at_stop = pg_.last_busy_count;
    polls_at_stop = pg_.busy_session_polls;
  };
  const SwitchoverResult r = switchover_to("n3");
  EXPECT_EQ(r.http_status, 200) << r.message;
  EXPECT_EQ(busy_at_stop, 0) << "stopped while sessions were busy";
  EXPECT_GE(polls_at_stop, 6) << "one poll per count";
  EXPECT_NE(r.message.find(", waited 0."), std::string::npos) << r.message;
  EXPECT_NE(r.message.find(" s for 2 sessions\n"), std::string::npos) << r.message;
  EXPECT_TRUE(pg_.violations.empty());
}

// A client that a proxy lets through just after the 503 (it has not seen it yet) is waited for:
// an idle first count does not end the grace before one recency window has passed.
TEST_F(HaLoopTest, SwitchoverGraceSeesAClientThatArrivesJustAfterTheRefusal) {
  make_n2_leader();
  peers_.received = kWal + 0x28;
  pg_.busy_sessions = {0, 0, 1, 1, 0};  // polls ~20 ms apart: it connects at ~40 ms, done at ~80 ms
  Clock::time_point grace_began{};
  Millis grace_took{-1};
  pg_.on_call = [&](const std::string& call) {
    if (call == "sessions" && grace_began == Clock::time_point{}) grace_began = Clock::now();
    if (call == "stop fast") grace_took = std::chrono::duration_cast<Millis>(Clock::now() - grace_began);
  };
  const SwitchoverResult r = switchover_to("n3");
  EXPECT_EQ(r.http_status, 200) << r.message;
  EXPECT_GE(grace_took, timings_.recent_session);
  EXPECT_NE(r.message.find(" s for 1 session\n"), std::string::npos) << r.message;
}

TEST_F(HaLoopTest, SwitchoverGraceIsBoundedThenStopsAnyway) {
  timings_.grace = 150ms;
  make_n2_leader();
  peers_.received = kWal + 0x28;
  pg_.busy_sessions = {1};  // a session that never finishes
  Clock::time_point grace_began{};
  Millis grace_took{-1};
  pg_.on_call = [&](const std::string& call) {
    if (call == "sessions") grace_began = Clock::now();
    if (call == "stop fast") grace_took = std::chrono::duration_cast<Millis>(Clock::now() - grace_began);
  };
  const SwitchoverResult r = switchover_to("n3");
  EXPECT_EQ(r.http_status, 200) << r.message;
  EXPECT_GE(grace_took, 150ms);
  EXPECT_LT(grace_took, 1000ms);
  EXPECT_GE(pg_.busy_session_polls, 3) << "polled every ~20 ms";
  EXPECT_NE(r.message.find(", grace 0.15 s ran out with 1 session left\n"), std::string::npos) << r.message;
  EXPECT_FALSE(dcs_.get(keys_.leader())) << "handed over all the same";
}

TEST_F(HaLoopTest, SwitchoverGraceOfZeroStopsAtOnce) {
  timings_.grace = 0ms;
  make_n2_leader();
  peers_.received = kWal + 0x28;
  pg_.busy_sessions = {3};
  const SwitchoverResult r = switchover_to("n3");
  EXPECT_EQ(r.http_status, 200) << r.message;
  EXPECT_EQ(pg_.busy_session_polls, 0) << "grace 0 does not even look";
  EXPECT_EQ(r.message.find("session"), std::string::npos) << r.message;
}

// pg_stat_activity cannot be read: stop without waiting (the safe direction), and say so.
TEST_F(HaLoopTest, SwitchoverWhoseSessionCountFailsStopsWithoutGrace) {
  timings_.grace = 5s;
  make_n2_leader();
  peers_.received = kWal + 0x28;
  pg_.fail_busy_sessions = true;
  const auto began = Clock::now();
  const SwitchoverResult r = switchover_to("n3");
  EXPECT_LT(Clock::now() - began, 3s) << "the grace must not be waited out when the count fails";
  EXPECT_EQ(r.http_status, 200) << r.message;
  EXPECT_NE(r.message.find(", sessions not waited for (counting them failed: fake: pg_stat_activity unreadable)"),
            std::string::npos)
      << r.message;
  EXPECT_EQ(pg_.busy_session_polls, 1);
}

// The CHECKPOINT now runs before the 503: its failure leaves everything as it was.
TEST_F(HaLoopTest, FailedCheckpointAbandonsTheSwitchoverBeforeWritesAreRefused) {
  make_n2_leader();
  peers_.received = kWal + 0x28;
  pg_.fail_checkpoint = 1;
  bool stepping_down_seen = false;
  pg_.on_call = [&](const std::string&) { stepping_down_seen |= loop().status()->stepping_down; };
  pg_.calls.clear();
  const SwitchoverResult r = switchover_to("n3");
  EXPECT_EQ(r.http_status, 503) << r.message;
  EXPECT_NE(r.message.find("n2 stays the leader: CHECKPOINT failed: fake: checkpoint failed"), std::string::npos)
      << r.message;
  EXPECT_FALSE(stepping_down_seen) << "/primary answered 503 for a switchover that never started";
  EXPECT_EQ(pg_.calls, std::vector<std::string>{"checkpoint"}) << "nothing stopped, nothing restarted";
  EXPECT_TRUE(dcs_.leads(keys_.leader(), "n2"));
  EXPECT_TRUE(pg_.writable());
  loop().step();
  EXPECT_TRUE(loop().status()->is_primary());
}

// A CHECKPOINT slower than the lease allows the HA thread to block is asked for again after a
// lease refresh, until it is done: the switchover goes on, the watchdog's deadline moves on.
TEST_F(HaLoopTest, SlowCheckpointIsWaitedForInSlicesThatKeepTheLease) {
  config_.retry_timeout = 60ms;
  make_n2_leader();
  peers_.received = kWal + 0x28;
  pg_.slow_checkpoint = 2;
  std::vector<int> keepalives_at_checkpoint;
  pg_.on_call = [&](const std::string& call) {
    if (call == "checkpoint") keepalives_at_checkpoint.push_back(dcs_.keepalives());
  };
  pg_.calls.clear();
  const SwitchoverResult r = switchover_to("n3");
  EXPECT_EQ(r.http_status, 200) << r.message;
  ASSERT_EQ(keepalives_at_checkpoint.size(), 3u) << ::testing::PrintToString(pg_.calls);
  EXPECT_LT(keepalives_at_checkpoint[0], keepalives_at_checkpoint[1]) << "no lease refresh between slices";
  EXPECT_LT(keepalives_at_checkpoint[1], keepalives_at_checkpoint[2]) << "no lease refresh between slices";
  EXPECT_LT(index_of(pg_.calls, "checkpoint"), index_of(pg_.calls, "sessions"));
  EXPECT_TRUE(pg_.violations.empty());
}

TEST_F(HaLoopTest, SwitchoverToAnUnreachableCandidateIsRefusedBeforeAnythingStops) {
  make_n2_leader();
  peers_.api = PeerApiState{false, "connection refused", "", "", false};
  pg_.calls.clear();
  const SwitchoverResult r = switchover_to("n3");
  EXPECT_EQ(r.http_status, 412) << r.message;
  EXPECT_NE(r.message.find("n3 is not reachable: connection refused"), std::string::npos) << r.message;
  EXPECT_FALSE(any_starts_with(pg_.calls, "stop"));
  EXPECT_TRUE(dcs_.leads(keys_.leader(), "n2"));
  EXPECT_FALSE(dcs_.get(keys_.failover())) << "a refused request is withdrawn";
  loop().step();
  EXPECT_TRUE(loop().status()->is_primary());
}

TEST_F(HaLoopTest, SwitchoverToALaggingOrNonReplicaCandidateIsRefused) {
  make_n2_leader();
  peers_.received = kWal - 2 * 1048576;
  SwitchoverResult r = switchover_to("n3");
  EXPECT_EQ(r.http_status, 412) << r.message;
  EXPECT_NE(r.message.find("> maximum_lag_on_failover"), std::string::npos) << r.message;
  peers_.received = kWal;
  peers_.api.role = "master";
  r = switchover_to("n3");
  EXPECT_EQ(r.http_status, 412) << r.message;
  EXPECT_NE(r.message.find("not a running replica"), std::string::npos) << r.message;
  EXPECT_FALSE(any_starts_with(pg_.calls, "stop"));
  EXPECT_TRUE(dcs_.leads(keys_.leader(), "n2"));
}

TEST_F(HaLoopTest, CandidateThatNeverReceivesTheLastWalKeepsTheOldLeaderInCharge) {
  make_n2_leader();
  peers_.received = kWal - 10;  // close enough to pass the check, never past the checkpoint
  pg_.calls.clear();
  const SwitchoverResult r = switchover_to("n3");
  EXPECT_EQ(r.http_status, 503) << r.message;
  EXPECT_NE(r.message.find("had received only 0/4FFFFF6 of 0/5000000"), std::string::npos) << r.message;
  EXPECT_TRUE(dcs_.leads(keys_.leader(), "n2")) << "the lock must not be released";
  EXPECT_TRUE(contains(pg_.calls, "start_primary")) << ::testing::PrintToString(pg_.calls);
  EXPECT_TRUE(pg_.writable());
  for (const std::string& p : dcs_.puts()) EXPECT_EQ(p.find("handover"), std::string::npos) << p;
  EXPECT_TRUE(pg_.violations.empty());
}

TEST_F(HaLoopTest, FailedStopDuringSwitchoverKeepsTheLock) {
  make_n2_leader();
  peers_.received = kWal + 0x28;
  pg_.fail_stop = 1;
  pg_.calls.clear();
  const SwitchoverResult r = switchover_to("n3");
  EXPECT_EQ(r.http_status, 503) << r.message;
  EXPECT_NE(r.message.find("stopping PostgreSQL failed"), std::string::npos) << r.message;
  EXPECT_TRUE(dcs_.leads(keys_.leader(), "n2"));
  EXPECT_FALSE(contains(pg_.calls, "controldata"));
  EXPECT_FALSE(contains(dcs_.deletes(), keys_.leader()));
}

TEST_F(HaLoopTest, UnreadableShutdownCheckpointOrFailedPublishKeepsTheLock) {
  make_n2_leader();
  peers_.received = kWal + 0x28;
  pg_.fail_controldata = 1;
  SwitchoverResult r = switchover_to("n3");
  EXPECT_EQ(r.http_status, 503) << r.message;
  EXPECT_NE(r.message.find("shutdown checkpoint"), std::string::npos) << r.message;
  EXPECT_TRUE(dcs_.leads(keys_.leader(), "n2"));
  EXPECT_TRUE(pg_.writable()) << "restarted as the primary";

  loop().step();
  dcs_.fail_put_key = keys_.status();
  dcs_.fail_put = 1;
  r = switchover_to("n3");
  EXPECT_EQ(r.http_status, 503) << r.message;
  EXPECT_NE(r.message.find("publishing the handover position failed"), std::string::npos) << r.message;
  EXPECT_TRUE(dcs_.leads(keys_.leader(), "n2"));
  EXPECT_FALSE(contains(dcs_.deletes(), keys_.leader()));
  EXPECT_TRUE(pg_.writable());
}

TEST_F(HaLoopTest, SwitchoverRequestOnAReplicaIsForwardedToTheLeader) {
  replicas_n1_n3();
  set_member("n1", 5434, "primary", "running", kWal);
  dcs_.set(keys_.leader(), "n1", others_lease_);
  pg_.running = pg_.in_recovery = pg_.standby_signal = true;
  pg_.following = "127.0.0.1:5434";
  loop().step();
  const SwitchoverResult r = loop().request_switchover(SwitchoverRequest{"n1", "n3", std::nullopt}, false);
  EXPECT_EQ(r.http_status, 200) << r.message;
  EXPECT_EQ(peers_.forwarded_to, "n1");
}

TEST_F(HaLoopTest, CandidateBehindTheHandoverPositionDropsTheRequestAndNobodyBehindItCampaigns) {
  replicas_n1_n3(kWal - 1000);
  pg_.running = pg_.in_recovery = pg_.standby_signal = true;
  pg_.wal = kWal - 10;
  dcs_.set(keys_.status(), encode_handover_optime(kWal));
  dcs_.set(keys_.failover(), encode_failover({"n1", "n2"}));
  loop().step();
  EXPECT_FALSE(dcs_.get(keys_.failover())) << "the request cannot be honoured safely: dropped";
  loop().step();
  EXPECT_FALSE(dcs_.get(keys_.leader())) << "a member behind the handover position took the lock";
  pg_.wal = kWal;  // caught up (e.g. the old leader's WAL arrived)
  loop().step();
  EXPECT_TRUE(dcs_.leads(keys_.leader(), "n2"));
}

TEST_F(HaLoopTest, ExitStepsDownOnlyOncePostgresIsStopped) {
  make_n2_leader();
  pg_.fail_stop = 1;
  pg_.fail_demote = 1;
  loop().step_down_on_exit();
  EXPECT_TRUE(dcs_.leads(keys_.leader(), "n2")) << "released the lock while PostgreSQL may still be writable";
  EXPECT_TRUE(dcs_.revoked().empty()) << "revoked the lease while PostgreSQL may still be writable";

  pg_.running = true;
  loop().step_down_on_exit();
  EXPECT_FALSE(pg_.running);
  EXPECT_FALSE(dcs_.get(keys_.leader()));
  EXPECT_EQ(dcs_.revoked().size(), 1u);
}

TEST_F(HaLoopTest, FailedFencingDemoteKeepsTheLockAndRetries) {
  config_.loop_wait = std::chrono::seconds(0);
  config_.retry_timeout = 30ms;
  make_n2_leader();
  dcs_.fail_keepalive = 1000;  // the lease cannot be refreshed: the lock falls into doubt
  pg_.fail_demote = 1;
  loop().step();  // first failed refresh: doubt starts
  std::this_thread::sleep_for(40ms);  // age the last refresh past retry_timeout
  pg_.calls.clear();
  loop().step();
  EXPECT_EQ(pg_.calls, std::vector<std::string>{"demote"});
  EXPECT_TRUE(pg_.running);
  EXPECT_TRUE(dcs_.get(keys_.leader())) << "released the lock although the demote failed";
  loop().step();
  EXPECT_FALSE(pg_.running) << "the demote is retried";
  EXPECT_FALSE(dcs_.get(keys_.leader()));
}

// initdb takes seconds, a short ttl's worth: the lease is refreshed before the lock is taken, so
// that the watchdog, armed from the last refresh, does not fence the new primary at once.
TEST_F(HaLoopTest, BootstrapRefreshesTheLeaseBeforeTakingTheLock) {
  dcs_.erase(keys_.initialize());
  pg_.data = false;
  int keepalives_at_bootstrap = -1;
  pg_.on_call = [&](const std::string& call) {
    if (call == "bootstrap") keepalives_at_bootstrap = dcs_.keepalives();
  };
  pg_.may_be_writable = nullptr;  // bootstrap's own start precedes the lock
  loop().step();
  EXPECT_EQ(pg_.calls, std::vector<std::string>{"bootstrap"});
  EXPECT_TRUE(dcs_.leads(keys_.leader(), "n2"));
  EXPECT_GT(dcs_.keepalives(), keepalives_at_bootstrap);
}

TEST_F(HaLoopTest, BootstrapWinnerThatLosesTheLockStopsItsNewPrimary) {
  dcs_.erase(keys_.initialize());
  pg_.data = false;
  pg_.on_call = [&](const std::string& call) {
    if (call == "bootstrap") dcs_.set(keys_.leader(), "n1", others_lease_);  // someone else got the lock meanwhile
  };
  pg_.may_be_writable = nullptr;  // bootstrap's own start precedes the lock
  loop().step();
  EXPECT_EQ(pg_.calls, (std::vector<std::string>{"bootstrap", "demote"}));
  EXPECT_FALSE(pg_.running);
}

TEST_F(HaLoopTest, FailedBootstrapWithdrawsTheInitializeKeyRetryingUntilItIsGone) {
  dcs_.erase(keys_.initialize());
  pg_.data = false;
  pg_.fail_bootstrap = true;
  dcs_.fail_delete = 1;
  loop().step();
  EXPECT_TRUE(dcs_.get(keys_.initialize())) << "the first delete was made to fail";
  pg_.data = true;  // leave the bootstrap path; the next iteration only retries the delete
  loop().step();
  EXPECT_FALSE(dcs_.get(keys_.initialize()));
}

// Random views, faults and requests; after every step in which etcd was readable, a writable
// PostgreSQL means n2 holds the leader key under a live lease, and no start or promotion ever
// happened without it (FakePostgres checks at the moment it would become writable).
TEST_F(HaLoopTest, NoSequenceOfViewsMakesAMemberWithoutTheLockWritable) {
  timings_.catch_up = 30ms;
  std::mt19937 rng(20261201);
  auto pick = [&](int n) { return static_cast<int>(rng() % static_cast<unsigned>(n)); };
  make_n2_leader();
  int checked = 0;
  for (int round = 0; round < 3000; ++round) {
    bool unreachable = false;
    for (int faults = 1 + pick(3); faults > 0; --faults)
    switch (pick(12)) {
      case 0: dcs_.erase(keys_.leader()); break;
      case 1:
        set_member("n1", 5434, "primary", "running", kWal + pick(3) * 100 - 100);
        dcs_.erase(keys_.leader());
        dcs_.set(keys_.leader(), "n1", others_lease_);
        break;
      case 2:
        if (auto me = dcs_.get(keys_.member("n2"))) dcs_.expire(me->lease);
        break;
      case 3: pg_.crash(); break;
      case 4: {
        const FailoverRequest requests[] = {{"n2", "n3"}, {"", "n2"}, {"n1", "n2"}, {"n2", ""}};
        dcs_.set(keys_.failover(), encode_failover(requests[pick(4)]));
        break;
      }
      case 5:
        dcs_.fail_range = 1;
        unreachable = true;
        break;
      case 6: dcs_.set(keys_.status(), pick(2) ? encode_handover_optime(kWal + pick(3) - 1) : encode_leader_optime(kWal)); break;
      case 7:
        peers_.api.reachable = pick(4) != 0;
        peers_.received = kWal + pick(3) * 0x28 - 0x28;
        break;
      case 8: set_member("n1", 5434, "replica", pick(2) ? "running" : "stopped", kWal + pick(3) - 1); break;
      case 9: pg_.fail_stop = pick(2); break;
      case 10: pg_.wal += pick(100); break;
      default: break;
    }
    loop().step();
    if (unreachable) continue;
    ++checked;
    if (pg_.writable()) {
      ASSERT_TRUE(dcs_.leads(keys_.leader(), "n2"))
          << "round " << round << ": writable without the lock; calls: " << ::testing::PrintToString(pg_.calls);
    }
    ASSERT_TRUE(pg_.violations.empty()) << "round " << round << ": " << pg_.violations.front();
  }
  EXPECT_GT(checked, 2000);
}

// Patroni's hooks around the loop's actions, run as real scripts that record their arguments.
class HaLoopHooksTest : public HaLoopTest {
 protected:
  ~HaLoopHooksTest() override { loop_.reset(); }  // the loop uses hooks_ until it goes

  // The loop with the hooks of config_ (set them before the first call).
  HaLoop& hooked_loop() {
    if (!hooks_) {
      PostgresCallbacksOptions options;
      options.log_path = scripts_.path("callbacks.log");
      options.run_as = "";  // the scripts' directory is private, also when the test runs as root
      hooks_ = std::make_unique<PostgresCallbacks>(config_, options);
      callbacks_ = hooks_.get();
    }
    return loop();
  }
  // n2 runs a replica of n1, which is gone: no leader, n2 is the healthiest member.
  void n2_replica_without_leader() {
    pg_.running = true;
    pg_.in_recovery = pg_.standby_signal = true;
    pg_.following = "127.0.0.1:5434";
    replicas_n1_n3(kWal - 100);
  }
  void step_until_n2_leads() {
    for (int i = 0; i < 5 && !dcs_.leads(keys_.leader(), "n2"); ++i) hooked_loop().step();
    ASSERT_TRUE(dcs_.leads(keys_.leader(), "n2"));
  }
  // The next line a callback wrote to "events", waited for.
  std::string next_event() {
    if (!scripts_.wait_lines("events", seen_ + 1)) return "(none)";
    return scripts_.lines("events")[seen_++];
  }
  bool no_more_events() {
    EXPECT_TRUE(hooks_->wait_idle(10s));
    return scripts_.lines("events").size() == seen_;
  }
  Millis timed_step() {
    const auto begun = Clock::now();
    hooked_loop().step();
    return std::chrono::duration_cast<Millis>(Clock::now() - begun);
  }
  test::HookScripts scripts_;
  std::unique_ptr<PostgresCallbacks> hooks_;
  std::size_t seen_ = 0;
};

// pre_promote says no: no promotion, the lock is released at once so that another member can take
// over, and n2 stays out of the race for ttl (it does not take the lock back and ask again at
// every iteration); after that it campaigns again, and promotes once pre_promote agrees.
TEST_F(HaLoopHooksTest, PrePromoteRefusalCancelsThePromotionReleasesTheLockAndBacksOffForTtl) {
  config_.ttl = std::chrono::seconds(2);
  config_.pre_promote = {scripts_.recorder("pre.sh", "pre", 1)};
  n2_replica_without_leader();
  step_until_n2_leads();
  pg_.calls.clear();
  hooked_loop().step();
  const auto released = Clock::now();
  EXPECT_EQ(scripts_.lines("pre").size(), 1u);
  EXPECT_FALSE(contains(pg_.calls, "promote")) << ::testing::PrintToString(pg_.calls);
  EXPECT_TRUE(pg_.in_recovery);
  EXPECT_FALSE(dcs_.get(keys_.leader())) << "the lock is still held after pre_promote refused";
  EXPECT_TRUE(contains(dcs_.deletes(), keys_.leader()));
  for (int i = 0; i < 3; ++i) hooked_loop().step();
  EXPECT_FALSE(dcs_.get(keys_.leader())) << "took the lock back within ttl";
  EXPECT_EQ(scripts_.lines("pre").size(), 1u) << "asked pre_promote again within ttl";
  EXPECT_NE(hooked_loop().status()->last_action.find("backing off"), std::string::npos)
      << hooked_loop().status()->last_action;

  scripts_.recorder("pre.sh", "pre", 0);  // the fencing condition has cleared
  std::optional<Clock::time_point> retaken;
  while (!pg_.writable() && Clock::now() < released + 10s) {
    hooked_loop().step();
    if (!retaken && dcs_.leads(keys_.leader(), "n2")) retaken = Clock::now();
    std::this_thread::sleep_for(20ms);  // polling: the backoff runs on the clock
  }
  ASSERT_TRUE(retaken.has_value());
  EXPECT_GE(*retaken - released, std::chrono::seconds(2) - 100ms);
  EXPECT_TRUE(pg_.writable());
  EXPECT_EQ(scripts_.lines("pre").size(), 2u);
  EXPECT_TRUE(pg_.violations.empty()) << pg_.violations.front();
}

// The release after a refusal fails (etcd did not answer): n2 holds the lock as a standby, so it
// retries the release at the next iteration, and never promotes or asks pre_promote again.
TEST_F(HaLoopHooksTest, AReleaseThatFailsAfterARefusalIsRetriedWithoutPromoting) {
  config_.pre_promote = {scripts_.recorder("pre.sh", "pre", 1)};
  n2_replica_without_leader();
  step_until_n2_leads();
  dcs_.fail_delete = 1;
  pg_.calls.clear();
  hooked_loop().step();
  EXPECT_TRUE(dcs_.leads(keys_.leader(), "n2"));
  hooked_loop().step();
  EXPECT_FALSE(dcs_.get(keys_.leader()));
  for (int i = 0; i < 2; ++i) hooked_loop().step();
  EXPECT_FALSE(contains(pg_.calls, "promote")) << ::testing::PrintToString(pg_.calls);
  EXPECT_EQ(scripts_.lines("pre").size(), 1u);
  EXPECT_TRUE(pg_.violations.empty());
}

// A pre_promote that hangs is killed at its deadline, within retry_timeout: the loop goes on, and
// the promotion is cancelled as for a refusal.
TEST_F(HaLoopHooksTest, APrePromoteThatHangsIsKilledWithinRetryTimeoutAndCancelsThePromotion) {
  config_.pre_promote = {scripts_.sleeper("pre.sh", "pre", "pre.pid", 60)};
  n2_replica_without_leader();
  step_until_n2_leads();
  pg_.calls.clear();
  const Millis took = timed_step();
  EXPECT_LE(took, config_.retry_timeout + 500ms);
  EXPECT_TRUE(test::HookScripts::wait_dead(scripts_.pid_in("pre.pid")));
  EXPECT_FALSE(contains(pg_.calls, "promote"));
  EXPECT_FALSE(dcs_.get(keys_.leader()));
}

// on_role_change fires once per change, with `<action> <role> <scope>`: after the promotion (and
// after pre_promote, which runs before it), and when the former primary, fenced by a new leader,
// comes back as its standby (on_stop first, as the primary it was).
TEST_F(HaLoopHooksTest, CallbacksFireOnceWithTheRightArgumentsOnPromotionAndDemotion) {
  const std::string cb = scripts_.recorder("cb.sh", "events");
  for (const char* event : {"on_start", "on_stop", "on_restart", "on_role_change"}) config_.callbacks[event] = {cb};
  config_.pre_promote = {scripts_.recorder("pre.sh", "pre")};
  std::size_t pre_runs_at_promote = 0;
  pg_.on_call = [&](const std::string& call) {
    if (call == "promote") pre_runs_at_promote = scripts_.lines("pre").size();
  };
  n2_replica_without_leader();
  step_until_n2_leads();
  EXPECT_EQ(next_event(), "on_start replica postgres");  // found running when the agent started
  hooked_loop().step();
  ASSERT_TRUE(pg_.writable());
  EXPECT_EQ(pre_runs_at_promote, 1u);
  EXPECT_EQ(next_event(), "on_role_change primary postgres");
  for (int i = 0; i < 3; ++i) hooked_loop().step();
  EXPECT_TRUE(no_more_events());

  // n2's lease runs out; n1 leads: n2 is fenced and rejoins as n1's standby.
  dcs_.expire(dcs_.get(keys_.leader())->lease);
  set_member("n1", 5434, "primary", "running", kWal + 100);
  dcs_.set(keys_.leader(), "n1", others_lease_);
  hooked_loop().step();
  ASSERT_TRUE(pg_.in_recovery);
  EXPECT_EQ(next_event(), "on_stop primary postgres");
  hooked_loop().step();
  EXPECT_EQ(next_event(), "on_role_change replica postgres");
  for (int i = 0; i < 3; ++i) hooked_loop().step();
  EXPECT_TRUE(no_more_events());
  EXPECT_TRUE(pg_.violations.empty());
}

// As Patroni's: on_reload fires when the leader changes synchronous_standby_names (a reload).
TEST_F(HaLoopHooksTest, OnReloadFiresWhenSynchronousStandbyNamesChange) {
  config_.synchronous_mode = true;
  config_.callbacks["on_reload"] = {scripts_.recorder("cb.sh", "events")};
  pg_.replication = {{"n1", true, "async", kWal - 100}, {"n3", true, "async", kWal}};
  hooks_.reset();
  (void)hooked_loop();
  make_n2_leader();
  ASSERT_EQ(pg_.standby_names, R"(FIRST 1 ("n3"))");
  EXPECT_EQ(next_event(), "on_reload primary postgres");
  pg_.replication.erase(pg_.replication.begin() + 1);
  hooked_loop().step();
  ASSERT_EQ(pg_.standby_names, R"(FIRST 1 ("n1"))");
  EXPECT_EQ(next_event(), "on_reload primary postgres");
  hooked_loop().step();
  EXPECT_TRUE(no_more_events());
}

// A callback that hangs never holds the loop up, and is killed at callback_timeout.
TEST_F(HaLoopHooksTest, AHungCallbackIsKilledAtItsDeadlineAndDoesNotDelayTheLoop) {
  config_.callback_timeout = 500ms;
  config_.callbacks["on_role_change"] = {scripts_.sleeper("hung.sh", "events", "hung.pid", 60)};
  n2_replica_without_leader();
  step_until_n2_leads();
  EXPECT_LT(timed_step(), 400ms);  // promotes and fires on_role_change
  ASSERT_TRUE(pg_.writable());
  const pid_t hung = scripts_.wait_pid("hung.pid");
  ASSERT_NE(hung, 0);
  EXPECT_LT(timed_step(), 400ms);
  EXPECT_TRUE(test::HookScripts::wait_dead(hung)) << "the hung callback outlived its deadline";
  ASSERT_TRUE(hooks_->wait_idle(5s));
  ASSERT_EQ(hooks_->completed().size(), 1u);
  EXPECT_TRUE(hooks_->completed().front().result.timed_out);
}

// before_stop runs, and ends, before the switchover's stop.
TEST_F(HaLoopHooksTest, BeforeStopRunsBeforeTheSwitchoverStops) {
  config_.before_stop = {scripts_.recorder("before.sh", "before")};
  hooked_loop();
  make_n2_leader();
  peers_.received = kWal + 0x28;
  std::size_t before_runs_at_stop = 0;
  pg_.on_call = [&](const std::string& call) {
    if (call == "stop fast") before_runs_at_stop = scripts_.lines("before").size();
  };
  const SwitchoverResult r = switchover_to("n3");
  EXPECT_EQ(r.http_status, 200) << r.message;
  EXPECT_EQ(before_runs_at_stop, 1u);
  EXPECT_EQ(scripts_.lines("before"), std::vector<std::string>{""}) << "before_stop takes no arguments";
}

// ... and before the agent's own stop on exit; the stop's callback is let finish.
TEST_F(HaLoopHooksTest, BeforeStopRunsBeforeTheStopOnExitAndOnStopFires) {
  config_.before_stop = {scripts_.recorder("before.sh", "before")};
  config_.callbacks["on_stop"] = {scripts_.recorder("cb.sh", "events")};
  hooked_loop();
  make_n2_leader();
  std::size_t before_runs_at_stop = 0;
  pg_.on_call = [&](const std::string& call) {
    if (call == "stop fast") before_runs_at_stop = scripts_.lines("before").size();
  };
  hooked_loop().step_down_on_exit();
  EXPECT_EQ(before_runs_at_stop, 1u);
  EXPECT_FALSE(pg_.running);
  EXPECT_EQ(next_event(), "on_stop primary postgres");
}

// A fencing stop waits for no script: a leader that cannot refresh its lease demotes at once.
TEST_F(HaLoopHooksTest, AFencingDemoteDoesNotWaitForBeforeStop) {
  config_.loop_wait = std::chrono::seconds(0);
  config_.retry_timeout = 30ms;
  config_.before_stop = {scripts_.sleeper("before.sh", "before", "before.pid", 60)};
  config_.callbacks["on_stop"] = {scripts_.recorder("cb.sh", "events")};
  hooked_loop();
  make_n2_leader();
  dcs_.fail_keepalive = 1000;
  hooked_loop().step();  // first failed refresh: doubt starts
  const auto deadline = Clock::now() + 5s;
  while (pg_.running && Clock::now() < deadline) {
    std::this_thread::sleep_for(40ms);  // age the last refresh past retry_timeout
    hooked_loop().step();
  }
  EXPECT_FALSE(pg_.running);
  EXPECT_TRUE(scripts_.lines("before").empty());
  EXPECT_EQ(next_event(), "on_stop primary postgres");
}

}  // namespace
}  // namespace pgha::election
