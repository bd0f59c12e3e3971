// decide() and is_healthiest(): one table row per rule of the HA state machine and its edges,
// then an exhaustive sweep over the input space checking the safety invariants.
#include "election/ha_decision.h"

#include <set>
#include <string>
#include <vector>

#include <gtest/gtest.h>

namespace pgha::election {
namespace {

using std::chrono::milliseconds;

constexpr std::int64_t kMiB = 1048576;
constexpr std::int64_t kWal = 100 * kMiB;  // "our" WAL position in most rows

HaSettings settings() {
  HaSettings s;
  s.ttl = milliseconds{10000};
  s.loop_wait = milliseconds{2000};
  s.retry_timeout = milliseconds{4000};
  s.maximum_lag_on_failover = kMiB;
  return s;
}

MemberStatus member(std::string name, std::string role, std::string state, std::int64_t wal, bool nofailover = false) {
  MemberStatus m;
  m.name = std::move(name);
  m.role = std::move(role);
  m.state = std::move(state);
  m.conn_url = "postgres://127.0.0.1:5434/postgres";
  m.api_url = "http://127.0.0.1:8008/patroni";
  m.wal_position = wal;
  m.timeline = 2;
  m.nofailover = nofailover;
  return m;
}

// n1 leads (or led), n2 is "me", n3 the other replica.
ClusterView cluster(std::optional<std::string> leader, std::vector<MemberStatus> members) {
  ClusterView c;
  c.initialized = true;
  c.leader = std::move(leader);
  c.members = std::move(members);
  return c;
}
ClusterView three(std::optional<std::string> leader, std::int64_t n1_wal = kWal, std::int64_t n3_wal = kWal) {
  return cluster(std::move(leader), {member("n1", "primary", "running", n1_wal), member("n2", "replica", "running", kWal),
                                     member("n3", "replica", "running", n3_wal)});
}
// The old leader n1 is gone (its member key expired with its lease); n2 and n3 remain.
ClusterView leaderless(std::int64_t n3_wal = kWal, bool n3_nofailover = false, std::string n3_state = "running") {
  return cluster(std::nullopt, {member("n2", "replica", "running", kWal),
                                member("n3", "replica", std::move(n3_state), n3_wal, n3_nofailover)});
}
ClusterView with_failover(ClusterView c, std::string leader, std::string candidate) {
  c.failover = FailoverRequest{std::move(leader), std::move(candidate)};
  return c;
}
ClusterView unreachable(ClusterView c) {
  c.dcs_reachable = false;
  return c;
}
ClusterView uninitialized(ClusterView c) {
  c.initialized = false;
  return c;
}
ClusterView handover_at(ClusterView c, std::int64_t wal) {
  c.last_leader_wal_position = wal;
  c.handover_wal_position = wal;
  return c;
}
ClusterView last_leader_at(ClusterView c, std::int64_t wal) {
  c.last_leader_wal_position = wal;
  return c;
}

LocalState replica(std::string following = "n1", std::int64_t wal = kWal) {
  LocalState l;
  l.name = "n2";
  l.data_dir_initialized = true;
  l.postgres_running = true;
  l.in_recovery = true;
  l.wal_position = wal;
  l.timeline = 2;
  l.following = std::move(following);
  return l;
}
LocalState primary(bool holds_lock, milliseconds since_refresh = milliseconds{2000}) {
  LocalState l = replica("", kWal);
  l.in_recovery = false;
  l.holds_lock = holds_lock;
  l.since_last_refresh = since_refresh;
  return l;
}
LocalState empty_node() {
  LocalState l;
  l.name = "n2";
  return l;
}
LocalState stopped(bool holds_lock = false) {
  LocalState l = replica("");
  l.postgres_running = false;
  l.in_recovery = false;
  l.holds_lock = holds_lock;
  return l;
}
LocalState nofailover(LocalState l) {
  l.nofailover = true;
  return l;
}
LocalState holding(LocalState l, milliseconds since_refresh = milliseconds{2000}) {
  l.holds_lock = true;
  l.since_last_refresh = since_refresh;
  return l;
}

struct Row {
  std::string name;
  ClusterView cluster;
  LocalState local;
  Action action;
  std::string target;
  std::string reason_has;  // a word the reason must contain
};

std::vector<Row> rows() {
  return {
      // --- no data directory ---
      {"not_initialized_no_data_races", uninitialized(cluster(std::nullopt, {})), empty_node(),
       Action::kRaceToInitialize, "", "not initialized"},
      {"not_initialized_nofailover_waits", uninitialized(cluster(std::nullopt, {})), nofailover(empty_node()),
       Action::kWaitForLeader, "", "nofailover"},
      {"not_initialized_but_leader_clones", uninitialized(three("n1")), empty_node(), Action::kCloneFromLeader, "n1",
       "cloning"},
      {"no_data_leader_running_clones", three("n1"), empty_node(), Action::kCloneFromLeader, "n1", "cloning"},
      {"no_data_no_leader_waits", leaderless(), empty_node(), Action::kWaitForLeader, "", "waiting"},
      {"no_data_leader_stopped_waits",
       cluster("n1", {member("n1", "primary", "stopped", kWal)}), empty_node(), Action::kWaitForLeader, "n1", "stopped"},
      {"no_data_stale_leader_not_member_waits", three("ghost"), empty_node(), Action::kWaitForLeader, "ghost",
       "no member status"},
      {"no_data_holding_lock_releases", three("n2"), holding(empty_node()), Action::kReleaseLock, "", "without a data"},
      {"no_data_leader_key_names_us_waits", three("n2"), empty_node(), Action::kWaitForLeader, "", "earlier lease"},

      // --- data, PostgreSQL down ---
      {"down_with_leader_starts_as_its_standby", three("n1"), stopped(), Action::kStartAsStandby, "n1", "standby of n1"},
      {"down_without_leader_starts_as_standby", leaderless(), stopped(), Action::kStartAsStandby, "", "no leader"},
      {"down_holding_lock_starts_as_primary", three("n2"), stopped(true), Action::kStartAsPrimary, "n2", "hold the lock"},
      {"down_stale_key_names_us_starts_as_standby", three("n2"), stopped(false), Action::kStartAsStandby, "", "standby"},
      {"down_after_switchover_pending_starts_as_standby", with_failover(leaderless(), "n2", "n3"), stopped(false),
       Action::kStartAsStandby, "", "standby"},

      // --- no leader: who campaigns ---
      {"no_leader_healthiest_acquires", leaderless(kWal - 1), replica(""), Action::kAcquireLock, "", "healthiest"},
      {"no_leader_equal_wal_n2_campaigns", leaderless(kWal), replica(""), Action::kAcquireLock, "", "healthiest"},
      {"no_leader_behind_waits", leaderless(kWal + 1), replica(""), Action::kNothing, "", "n3 is ahead"},
      {"no_leader_lag_exactly_at_bound_campaigns", last_leader_at(leaderless(kWal - 5), kWal + kMiB), replica(""),
       Action::kAcquireLock, "", "1048576 bytes <= maximum_lag"},
      {"no_leader_lag_one_byte_over_waits", last_leader_at(leaderless(kWal - 5), kWal + kMiB + 1), replica(""),
       Action::kNothing, "", "> maximum_lag_on_failover"},
      {"no_leader_nofailover_never_campaigns", leaderless(kWal - 100), nofailover(replica("")), Action::kNothing, "",
       "nofailover"},
      {"no_leader_nofailover_member_ahead_does_not_block", leaderless(kWal + 100, true), replica(""),
       Action::kAcquireLock, "", "healthiest"},
      {"no_leader_nofailover_member_too_far_ahead_lag_bound", leaderless(kWal + kMiB + 1, true), replica(""),
       Action::kNothing, "", "maximum_lag_on_failover"},
      {"no_leader_stopped_member_ahead_does_not_block", leaderless(kWal + 100, false, "stopped"), replica(""),
       Action::kAcquireLock, "", "healthiest"},
      {"no_leader_primary_reacquires", leaderless(kWal - 10), primary(false), Action::kAcquireLock, "", "healthiest"},
      {"no_leader_primary_key_vanished_reacquires", leaderless(kWal - 10), primary(true), Action::kAcquireLock, "",
       "taking the lock"},
      {"no_leader_primary_nofailover_demotes", leaderless(kWal - 10), nofailover(primary(false)), Action::kDemote, "",
       "nofailover"},
      {"no_leader_primary_behind_demotes", leaderless(kWal + 10), primary(false), Action::kDemote, "", "n3 is ahead"},
      {"no_leader_uninitialized_with_data_acquires", uninitialized(leaderless(kWal - 1)), replica(""),
       Action::kAcquireLock, "", "healthiest"},

      // --- no leader: failover/switchover requests ---
      {"failover_names_me_though_behind_campaigns", with_failover(leaderless(kWal + 1000), "", "n2"), replica(""),
       Action::kAcquireLock, "", "names us"},
      {"failover_names_me_lag_too_big_waits", with_failover(leaderless(kWal + kMiB + 1), "", "n2"), replica(""),
       Action::kNothing, "", "maximum_lag_on_failover"},
      {"failover_names_other_running_member_waits", with_failover(leaderless(kWal - 1000), "", "n3"), replica(""),
       Action::kNothing, "", "names n3"},
      {"failover_names_absent_member_ordinary_rule", with_failover(leaderless(kWal - 1), "", "n9"), replica(""),
       Action::kAcquireLock, "", "healthiest"},
      {"failover_names_nofailover_member_ordinary_rule", with_failover(leaderless(kWal - 1, true), "", "n3"),
       replica(""), Action::kAcquireLock, "", "healthiest"},
      {"switchover_away_from_me_pending_waits", with_failover(leaderless(kWal - 1), "n2", ""), replica(""),
       Action::kNothing, "", "switchover away"},
      {"switchover_candidate_at_handover_campaigns",
       handover_at(with_failover(leaderless(kWal - 1), "n1", "n2"), kWal), replica(""), Action::kAcquireLock, "",
       "names us"},
      {"switchover_candidate_behind_handover_drops_request",
       handover_at(with_failover(leaderless(kWal - 1), "n1", "n2"), kWal + 1), replica(""),
       Action::kDropFailoverRequest, "", "handover position"},
      {"behind_handover_never_campaigns_even_if_healthiest", handover_at(leaderless(kWal - 1), kWal + 1), replica(""),
       Action::kNothing, "", "handed over"},
      {"switchover_away_from_me_no_other_eligible_campaigns",
       with_failover(leaderless(kWal - 1, false, "stopped"), "n2", ""), replica(""), Action::kAcquireLock, "",
       "healthiest"},

      // --- we lead ---
      {"holding_lock_in_recovery_promotes", three("n2"), holding(replica("")), Action::kPromote, "", "promoting"},
      {"holding_lock_primary_refreshes", three("n2"), primary(true), Action::kRefreshLock, "", "refreshing"},
      {"refresh_just_below_retry_timeout_refreshes", three("n2"), primary(true, milliseconds{3999}),
       Action::kRefreshLock, "", "refreshing"},
      {"refresh_at_retry_timeout_demotes", three("n2"), primary(true, milliseconds{4000}), Action::kDemote, "",
       "retry_timeout"},
      {"refresh_overdue_in_recovery_does_not_promote", three("n2"), holding(replica(""), milliseconds{4000}),
       Action::kNothing, "", "not promoting"},
      {"refresh_overdue_pg_down_does_not_start", three("n2"), holding(stopped(), milliseconds{9000}),
       Action::kNothing, "", "not promoting or starting"},
      {"switchover_to_candidate_releases", with_failover(three("n2"), "n2", "n3"), primary(true),
       Action::kReleaseLock, "n3", "switchover to n3"},
      {"switchover_without_leader_field_releases", with_failover(three("n2"), "", "n3"), primary(true),
       Action::kReleaseLock, "n3", "switchover to n3"},
      {"switchover_any_candidate_releases", with_failover(three("n2"), "n2", ""), primary(true), Action::kReleaseLock,
       "", "healthiest other"},
      {"switchover_while_in_recovery_refused_promotes", with_failover(three("n2"), "n2", "n3"), holding(replica("")),
       Action::kPromote, "", "not primary yet"},
      {"switchover_candidate_not_running_ignored",
       with_failover(cluster("n2", {member("n2", "primary", "running", kWal), member("n3", "replica", "stopped", kWal)}),
                     "n2", "n3"),
       primary(true), Action::kRefreshLock, "", "ignoring a switchover to n3"},
      {"switchover_candidate_nofailover_ignored",
       with_failover(cluster("n2", {member("n2", "primary", "running", kWal),
                                    member("n3", "replica", "running", kWal, true)}),
                     "n2", "n3"),
       primary(true), Action::kRefreshLock, "", "ignoring"},
      {"switchover_for_other_leader_ignored", with_failover(three("n2"), "n1", "n3"), primary(true),
       Action::kRefreshLock, "", "for leader n1"},
      {"switchover_naming_me_ignored", with_failover(three("n2"), "n2", "n2"), primary(true), Action::kRefreshLock, "",
       "already lead"},
      {"switchover_no_other_eligible_ignored",
       with_failover(cluster("n2", {member("n2", "primary", "running", kWal)}), "n2", ""), primary(true),
       Action::kRefreshLock, "", "no other"},

      // --- the leader key names us but the lease is not ours ---
      {"stale_own_key_primary_demotes", three("n2"), primary(false), Action::kDemote, "", "do not hold"},
      {"stale_own_key_replica_waits", three("n2"), replica(""), Action::kNothing, "", "earlier lease"},

      // --- another member leads ---
      {"other_leader_primary_rewinds", three("n1"), primary(false), Action::kRewindAndFollow, "n1", "rewinding"},
      {"other_leader_primary_thinking_it_holds_rewinds", three("n1"), primary(true), Action::kRewindAndFollow, "n1",
       "rewinding"},
      {"other_stale_leader_not_member_primary_demotes", three("ghost"), primary(false), Action::kDemote, "ghost",
       "no member status"},
      {"other_leader_replica_of_nobody_follows", three("n1"), replica(""), Action::kFollowLeader, "n1", "nobody"},
      {"other_leader_replica_of_old_leader_follows", three("n1"), replica("n3"), Action::kFollowLeader, "n1",
       "instead of n3"},
      {"other_leader_replica_following_it_does_nothing", three("n1"), replica("n1"), Action::kNothing, "n1",
       "following leader n1"},
      {"other_stale_leader_not_member_replica_waits", three("ghost"), replica("n1"), Action::kNothing, "ghost",
       "no member status"},
      {"failover_naming_me_while_other_leads_follows", with_failover(three("n1"), "n1", "n2"), replica("n1"),
       Action::kNothing, "n1", "following"},

      // --- pre_promote refused our promotion ---
      {"refused_promotion_holding_the_lock_releases_it", three("n2"), [] {
         LocalState l = holding(replica(""));
         l.promotion_refused = true;
         return l;
       }(), Action::kReleaseLock, "", "pre_promote refused"},
      {"refused_promotion_backs_off_from_the_race", leaderless(kWal - 10), [] {
         LocalState l = replica("");
         l.promotion_refused = true;
         return l;
       }(), Action::kNothing, "", "backing off"},
      {"refused_promotion_backs_off_from_a_failover_naming_us", with_failover(leaderless(kWal - 10), "", "n2"), [] {
         LocalState l = replica("");
         l.promotion_refused = true;
         return l;
       }(), Action::kNothing, "", "backing off"},

      // --- etcd unreachable ---
      {"dcs_down_primary_with_lock_within_retry_refreshes", unreachable(three("n2")), primary(true, milliseconds{3999}),
       Action::kRefreshLock, "", "etcd unreachable"},
      {"dcs_down_primary_with_lock_at_retry_demotes", unreachable(three("n2")), primary(true, milliseconds{4000}),
       Action::kDemote, "", "retry_timeout"},
      {"dcs_down_primary_without_lock_demotes", unreachable(three("n2")), primary(false), Action::kDemote, "",
       "etcd unreachable"},
      {"dcs_down_replica_never_promotes", unreachable(leaderless(kWal - 10)), replica(""), Action::kNothing, "",
       "without etcd"},
      {"dcs_down_replica_holding_lock_never_promotes", unreachable(three("n2")), holding(replica("")),
       Action::kNothing, "", "without etcd"},
      {"dcs_down_pg_down_does_not_start", unreachable(three("n1")), stopped(), Action::kNothing, "", "without etcd"},
      {"dcs_down_no_data_does_not_race", unreachable(uninitialized(cluster(std::nullopt, {}))), empty_node(),
       Action::kNothing, "", "without etcd"},
  };
}

class DecideTable : public ::testing::TestWithParam<Row> {};

TEST_P(DecideTable, Decides) {
  const Row& row = GetParam();
  const Decision decision = decide(row.cluster, row.local, settings());
  EXPECT_EQ(action_name(decision.action), std::string(action_name(row.action))) << decision.reason;
  EXPECT_EQ(decision.target, row.target) << decision.reason;
  EXPECT_NE(decision.reason.find(row.reason_has), std::string::npos)
      << "reason '" << decision.reason << "' lacks '" << row.reason_has << "'";
}

INSTANTIATE_TEST_SUITE_P(Rules, DecideTable, ::testing::ValuesIn(rows()),
                         [](const ::testing::TestParamInfo<Row>& info) { return info.param.name; });

TEST(DecideTable, RowNamesAreUnique) {
  std::set<std::string> names;
  for (const Row& row : rows()) EXPECT_TRUE(names.insert(row.name).second) << row.name;
}

// Two equally healthy replicas both campaign: etcd's create-if-absent txn elects exactly one.
TEST(Decide, EqualWalPositionsBothCampaign) {
  const ClusterView view = leaderless(kWal);
  LocalState n2 = replica("");
  LocalState n3 = replica("");
  n3.name = "n3";
  EXPECT_EQ(decide(view, n2, settings()).action, Action::kAcquireLock);
  EXPECT_EQ(decide(view, n3, settings()).action, Action::kAcquireLock);
}

TEST(IsHealthiest, RulesAndEdges) {
  const HaSettings s = settings();
  EXPECT_TRUE(is_healthiest(leaderless(kWal), replica(""), s));
  EXPECT_FALSE(is_healthiest(leaderless(kWal + 1), replica(""), s));
  EXPECT_TRUE(is_healthiest(leaderless(kWal + 1, /*nofailover=*/true), replica(""), s));
  EXPECT_TRUE(is_healthiest(leaderless(kWal + 1, false, "stopped"), replica(""), s));
  EXPECT_FALSE(is_healthiest(leaderless(kWal - 1), nofailover(replica("")), s));
  // Our own (stale) published entry never counts against us.
  ClusterView self_ahead = cluster(std::nullopt, {member("n2", "replica", "running", kWal + kMiB * 5)});
  EXPECT_TRUE(is_healthiest(self_ahead, replica(""), s));
  // The last leader position bounds the lag even with no member ahead.
  EXPECT_TRUE(is_healthiest(last_leader_at(leaderless(0), kWal + kMiB), replica(""), s));
  EXPECT_FALSE(is_healthiest(last_leader_at(leaderless(0), kWal + kMiB + 1), replica(""), s));
  // A looser bound admits the same lag.
  HaSettings loose = s;
  loose.maximum_lag_on_failover = 2 * kMiB;
  EXPECT_TRUE(is_healthiest(last_leader_at(leaderless(0), kWal + kMiB + 1), replica(""), loose));
  // "streaming" counts as running: such a member ahead blocks us.
  EXPECT_FALSE(is_healthiest(leaderless(kWal + 1, false, "streaming"), replica(""), s));
}

// Cascading replication: a replicatefrom tag names the member to stream from, as long as it runs
// PostgreSQL and its own chain does not come back to us; otherwise the leader.
TEST(UpstreamOfMember, FollowsTheNamedRunningMemberUnlessItIsDownOrACycle) {
  ClusterView view = three("n1");
  EXPECT_EQ(upstream_of_member(view, "n2", ""), "n1");
  EXPECT_EQ(upstream_of_member(view, "n2", "n3"), "n3");
  EXPECT_EQ(upstream_of_member(view, "n2", "n1"), "n1");
  EXPECT_EQ(upstream_of_member(view, "n2", "n2"), "n1") << "itself";
  EXPECT_EQ(upstream_of_member(view, "n2", "n9"), "n1") << "not a member";
  view.members[2].replicatefrom = "n2";
  EXPECT_EQ(upstream_of_member(view, "n2", "n3"), "n1") << "n3 streams from n2: a cycle";
  view.members[2].replicatefrom = "";
  view.members[2].state = "stopped";
  EXPECT_EQ(upstream_of_member(view, "n2", "n3"), "n1") << "n3 is down";
  view.members[2].state = "streaming";
  view.members.push_back(member("n4", "replica", "running", kWal));
  view.members.back().replicatefrom = "n3";
  EXPECT_EQ(upstream_of_member(view, "n2", "n4"), "n4") << "a chain n2 <- n4 <- n3 <- n1";
  EXPECT_EQ(upstream_of_member(cluster(std::nullopt, view.members), "n2", "n3"), "n3");
}

TEST(Decide, AReplicaWithReplicatefromFollowsThatMemberAndFallsBackToTheLeader) {
  LocalState n2 = replica("n1");
  n2.replicatefrom = "n3";
  ClusterView view = three("n1");
  Decision d = decide(view, n2, settings());
  EXPECT_EQ(d.action, Action::kFollowLeader) << d.reason;
  EXPECT_EQ(d.target, "n3");
  n2.following = "n3";
  EXPECT_EQ(decide(view, n2, settings()).action, Action::kNothing);
  view.members[2].state = "stopped";
  d = decide(view, n2, settings());
  EXPECT_EQ(d.action, Action::kFollowLeader) << d.reason;
  EXPECT_EQ(d.target, "n1");
}

// Synchronous mode: while /sync names a leader, only it and its synchronous standbys may take over
// (they have every acknowledged commit); an asynchronous replica never does, even when it is ahead.
TEST(DecideSynchronous, OnlyTheSynchronousStandbyTakesOver) {
  HaSettings s = settings();
  s.synchronous_mode = true;
  LocalState n2 = replica("");
  LocalState n3 = replica("", kWal + 10 * kMiB);
  n3.name = "n3";
  ClusterView view = leaderless(kWal + 10 * kMiB);  // n3 is far ahead (asynchronous, more WAL received)
  view.last_leader_wal_position = kWal + 10 * kMiB;
  view.sync = SyncState{"n1", {"n2"}, false};
  EXPECT_EQ(decide(view, n2, s).action, Action::kAcquireLock) << decide(view, n2, s).reason;
  const Decision d3 = decide(view, n3, s);
  EXPECT_EQ(d3.action, Action::kNothing);
  EXPECT_NE(d3.reason.find("not a synchronous standby"), std::string::npos) << d3.reason;
  // Without synchronous mode the same view elects n3 (ahead) and refuses n2 (behind, lagging).
  EXPECT_EQ(decide(view, n3, settings()).action, Action::kAcquireLock);
  EXPECT_EQ(decide(view, n2, settings()).action, Action::kNothing);
  // /sync naming no standby: nobody but the old leader may be promoted.
  view.sync = SyncState{"n1", {}, false};
  EXPECT_EQ(decide(view, n2, s).action, Action::kNothing);
  EXPECT_EQ(decide(view, n3, s).action, Action::kNothing);
  // An unreadable /sync key: nobody.
  view.sync = SyncState{"", {}, true};
  EXPECT_EQ(decide(view, n2, s).action, Action::kNothing);
  // No /sync key, or one naming no leader: the ordinary rules.
  view.sync.reset();
  EXPECT_EQ(decide(view, n3, s).action, Action::kAcquireLock);
  view.sync = SyncState{};
  EXPECT_EQ(decide(view, n3, s).action, Action::kAcquireLock);
}

TEST(DecideSynchronous, FailoverAndSwitchoverOnlyToASynchronousStandby) {
  HaSettings s = settings();
  s.synchronous_mode = true;
  LocalState n3 = replica("");
  n3.name = "n3";
  // A failover request naming the asynchronous n3: it does not take the lock; n2 (synchronous)
  // is not held back by it.
  ClusterView view = with_failover(leaderless(), "", "n3");
  view.sync = SyncState{"n1", {"n2"}, false};
  EXPECT_EQ(decide(view, n3, s).action, Action::kNothing);
  EXPECT_EQ(decide(view, replica(""), s).action, Action::kAcquireLock);
  // A switchover from us (n2 leads) to the asynchronous n3 is refused; to the synchronous n3 it goes.
  ClusterView led = with_failover(three("n2"), "n2", "n3");
  led.sync = SyncState{"n2", {"n1"}, false};
  const Decision refused = decide(led, primary(true), s);
  EXPECT_EQ(refused.action, Action::kRefreshLock);
  EXPECT_NE(refused.refused_request.find("not a synchronous standby"), std::string::npos) << refused.reason;
  led.sync = SyncState{"n2", {"n3"}, false};
  EXPECT_EQ(decide(led, primary(true), s).action, Action::kReleaseLock);
}

// Maintenance mode: nothing automatic but fencing and keeping a second primary from running.
TEST(DecidePaused, NoAutomaticActionButFencingAndOnePrimary) {
  const HaSettings s = settings();
  auto paused = [](ClusterView c) {
    c.paused = true;
    return c;
  };
  struct Case {
    const char* name;
    ClusterView cluster;
    LocalState local;
    Action action;
  };
  const Case cases[] = {
      {"leader_postgres_down_is_not_started", paused(three("n2")), stopped(true), Action::kRefreshLock},
      {"leader_primary_refreshes", paused(three("n2")), primary(true), Action::kRefreshLock},
      {"leader_in_recovery_after_a_manual_failover_promotes", paused(three("n2")), holding(replica("")),
       Action::kPromote},
      {"no_leader_no_automatic_failover", paused(leaderless()), replica(""), Action::kNothing},
      {"no_leader_running_primary_takes_the_lock_back", paused(leaderless()), primary(false), Action::kAcquireLock},
      {"no_leader_failover_naming_us", with_failover(paused(leaderless()), "", "n2"), replica(""),
       Action::kAcquireLock},
      {"another_leader_replica_stays", paused(three("n1")), replica("n3"), Action::kNothing},
      {"another_leader_postgres_down_stays_down", paused(three("n1")), stopped(), Action::kNothing},
      {"another_leader_while_primary_still_rejoins", paused(three("n1")), primary(false), Action::kRewindAndFollow},
      {"fencing_still_demotes", paused(three("n2")), primary(true, milliseconds{4000}), Action::kDemote},
      {"switchover_without_candidate_refused", with_failover(paused(three("n2")), "n2", ""), primary(true),
       Action::kRefreshLock},
      {"switchover_with_candidate", with_failover(paused(three("n2")), "n2", "n3"), primary(true),
       Action::kReleaseLock},
  };
  for (const Case& c : cases) {
    const Decision d = decide(c.cluster, c.local, s);
    EXPECT_EQ(action_name(d.action), std::string(action_name(c.action))) << c.name << ": " << d.reason;
  }
  // The same views unpaused act: the down leader starts PostgreSQL, a leaderless replica campaigns.
  EXPECT_EQ(decide(three("n2"), stopped(true), s).action, Action::kStartAsPrimary);
  EXPECT_EQ(decide(leaderless(), replica(""), s).action, Action::kAcquireLock);
  EXPECT_FALSE(decide(with_failover(paused(three("n2")), "n2", ""), primary(true), s).refused_request.empty());
}

// failover_priority breaks ties only: among members equally far ahead the higher one campaigns;
// a member ahead still wins whatever its priority.
TEST(IsHealthiest, FailoverPriorityBreaksTiesOnly) {
  const HaSettings s = settings();
  ClusterView view = leaderless(kWal);
  view.members[1].failover_priority = 2;  // n3, as far ahead as we are
  EXPECT_FALSE(is_healthiest(view, replica(""), s));
  LocalState high = replica("");
  high.failover_priority = 3;
  EXPECT_TRUE(is_healthiest(view, high, s));
  view.members[1].failover_priority = 1;
  EXPECT_TRUE(is_healthiest(view, replica(""), s));
  ClusterView behind = leaderless(kWal - 1);
  behind.members[1].failover_priority = 9;  // n3 behind: priority does not matter
  EXPECT_TRUE(is_healthiest(behind, replica(""), s));
  const Decision d = decide(leaderless(kWal), replica(""), s);
  EXPECT_EQ(d.action, Action::kAcquireLock);
  view.members[1].failover_priority = 2;
  EXPECT_NE(decide(view, replica(""), s).reason.find("higher failover_priority"), std::string::npos);
}

TEST(ActionName, EveryActionHasADistinctName) {
  const Action all[] = {Action::kBootstrap,    Action::kRaceToInitialize, Action::kCloneFromLeader,
                        Action::kWaitForLeader, Action::kStartAsPrimary,  Action::kStartAsStandby,
                        Action::kAcquireLock,   Action::kPromote,         Action::kRefreshLock,
                        Action::kDemote,        Action::kFollowLeader,    Action::kRewindAndFollow,
                        Action::kReleaseLock,   Action::kDropFailoverRequest, Action::kNothing};
  std::set<std::string> names;
  for (Action a : all) {
    const std::string name = action_name(a);
    EXPECT_NE(name, "unknown");
    EXPECT_TRUE(names.insert(name).second) << name;
  }
  EXPECT_STREQ(action_name(Action::kAcquireLock), "acquire_lock");
}

// Every combination of the inputs that matter, checked against the safety invariants rather
// than against expected actions (the table above pins those).
TEST(Decide, ExhaustiveSafetyInvariants) {
  const HaSettings s = settings();
  enum LeaderCase { kNoLeader, kMe, kOtherRunning, kOtherStopped, kGhost };
  enum FailoverCase { kNoRequest, kNamesMe, kNamesOther, kSwitchoverFromMe, kSwitchoverToMe };
  int combinations = 0;
  for (bool dcs : {true, false})
    for (bool initialized : {true, false})
      for (LeaderCase leader_case : {kNoLeader, kMe, kOtherRunning, kOtherStopped, kGhost})
        for (bool data : {true, false})
          for (bool running : {true, false})
            for (bool in_recovery : {true, false})
              for (bool holds_lock : {true, false})
                for (bool overdue : {true, false})
                  for (bool no_failover : {true, false})
                    for (FailoverCase failover_case : {kNoRequest, kNamesMe, kNamesOther, kSwitchoverFromMe, kSwitchoverToMe})
                      for (std::int64_t other_wal : {kWal - 1, kWal, kWal + 1, kWal + 2 * kMiB})
                      for (std::int64_t handover : {std::int64_t{0}, kWal, kWal + 1})
                      for (bool paused : {false, true})
                      for (bool refused : {false, true}) {
                        if (running && !data) continue;  // PostgreSQL cannot run without a data directory
                        if (!running && in_recovery) continue;
                        ++combinations;
                        ClusterView c;
                        c.dcs_reachable = dcs;
                        c.paused = paused;
                        c.initialized = initialized;
                        c.handover_wal_position = handover;
                        c.last_leader_wal_position = handover;
                        c.members = {member("n2", in_recovery ? "replica" : "primary", running ? "running" : "stopped",
                                            kWal, no_failover),
                                     member("n3", "replica", "running", other_wal)};
                        switch (leader_case) {
                          case kNoLeader: break;
                          case kMe: c.leader = "n2"; break;
                          case kOtherRunning:
                            c.leader = "n1";
                            c.members.push_back(member("n1", "primary", "running", other_wal));
                            break;
                          case kOtherStopped:
                            c.leader = "n1";
                            c.members.push_back(member("n1", "primary", "stopped", other_wal));
                            break;
                          case kGhost: c.leader = "ghost"; break;
                        }
                        switch (failover_case) {
                          case kNoRequest: break;
                          case kNamesMe: c.failover = FailoverRequest{"", "n2"}; break;
                          case kNamesOther: c.failover = FailoverRequest{"", "n3"}; break;
                          case kSwitchoverFromMe: c.failover = FailoverRequest{"n2", ""}; break;
                          case kSwitchoverToMe: c.failover = FailoverRequest{"n1", "n2"}; break;
                        }
                        LocalState l;
                        l.name = "n2";
                        l.data_dir_initialized = data;
                        l.postgres_running = running;
                        l.in_recovery = in_recovery;
                        l.wal_position = kWal;
                        l.holds_lock = holds_lock;
                        l.since_last_refresh = overdue ? s.retry_timeout : s.retry_timeout - milliseconds{1};
                        l.nofailover = no_failover;
                        l.promotion_refused = refused;

                        const Decision d = decide(c, l, s);
                        const bool primary = running && !in_recovery;
                        const bool we_lead = holds_lock && leader_case == kMe;
                        const bool lock_overdue = holds_lock && overdue;
                        SCOPED_TRACE(::testing::Message()
                                     << "dcs=" << dcs << " init=" << initialized << " leader=" << leader_case
                                     << " data=" << data << " running=" << running << " recovery=" << in_recovery
                                     << " lock=" << holds_lock << " overdue=" << overdue << " nofailover=" << no_failover
                                     << " failover=" << failover_case << " other_wal=" << other_wal
                                     << " handover=" << handover << " paused=" << paused << " refused=" << refused << " -> "
                                     << action_name(d.action) << " '" << d.target << "': " << d.reason);
                        EXPECT_FALSE(d.reason.empty());
                        EXPECT_NE(d.action, Action::kBootstrap);  // the loop's, after winning the race
                        // Fencing: an overdue lock allows only stepping down or waiting.
                        if (lock_overdue) {
                          EXPECT_TRUE(d.action == Action::kDemote || d.action == Action::kNothing);
                          if (primary) { EXPECT_EQ(d.action, Action::kDemote); }
                        }
                        // Without etcd: never promote, campaign, start, clone or follow.
                        if (!dcs) {
                          EXPECT_TRUE(d.action == Action::kNothing || d.action == Action::kDemote ||
                                      d.action == Action::kRefreshLock);
                          if (d.action == Action::kRefreshLock) { EXPECT_TRUE(primary && holds_lock && !overdue); }
                          if (primary && !holds_lock) { EXPECT_EQ(d.action, Action::kDemote); }
                        }
                        // Promotion only with the lock, confirmed by the view and fresh.
                        if (d.action == Action::kPromote) { EXPECT_TRUE(dcs && we_lead && !overdue && in_recovery); }
                        if (d.action == Action::kRefreshLock && dcs) { EXPECT_TRUE(we_lead && (primary || paused)); }
                        // Maintenance mode: PostgreSQL is never started, cloned or repointed, and
                        // the lock is taken only by the running primary or a requested candidate.
                        if (paused) {
                          for (Action a : {Action::kStartAsPrimary, Action::kStartAsStandby, Action::kCloneFromLeader,
                                           Action::kFollowLeader, Action::kRaceToInitialize}) {
                            EXPECT_NE(d.action, a);
                          }
                          if (d.action == Action::kAcquireLock) {
                            EXPECT_TRUE(primary || failover_case == kNamesMe || failover_case == kSwitchoverToMe);
                          }
                        }
                        // Campaigning: only a running, eligible member of a leaderless cluster.
                        if (d.action == Action::kAcquireLock) {
                          EXPECT_TRUE(dcs && leader_case == kNoLeader && running && !no_failover);
                        }
                        if (no_failover) {
                          EXPECT_NE(d.action, Action::kAcquireLock);
                          EXPECT_NE(d.action, Action::kRaceToInitialize);
                        }
                        // A primary under another member's lock stops being writable.
                        if (dcs && primary && !lock_overdue &&
                            (leader_case == kOtherRunning || leader_case == kOtherStopped || leader_case == kGhost)) {
                          EXPECT_TRUE(d.action == Action::kRewindAndFollow || d.action == Action::kDemote);
                          EXPECT_EQ(d.target, *c.leader);
                        }
                        // A member without the lock never makes PostgreSQL writable: the only
                        // actions that end recovery (or start out of it) need the lock, fresh and
                        // confirmed by the view; every other start is a standby's.
                        if (d.action == Action::kStartAsPrimary || d.action == Action::kPromote) {
                          EXPECT_TRUE(dcs && we_lead && !overdue);
                        }
                        if (d.action == Action::kStartAsPrimary) { EXPECT_EQ(d.target, "n2"); }
                        if (d.action == Action::kStartAsStandby) {
                          EXPECT_FALSE(we_lead);
                          EXPECT_NE(d.target, "n2");
                        }
                        if (d.action == Action::kStartAsPrimary || d.action == Action::kStartAsStandby) {
                          EXPECT_TRUE(dcs && !running && data);
                        }
                        if (!we_lead) {
                          EXPECT_NE(d.action, Action::kStartAsPrimary);
                          EXPECT_NE(d.action, Action::kPromote);
                        }
                        // Nobody behind a switchover's handover position takes the lock.
                        if (d.action == Action::kAcquireLock) { EXPECT_GE(kWal, handover); }
                        if (d.action == Action::kDropFailoverRequest) {
                          EXPECT_TRUE(dcs && leader_case == kNoLeader && handover > kWal && c.failover &&
                                      c.failover->candidate == "n2");
                        }
                        // A request the leader ignores is answered, never left hanging.
                        if (!d.refused_request.empty()) { EXPECT_TRUE(we_lead && c.failover); }
                        if (d.action == Action::kCloneFromLeader) {
                          EXPECT_TRUE(!data && leader_case == kOtherRunning);
                          EXPECT_EQ(d.target, "n1");
                        }
                        if (d.action == Action::kRaceToInitialize) {
                          EXPECT_TRUE(!initialized && !data && leader_case == kNoLeader);
                        }
                        if (d.action == Action::kFollowLeader) { EXPECT_TRUE(running && in_recovery && d.target == "n1"); }
                        if (d.action == Action::kReleaseLock) { EXPECT_TRUE(we_lead); }
                        // pre_promote refused: never promote; let the lock go; no campaign (but
                        // a running primary taking the lock back in maintenance mode).
                        if (refused) {
                          EXPECT_NE(d.action, Action::kPromote);
                          if (d.action == Action::kAcquireLock) { EXPECT_TRUE(paused && primary); }
                          if (dcs && we_lead && running && in_recovery && !overdue) {
                            EXPECT_EQ(d.action, Action::kReleaseLock);
                          }
                        }
                      }
  EXPECT_EQ(combinations, 153600);
}

}  // namespace
}  // namespace pgha::election
