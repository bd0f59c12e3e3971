#include "election/bounded_json.h"

#include <gtest/gtest.h>

#include <string>

namespace pgha::election {
namespace {

std::string array_of_ones(std::size_t count) {
  std::string text = "[";
  for (std::size_t i = 0; i < count; ++i) text += i == 0 ? "1" : ",1";
  return text + "]";
}

TEST(BoundedJson, ParsesWhatIsWithinTheLimits) {
  const auto parsed = parse_bounded_json(R"({"kvs":[{"key":"a","value":"b"}],"count":"1"})");
  ASSERT_TRUE(parsed.is_object());
  EXPECT_EQ(parsed["kvs"][0]["value"].get<std::string>(), "b");
  // 1 array + 99 numbers = 100 values, exactly the limit.
  EXPECT_TRUE(parse_bounded_json(array_of_ones(99), JsonLimits{100, 64}).is_array());
  EXPECT_TRUE(parse_bounded_json(std::string(64, '[') + std::string(64, ']'), JsonLimits{1000, 64}).is_array());
}

TEST(BoundedJson, RefusesTooManyValuesBeforeBuildingThem) {
  EXPECT_TRUE(parse_bounded_json(array_of_ones(100), JsonLimits{100, 64}).is_discarded());
  // The default limit holds against a reply that would have cost hundreds of megabytes.
  EXPECT_TRUE(parse_bounded_json(array_of_ones(2'000'000)).is_discarded());
  std::string objects = "[";
  for (int i = 0; i < 60'000; ++i) objects += i == 0 ? R"({"a":1})" : R"(,{"a":1})";
  EXPECT_TRUE(parse_bounded_json(objects + "]").is_discarded());
}

TEST(BoundedJson, RefusesDeepNesting) {
  EXPECT_TRUE(parse_bounded_json(std::string(65, '[') + std::string(65, ']'), JsonLimits{1000, 64}).is_discarded());
  EXPECT_TRUE(parse_bounded_json(std::string(1'000'000, '[')).is_discarded());
  EXPECT_TRUE(parse_bounded_json(std::string(100, '{')).is_discarded());
}

TEST(BoundedJson, RefusesWhatIsNotJson) {
  EXPECT_TRUE(parse_bounded_json("").is_discarded());
  EXPECT_TRUE(parse_bounded_json("{\"a\":").is_discarded());
  EXPECT_TRUE(parse_bounded_json("{} trailing").is_discarded());
  EXPECT_TRUE(parse_bounded_json(std::string("\0\xff{[", 4)).is_discarded());
}

}  // namespace
}  // namespace pgha::election
