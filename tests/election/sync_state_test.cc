// The /sync key's codec (Patroni's format), the choice of synchronous standbys and the
// synchronous_standby_names value.
#include "election/sync_state.h"

#include <gtest/gtest.h>

namespace pgha::election {
namespace {

TEST(SyncState, EncodesAndDecodesPatronisFormat) {
  EXPECT_EQ(encode_sync_state(SyncState{"n1", {"n2"}, false}), R"({"leader":"n1","sync_standby":"n2"})");
  EXPECT_EQ(encode_sync_state(SyncState{"n1", {}, false}), R"({"leader":"n1","sync_standby":null})");
  const auto two = decode_sync_state(R"({"leader":"n1","sync_standby":"n2, n3"})");
  ASSERT_TRUE(two);
  EXPECT_EQ(two->leader, "n1");
  EXPECT_EQ(two->standbys, (std::vector<std::string>{"n2", "n3"}));
  EXPECT_TRUE(two->allows("n1") && two->allows("n3") && !two->allows("n4"));
  const auto none = decode_sync_state(R"({"leader":null,"sync_standby":null})");
  ASSERT_TRUE(none);
  EXPECT_FALSE(none->active());
  std::string why;
  EXPECT_FALSE(decode_sync_state("[1]", &why));
  EXPECT_EQ(why, "not a JSON object");
  EXPECT_FALSE(decode_sync_state(R"({"leader":1})", &why));
  EXPECT_FALSE(decode_sync_state(R"({"leader":"n1","sync_standby":["n2"]})", &why));
  SyncState unreadable;
  unreadable.unreadable = true;
  EXPECT_TRUE(unreadable.active());
  EXPECT_FALSE(unreadable.allows(""));
}

SyncCandidate replica(std::string name, std::int64_t flush, bool streaming = true, bool nosync = false) {
  return SyncCandidate{std::move(name), streaming, "async", flush, nosync};
}

TEST(ChooseSyncStandbys, KeepsTheCurrentOnesThenTheLeastLagging) {
  const std::vector<std::string> members{"n2", "n3", "n4"};
  SyncSettings one;
  const std::vector<SyncCandidate> replicas{replica("n2", 100), replica("n3", 300), replica("n4", 200)};
  EXPECT_EQ(choose_sync_standbys(replicas, members, {}, 300, one), std::vector<std::string>{"n3"});
  // A healthy current standby is kept even if another is ahead.
  EXPECT_EQ(choose_sync_standbys(replicas, members, {"n2"}, 300, one), std::vector<std::string>{"n2"});
  SyncSettings two;
  two.node_count = 2;
  EXPECT_EQ(choose_sync_standbys(replicas, members, {"n2"}, 300, two), (std::vector<std::string>{"n2", "n3"}));
  // Not streaming, nosync, unknown members and laggards are never chosen.
  const std::vector<SyncCandidate> poor{replica("n2", 300, false), replica("n3", 300, true, true), replica("x", 300),
                                        replica("n4", 100)};
  EXPECT_EQ(choose_sync_standbys(poor, members, {"n2"}, 300, one), std::vector<std::string>{"n4"});
  SyncSettings bounded;
  bounded.max_lag_on_syncnode = 150;
  EXPECT_TRUE(choose_sync_standbys(poor, members, {}, 300, bounded).empty());
}

TEST(StandbyNamesSetting, FirstNQuotedOrStrictStar) {
  SyncSettings s;
  EXPECT_EQ(standby_names_setting({}, s), "");
  EXPECT_EQ(standby_names_setting({"n2"}, s), R"(FIRST 1 ("n2"))");
  s.node_count = 3;
  EXPECT_EQ(standby_names_setting({"n2", "a\"b"}, s), R"(FIRST 2 ("n2", "a""b"))");
  s.strict = true;
  EXPECT_EQ(standby_names_setting({}, s), "*");
}

// Quorum commit: the key carries "quorum" (other voters a candidate must reach), the setting is
// 'ANY k (...)' over every healthy standby.
TEST(QuorumCommit, KeySettingAndStandbys) {
  SyncState key{"n1", {"n2", "n3"}, false};
  key.quorum = 1;
  EXPECT_EQ(encode_sync_state(key), R"({"leader":"n1","quorum":1,"sync_standby":"n2,n3"})");
  const auto back = decode_sync_state(encode_sync_state(key));
  ASSERT_TRUE(back);
  EXPECT_EQ(back->quorum, 1);
  EXPECT_FALSE(decode_sync_state(R"({"leader":"n1","sync_standby":"n2","quorum":-1})"));
  EXPECT_FALSE(decode_sync_state(R"({"leader":"n1","sync_standby":"n2","quorum":"1"})"));
  EXPECT_FALSE(decode_sync_state(R"({"leader":"n1","sync_standby":"n2"})")->quorum) << "FIRST mode";

  SyncSettings s;
  s.quorum = true;
  EXPECT_EQ(standby_names_setting({"n2", "n3"}, s), R"(ANY 1 ("n2", "n3"))");
  s.node_count = 5;
  EXPECT_EQ(standby_names_setting({"n2", "n3"}, s), R"(ANY 2 ("n2", "n3"))") << "k is at most the standbys";
  EXPECT_EQ(standby_names_setting({}, s), "");
  EXPECT_EQ(quorum_commit_count(0, s), 0);
  EXPECT_EQ(quorum_commit_count(3, s), 3);
  s.node_count = 1;
  const std::vector<SyncCandidate> replicas{replica("n2", 100), replica("n3", 300), replica("n4", 200, false)};
  EXPECT_EQ(choose_sync_standbys(replicas, {"n2", "n3", "n4"}, {}, 300, s), (std::vector<std::string>{"n2", "n3"}))
      << "every healthy standby votes, not node_count of them";
}

}  // namespace
}  // namespace pgha::election
