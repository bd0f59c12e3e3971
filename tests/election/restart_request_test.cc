// The pure parts of POST /restart: Patroni's version numbers, the restart's conditions against
// the node, and the ISO 8601 timestamps of a schedule.
#include "election/restart_request.h"

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

namespace pgha::election {
namespace {

using std::chrono::system_clock;

TEST(RestartRequestTest, VersionsConvertAsPatroniDoes) {
  EXPECT_EQ(postgres_version_to_int("9.5.3"), 90503);
  EXPECT_EQ(postgres_version_to_int("9.3.13"), 90313);
  EXPECT_EQ(postgres_version_to_int("10.1"), 100001);
  EXPECT_EQ(postgres_version_to_int("15.18"), 150018);
  std::string error;
  EXPECT_FALSE(postgres_version_to_int("10", &error));
  EXPECT_EQ(error, "Invalid PostgreSQL version format: X.Y or X.Y.Z is accepted: 10");
  EXPECT_FALSE(postgres_version_to_int("9.6", &error));
  EXPECT_FALSE(postgres_version_to_int("1.2.3.4", &error));
  EXPECT_FALSE(postgres_version_to_int("a.b.c", &error));
  EXPECT_EQ(error, "Invalid PostgreSQL version: a.b.c");
  EXPECT_FALSE(postgres_version_to_int("15.", &error));
  EXPECT_FALSE(postgres_version_to_int("", &error));
}

TEST(RestartRequestTest, ConditionsAreTheRoleTheVersionAndPendingRestart) {
  RestartRequest any;
  EXPECT_EQ(restart_conditions_unmet(any, true, 150004, false), "");
  EXPECT_EQ(restart_conditions_unmet(any, false, 150004, false), "");
  RestartRequest replica;
  replica.role = "replica";
  EXPECT_EQ(restart_conditions_unmet(replica, true, 150004, false), "host role mismatch");
  EXPECT_EQ(restart_conditions_unmet(replica, false, 150004, false), "");
  RestartRequest older;
  older.postgres_version_num = 150004;  // restart only servers older than 15.4
  EXPECT_EQ(restart_conditions_unmet(older, true, 150004, false), "postgres version mismatch");
  EXPECT_EQ(restart_conditions_unmet(older, true, 150003, false), "");
  RestartRequest pending;
  pending.restart_pending = true;
  EXPECT_EQ(restart_conditions_unmet(pending, false, 150004, false), "pending restart flag is not set");
  EXPECT_EQ(restart_conditions_unmet(pending, false, 150004, true), "");
}

TEST(RestartRequestTest, TimestampsWithTheirZones) {
  bool zone = false;
  const auto utc = parse_iso8601("2026-12-02T05:30:00+00:00", &zone);
  ASSERT_TRUE(utc);
  EXPECT_TRUE(zone);
  EXPECT_EQ(format_iso8601(*utc), "2026-12-02T05:30:00+00:00");
  EXPECT_EQ(parse_iso8601("2026-12-02T06:30+01:00", &zone), utc);
  EXPECT_EQ(parse_iso8601("2026-12-02 01:00:00.123456-04:30", &zone), utc);
  EXPECT_EQ(parse_iso8601("2026-12-02T05:30:00Z", &zone), utc);
  EXPECT_EQ(parse_iso8601("2026-12-02T0530+0000", &zone), std::nullopt);
  ASSERT_TRUE(parse_iso8601("2026-12-02T05:30:00", &zone));
  EXPECT_FALSE(zone);
  for (const char* bad : {"", "now", "2026-13-01T00:00+00:00", "2026-02-29T00:00+00:00", "2026-12-02T24:00+00:00",
                          "2026-12-02T05:30:00+00:00 trailing", "2026-12-02", "0159-01-01T10:00+00:00",
                          "9999-12-31T23:59+00:00"}) {
    EXPECT_FALSE(parse_iso8601(bad, &zone)) << bad;
  }
}

TEST(RestartRequestTest, APastScheduleIsRefusedAndAFutureOneKept) {
  const auto now = system_clock::now();
  const std::string past = format_iso8601(now - std::chrono::seconds(5));
  const std::string future = format_iso8601(now + std::chrono::hours(1));
  EXPECT_EQ(parse_restart_request(R"({"schedule": ")" + past + "\"}", now).http_status, 422);
  const RestartRequestParse ok = parse_restart_request(R"({"schedule": ")" + future + "\"}", now);
  EXPECT_EQ(ok.http_status, 0);
  ASSERT_TRUE(ok.request.schedule);
  EXPECT_EQ(format_iso8601(*ok.request.schedule), future);
  EXPECT_EQ(scheduled_restart_json(ok.request).dump(), R"({"schedule":")" + future + "\"}");
}

}  // namespace
}  // namespace pgha::election
