// The Prometheus text pieces both /metrics endpoints use.
#include "prometheus_text/prometheus_text.h"

#include <string>

#include <gtest/gtest.h>

namespace pgha::prometheus_text {
namespace {

TEST(PrometheusText, LabelValuesEscapeBackslashQuoteAndLineFeedOnly) {
  EXPECT_EQ(label_value("node1"), "node1");
  EXPECT_EQ(label_value(R"(a\b"c)"), R"(a\\b\"c)");
  EXPECT_EQ(label_value("two\nlines"), "two\\nlines");
  EXPECT_EQ(label_value("tab\tand é"), "tab\tand é");
  EXPECT_EQ(label_value(""), "");
}

TEST(PrometheusText, AFamilyOpensWithHelpAndTypeLines) {
  std::string out = "x\n";
  append_family(out, "pgha_server_up", "gauge", "1 when up.");
  EXPECT_EQ(out, "x\n# HELP pgha_server_up 1 when up.\n# TYPE pgha_server_up gauge\n");
}

TEST(PrometheusText, HelpTextEscapesBackslashAndLineFeedButNotQuotes) {
  std::string out;
  append_family(out, "m", "counter", "a\\b \"q\"\nnext");
  EXPECT_EQ(out, "# HELP m a\\\\b \"q\"\\nnext\n# TYPE m counter\n");
}

}  // namespace
}  // namespace pgha::prometheus_text
