// split_command_words(): the words Python's shlex.split (POSIX mode) gives for the same text, as
// Patroni splits callbacks, pre_promote and before_stop.
#include "election/command_words.h"

#include <gtest/gtest.h>

namespace pgha::election {
namespace {

using Words = std::vector<std::string>;

Words split(const std::string& text) {
  std::string error;
  auto words = split_command_words(text, &error);
  EXPECT_TRUE(words.has_value()) << text << ": " << error;
  return words.value_or(Words{});
}

std::string error_of(const std::string& text) {
  std::string error;
  return split_command_words(text, &error) ? std::string("(no error)") : error;
}

TEST(CommandWords, SplitsAsShlexDoes) {
  // Each expectation is what shlex.split printed for the text.
  EXPECT_EQ(split("a b"), (Words{"a", "b"}));
  EXPECT_EQ(split("  a \t b\n"), (Words{"a", "b"}));
  EXPECT_EQ(split("a  \"b c\" d"), (Words{"a", "b c", "d"}));
  EXPECT_EQ(split("a 'b\\c' d"), (Words{"a", "b\\c", "d"}));
  EXPECT_EQ(split("a \"b\\\"c\\\\d\\e\" f"), (Words{"a", "b\"c\\d\\e", "f"}));
  EXPECT_EQ(split("a\\ b"), (Words{"a b"}));
  EXPECT_EQ(split("a '' b"), (Words{"a", "", "b"}));
  EXPECT_EQ(split("a#b #c"), (Words{"a#b", "#c"}));
  EXPECT_EQ(split("x\\\nz"), (Words{"x\nz"}));
  EXPECT_EQ(split("\"a\"b'c'"), (Words{"abc"}));
  EXPECT_EQ(split("/bin/sh -c 'echo $HOME > /tmp/x | y'"), (Words{"/bin/sh", "-c", "echo $HOME > /tmp/x | y"}));
  EXPECT_EQ(split(""), Words{});
  EXPECT_EQ(split("   "), Words{});
}

TEST(CommandWords, UnclosedQuotesAndATrailingBackslashAreErrors) {
  EXPECT_NE(error_of("\"abc").find("no closing quotation"), std::string::npos);
  EXPECT_NE(error_of("a 'b").find("no closing quotation"), std::string::npos);
  EXPECT_NE(error_of("a\\").find("no escaped character"), std::string::npos);
  EXPECT_NE(error_of("\"a\\\"").find("no closing quotation"), std::string::npos);
}

}  // namespace
}  // namespace pgha::election
