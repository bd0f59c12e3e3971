#include "election/replication_slots.h"

#include <gtest/gtest.h>

namespace pgha::election {
namespace {

using namespace std::chrono_literals;
using Clock = MemberSlots::Clock;

std::vector<ExistingSlot> slots(std::initializer_list<std::pair<const char*, bool>> list) {
  std::vector<ExistingSlot> out;
  for (const auto& [name, active] : list) out.push_back({name, active});
  return out;
}

TEST(SlotNames, FollowPatronisRule) {
  EXPECT_EQ(slot_name_for_member("node1"), "node1");
  EXPECT_EQ(slot_name_for_member("Node-2.db"), "node_2_db");
  EXPECT_EQ(slot_name_for_member(std::string(70, 'a')), std::string(63, 'a'));
  EXPECT_EQ(slot_name_for_member("n\xc3\xa9"), "n__");
}

TEST(MemberSlots, EveryOtherMemberGetsASlotAsSoonAsItsKeyAppears) {
  MemberSlots keeper(30min, {});
  const auto now = Clock::now();
  EXPECT_EQ(keeper.plan({"node2", "node3"}, {}, {}, now), (SlotPlan{{"node2", "node3"}, {}}));
  EXPECT_EQ(keeper.plan({"node2", "node3"}, {}, slots({{"node2", true}, {"node3", false}}), now + 1s), SlotPlan{});
}

TEST(MemberSlots, AVanishedMemberKeepsItsSlotForTheTtlThenItIsDropped) {
  MemberSlots keeper(10min, {});
  const auto t0 = Clock::now();
  (void)keeper.plan({"node2", "node3"}, {}, slots({{"node2", true}, {"node3", true}}), t0);
  // node3's agent stops: its key goes, its slot stays (inactive) and is carried in /status.
  EXPECT_EQ(keeper.plan({"node2"}, {}, slots({{"node2", true}, {"node3", false}}), t0 + 1s), SlotPlan{});
  EXPECT_EQ(keeper.retained(t0 + 1s), std::set<std::string>{"node3"});
  EXPECT_EQ(keeper.plan({"node2"}, {}, slots({{"node2", true}, {"node3", false}}), t0 + 9min), SlotPlan{});
  EXPECT_EQ(keeper.plan({"node2"}, {}, slots({{"node2", true}, {"node3", false}}), t0 + 10min + 1s),
            (SlotPlan{{}, {"node3"}}));
  EXPECT_TRUE(keeper.retained(t0 + 10min + 1s).empty());
}

TEST(MemberSlots, AMemberThatComesBackInTimeKeepsItsSlot) {
  MemberSlots keeper(10min, {});
  const auto t0 = Clock::now();
  (void)keeper.plan({"node3"}, {}, slots({{"node3", true}}), t0);
  (void)keeper.plan({}, {}, slots({{"node3", false}}), t0 + 1s);
  EXPECT_EQ(keeper.plan({"node3"}, {}, slots({{"node3", false}}), t0 + 9min), SlotPlan{});
  EXPECT_EQ(keeper.plan({"node3"}, {}, slots({{"node3", true}}), t0 + 30min), SlotPlan{}) << "seen again: clock restarted";
}

TEST(MemberSlots, ANewLeaderRecreatesTheSlotsItsPredecessorRetained) {
  MemberSlots keeper(10min, {});
  const auto t0 = Clock::now();
  // Promoted: no slots of its own; node1 (the old leader) is gone, /status retained node1.
  EXPECT_EQ(keeper.plan({"node3"}, {"node1"}, {}, t0), (SlotPlan{{"node1", "node3"}, {}}));
  EXPECT_EQ(keeper.retained(t0), std::set<std::string>{"node1"});
  EXPECT_EQ(keeper.plan({"node3"}, {"node1"}, slots({{"node1", false}, {"node3", true}}), t0 + 10min + 1s),
            (SlotPlan{{}, {"node1"}}));
}

TEST(MemberSlots, PermanentSlotsAreMadeAndNeverDropped) {
  MemberSlots keeper(1min, {"archiver"});
  const auto t0 = Clock::now();
  EXPECT_EQ(keeper.plan({}, {}, {}, t0), (SlotPlan{{"archiver"}, {}}));
  EXPECT_EQ(keeper.plan({}, {}, slots({{"archiver", false}}), t0 + 1h), SlotPlan{});
  EXPECT_TRUE(keeper.retained(t0 + 1h).empty());
}

TEST(MemberSlots, ForeignSlotsAreDroppedOnceInactiveForTheTtlAndActiveOnesNever) {
  MemberSlots keeper(10min, {});
  const auto t0 = Clock::now();
  const auto existing = slots({{"old_term", false}, {"busy", true}});
  EXPECT_EQ(keeper.plan({}, {}, existing, t0), SlotPlan{});
  EXPECT_EQ(keeper.plan({}, {}, existing, t0 + 9min), SlotPlan{});
  EXPECT_EQ(keeper.plan({}, {}, existing, t0 + 10min), (SlotPlan{{}, {"old_term"}}));
  EXPECT_TRUE(keeper.retained(t0 + 10min).empty()) << "foreign slots are not carried to the next leader";
}

TEST(MemberSlots, ResetForgetsEverything) {
  MemberSlots keeper(10min, {});
  const auto t0 = Clock::now();
  (void)keeper.plan({"node2"}, {}, slots({{"node2", true}}), t0);
  (void)keeper.plan({}, {}, slots({{"node2", false}}), t0 + 1s);
  keeper.reset();
  EXPECT_TRUE(keeper.retained(t0 + 2s).empty());
}

}  // namespace
}  // namespace pgha::election
