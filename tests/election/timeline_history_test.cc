#include "election/timeline_history.h"

#include <gtest/gtest.h>

namespace pgha::election {
namespace {

TEST(TimelineHistory, NeedsAnUpdateUntilTheLastSwitchIsRecordedWithTimeAndLeader) {
  EXPECT_FALSE(history_needs_update("", 1));
  EXPECT_TRUE(history_needs_update("", 2));
  EXPECT_TRUE(history_needs_update("[]", 2));
  EXPECT_TRUE(history_needs_update("not json", 2));
  EXPECT_TRUE(history_needs_update(R"([[1,100,"r"]])", 2)) << "no time and leader yet";
  EXPECT_FALSE(history_needs_update(R"([[1,100,"r","2026-12-02T02:56:10.000001+00:00","node2"]])", 2));
  EXPECT_TRUE(history_needs_update(R"([[1,100,"r","t","node2"]])", 3));
}

TEST(TimelineHistory, BuildsPatronisEntriesKeepingKnownTimesAndStampingTheNewSwitch) {
  const std::string file = "1\t0/5000028\tno recovery target specified\n\n2\t0/7000000\tno recovery target specified\n";
  const std::string known = R"([[1,83886120,"no recovery target specified","2026-12-01T10:00:00.000000+00:00","node2"]])";
  EXPECT_EQ(updated_history(file, known, "2026-12-02T02:56:10.000001+00:00", "node3"),
            R"([[1,83886120,"no recovery target specified","2026-12-01T10:00:00.000000+00:00","node2"],)"
            R"([2,117440512,"no recovery target specified","2026-12-02T02:56:10.000001+00:00","node3"]])");
  // A known entry at another LSN (a different history) keeps nothing of it.
  EXPECT_EQ(updated_history("1\t0/5000000\tr\n", known, "T", "node1"), R"([[1,83886080,"r","T","node1"]])");
  EXPECT_EQ(updated_history("", known, "T", "node1"), std::nullopt);
  EXPECT_EQ(updated_history("garbage line\nx\t0/1\tr\n", "", "T", "n"), std::nullopt);
}

TEST(TimelineHistory, TimestampsAreIso8601InUtcWithMicroseconds) {
  EXPECT_EQ(history_timestamp(1'796'180'170'000'001), "2026-12-02T02:56:10.000001+00:00");
}

}  // namespace
}  // namespace pgha::election
