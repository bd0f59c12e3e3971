// decode_member / decode_*_optime / decode_cluster on what other members (or anything else that
// writes under the scope) put in etcd: numbers out of range are refused by name, never converted.
#include "election/member_codec.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

namespace pgha::election {
namespace {

using json = nlohmann::json;
using ::testing::HasSubstr;

TEST(MemberCodec, RoundTrip) {
  MemberStatus m{.name = "n1", .role = "replica", .state = "running", .conn_url = "postgres://127.0.0.1:5432/postgres"};
  m.wal_position = 0x5000028;
  m.timeline = 3;
  m.nofailover = true;
  const auto decoded = decode_member("n1", encode_member(m));
  ASSERT_TRUE(decoded);
  EXPECT_EQ(decoded->wal_position, 0x5000028);
  EXPECT_EQ(decoded->timeline, 3);
  EXPECT_TRUE(decoded->nofailover);
  EXPECT_EQ(decoded->role, "replica");
  EXPECT_FALSE(decoded->pending_restart);
  m.pending_restart = true;
  EXPECT_TRUE(decode_member("n1", encode_member(m))->pending_restart);
  EXPECT_EQ(decode_leader_optime(encode_leader_optime(42)), 42);
  EXPECT_EQ(decode_retained_slots(encode_leader_optime(42, {"node2", "node3"})), (std::set<std::string>{"node2", "node3"}));
  EXPECT_TRUE(decode_retained_slots(R"({"optime":1,"retain_slots":"node2"})").empty());
  EXPECT_EQ(decode_handover_optime(encode_handover_optime(43)), 43);
}

TEST(MemberCodec, TagsRoundTripAndAnUnreadablePriorityKeepsTheDefault) {
  MemberStatus m;
  m.name = "n1";
  m.nosync = true;
  m.failover_priority = 5;
  m.replicatefrom = "n2";
  const auto back = decode_member("n1", encode_member(m));
  ASSERT_TRUE(back);
  EXPECT_TRUE(back->nosync);
  EXPECT_EQ(back->failover_priority, 5);
  EXPECT_EQ(back->replicatefrom, "n2");
  EXPECT_EQ(json::parse(encode_member(m))["tags"],
            json::parse(R"({"nosync": true, "failover_priority": 5, "replicatefrom": "n2"})"));
  EXPECT_FALSE(json::parse(encode_member(MemberStatus{})).contains("tags")) << "only the tags that are set";
  const auto zero = decode_member("n1", R"({"tags": {"failover_priority": 0}})");
  ASSERT_TRUE(zero);
  EXPECT_TRUE(zero->nofailover) << "priority 0 never takes over";
  const auto odd = decode_member("n1", R"({"tags": {"failover_priority": "high"}, "state": "running"})");
  ASSERT_TRUE(odd) << "the member still counts";
  EXPECT_EQ(odd->failover_priority, 1);
}

TEST(MemberCodec, NumbersOutOfRangeAreRefusedByName) {
  struct Case {
    const char* json;
    const char* error;
  };
  const Case cases[] = {
      {R"({"xlog_location":1e300})", "'xlog_location' is 1e+300, not an integer in 0..9223372036854775807"},
      {R"({"xlog_location":-1})", "'xlog_location' is -1"},
      {R"({"xlog_location":18446744073709551615})", "'xlog_location' is 18446744073709551615"},
      {R"({"xlog_location":1.5})", "'xlog_location' is 1.5"},
      {R"({"xlog_location":"12"})", "'xlog_location' is \"12\""},
      {R"({"timeline":1e300})", "'timeline' is 1e+300, not an integer in 0..2147483647"},
      {R"({"timeline":4294967297})", "'timeline' is 4294967297"},
      {R"({"timeline":-2})", "'timeline' is -2"},
      {R"([1,2])", "not a JSON object"},
  };
  for (const Case& c : cases) {
    std::string error;
    EXPECT_FALSE(decode_member("n2", c.json, &error)) << c.json;
    EXPECT_THAT(error, HasSubstr(c.error)) << c.json;
  }
  std::string error;
  EXPECT_EQ(decode_leader_optime(R"({"optime":1e300})", &error), 0);
  EXPECT_THAT(error, HasSubstr("'optime' is 1e+300"));
  error.clear();
  EXPECT_EQ(decode_handover_optime(R"({"optime":5,"handover":-7})", &error), 0);
  EXPECT_THAT(error, HasSubstr("'handover' is -7"));
  error.clear();
  EXPECT_EQ(decode_leader_optime(R"({"optime":5,"handover":-7})", &error), 5);
  EXPECT_EQ(error, "");
  EXPECT_EQ(decode_handover_optime(R"({"optime":5})", &error), 0) << "absent: no handover";
  EXPECT_EQ(error, "");
}

TEST(MemberCodec, AFailoverKeyNamingNobodyIsNoRequest) {
  // Patroni writes {} to clear the key (after a switchover it made, or a request it dropped);
  // read as a request, it made a pgha-agent leader hand over to the healthiest member.
  EXPECT_FALSE(decode_failover("{}"));
  EXPECT_FALSE(decode_failover(R"({"scheduled_at": "2026-12-02T10:00:00+00:00"})"));
  EXPECT_FALSE(decode_failover(R"({"leader": "", "member": ""})"));
  EXPECT_FALSE(decode_failover("not json"));
  const auto switchover = decode_failover(R"({"leader": "n1"})");
  ASSERT_TRUE(switchover);
  EXPECT_EQ(switchover->leader, "n1");
  EXPECT_EQ(switchover->candidate, "");
  const auto to = decode_failover(R"({"member": "n2"})");
  ASSERT_TRUE(to);
  EXPECT_EQ(to->candidate, "n2");

  const KeyLayout keys("/service", "pg");
  RangeResponse range;
  range.kvs.push_back(KeyValue{.key = keys.failover(), .value = "{}"});
  EXPECT_FALSE(decode_cluster(keys, range).failover);
}

TEST(MemberCodec, ClusterLeavesOutAndListsUnreadableKeys) {
  const KeyLayout keys("/service", "pg");
  RangeResponse range;
  range.kvs.push_back(KeyValue{.key = keys.member("n1"), .value = R"({"xlog_location":100,"timeline":2})"});
  range.kvs.push_back(KeyValue{.key = keys.member("n2"), .value = R"({"xlog_location":1e300,"timeline":2})"});
  range.kvs.push_back(KeyValue{.key = keys.status(), .value = R"({"optime":-1})"});
  const ClusterView view = decode_cluster(keys, range);
  ASSERT_EQ(view.members.size(), 1u);
  EXPECT_EQ(view.members[0].name, "n1");
  EXPECT_EQ(view.members[0].wal_position, 100);
  EXPECT_EQ(view.last_leader_wal_position, 0);
  ASSERT_EQ(view.unreadable.size(), 2u);
  EXPECT_THAT(view.unreadable[0], HasSubstr("/service/pg/members/n2: 'xlog_location' is 1e+300"));
  EXPECT_THAT(view.unreadable[1], HasSubstr("/service/pg/status: 'optime' is -1"));
}

}  // namespace
}  // namespace pgha::election
