// MetricsWriter: the one writer of families and samples behind both /metrics endpoints.
#include "prometheus_text/metrics_writer.h"

#include <cmath>
#include <limits>
#include <stdexcept>
#include <string>

#include <gtest/gtest.h>

namespace pgha::prometheus_text {
namespace {

TEST(MetricsWriter, WritesAFamilyThenItsSamplesWithEscapedLabels) {
  MetricsWriter w;
  w.family("haproxy_server_status", "gauge", "Current status of the service, per state label value.");
  w.sample({{"proxy", "pg_write"}, {"server", "n\"1\\\n"}, {"state", "UP"}}, 1);
  w.sample({{"proxy", "pg_write"}, {"server", "n2"}, {"state", "UP"}}, false);
  EXPECT_EQ(w.text(),
            "# HELP haproxy_server_status Current status of the service, per state label value.\n"
            "# TYPE haproxy_server_status gauge\n"
            "haproxy_server_status{proxy=\"pg_write\",server=\"n\\\"1\\\\\\n\",state=\"UP\"} 1\n"
            "haproxy_server_status{proxy=\"pg_write\",server=\"n2\",state=\"UP\"} 0\n");
}

TEST(MetricsWriter, ASampleWithoutLabelsHasNoBraces) {
  MetricsWriter w;
  w.family("m", "counter", "h");
  w.sample({}, std::uint64_t{18446744073709551615ULL});
  w.sample({}, std::int64_t{-5});
  EXPECT_EQ(w.take(), "# HELP m h\n# TYPE m counter\nm 18446744073709551615\nm -5\n");
}

TEST(MetricsWriter, LabelsBuiltAtRunTime) {
  MetricsWriter w;
  w.family("m", "gauge", "h");
  std::vector<Label> labels{{"a", "x"}};
  labels.push_back({"b", "y"});
  w.sample(labels, 0.25);
  EXPECT_EQ(w.text(), "# HELP m h\n# TYPE m gauge\nm{a=\"x\",b=\"y\"} 0.25\n");
}

TEST(MetricsWriter, TextValuesAreWrittenAsGiven) {
  MetricsWriter w;
  w.family("patroni_version", "gauge", "Patroni semver without periods.");
  w.sample_text({{"scope", "demo"}}, "030002");
  EXPECT_EQ(w.text().substr(w.text().rfind("patroni_version{")), "patroni_version{scope=\"demo\"} 030002\n");
}

TEST(MetricsWriter, ASampleBeforeAnyFamilyIsAProgrammingError) {
  MetricsWriter w;
  EXPECT_THROW(w.sample({}, 1), std::logic_error);
}

TEST(MetricsWriter, NumbersInTheFormatsSpelling) {
  EXPECT_EQ(format_value(0), "0");
  EXPECT_EQ(format_value(3), "3");
  EXPECT_EQ(format_value(0.001), "0.001");
  EXPECT_EQ(format_value(1700000000.123456), "1700000000.123456");
  EXPECT_EQ(format_value(-2.5), "-2.5");
  EXPECT_EQ(format_value(std::numeric_limits<double>::quiet_NaN()), "NaN");
  EXPECT_EQ(format_value(std::numeric_limits<double>::infinity()), "+Inf");
  EXPECT_EQ(format_value(-std::numeric_limits<double>::infinity()), "-Inf");
  // Every value reads back exactly.
  for (const double v : {0.1, 1e-9, 123456789.987654321, 5e300}) EXPECT_EQ(std::stod(format_value(v)), v) << v;
}

}  // namespace
}  // namespace pgha::prometheus_text
