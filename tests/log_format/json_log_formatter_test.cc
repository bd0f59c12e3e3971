// JsonLogFormatter: one JSON object per line, whatever the message holds.
#include "log_format/json_log_formatter.h"

#include <memory>
#include <sstream>
#include <string>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>
#include <spdlog/logger.h>
#include <spdlog/sinks/ostream_sink.h>

#include "log_format/log_format.h"

namespace pgha::log_format {
namespace {

TEST(JsonLogFormatter, EveryRecordIsOneParsableLine) {
  std::ostringstream out;
  auto sink = std::make_shared<spdlog::sinks::ostream_sink_mt>(out);
  spdlog::logger logger("proxy", sink);
  logger.set_formatter(std::make_unique<JsonLogFormatter>());
  logger.set_level(spdlog::level::trace);
  const std::string tricky = "say \"hi\"\nsecond line\\ tab\t bell\x07 end";
  logger.warn("{}", tricky);
  logger.info("not UTF-8: \xff\xfe done");
  logger.debug("");
  std::istringstream lines(out.str());
  std::string line;
  std::vector<nlohmann::json> records;
  while (std::getline(lines, line)) records.push_back(nlohmann::json::parse(line));
  ASSERT_EQ(records.size(), 3u) << out.str();
  EXPECT_EQ(records[0]["message"], tricky);
  EXPECT_EQ(records[0]["level"], "warning");
  EXPECT_EQ(records[0]["logger"], "proxy");
  const std::string time = records[0]["time"];
  EXPECT_EQ(time.size(), 24u) << time;  // 2026-01-31T12:00:00.123Z
  EXPECT_EQ(time.back(), 'Z');
  EXPECT_EQ(time[10], 'T');
  EXPECT_NE(records[1]["message"].get<std::string>().find("done"), std::string::npos);
  EXPECT_EQ(records[2]["message"], "");
  EXPECT_EQ(records[2]["level"], "debug");
}

TEST(LogFormat, KnowsTextAndJsonOnly) {
  EXPECT_TRUE(is_log_format("text"));
  EXPECT_TRUE(is_log_format("json"));
  EXPECT_FALSE(is_log_format("JSON"));
  EXPECT_FALSE(is_log_format(""));
  EXPECT_FALSE(apply("xml"));
  EXPECT_TRUE(apply("text"));
}

}  // namespace
}  // namespace pgha::log_format
