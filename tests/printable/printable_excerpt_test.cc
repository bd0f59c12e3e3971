// printable_excerpt(): control bytes, bytes >= 0x7f and NUL become '.', long input is cut with "...".
#include "printable/printable_excerpt.h"

#include <string>

#include <gtest/gtest.h>

namespace pgha {
namespace {

TEST(PrintableExcerpt, KeepsPrintableAsciiAndMasksEverythingElse) {
  EXPECT_EQ(printable_excerpt("SSH-2.0-OpenSSH"), "SSH-2.0-OpenSSH");
  EXPECT_EQ(printable_excerpt(std::string("a\x1b[31m\n\0b\r\t\x7f\xff", 13), 100), "a.[31m..b....");
}

TEST(PrintableExcerpt, CutsAtMaxBytesAndSaysSo) {
  EXPECT_EQ(printable_excerpt("abcdef", 3), "abc...");
  EXPECT_EQ(printable_excerpt("abc", 3), "abc");
  EXPECT_EQ(printable_excerpt("", 3), "");
}

TEST(PrintableExcerpt, NoOutputByteIsAControlByte) {
  std::string all;
  for (int i = 0; i < 256; ++i) all += static_cast<char>(i);
  for (char c : printable_excerpt(all, all.size())) {
    const auto byte = static_cast<unsigned char>(c);
    EXPECT_TRUE(byte >= 0x20 && byte < 0x7f) << int(byte);
  }
}

}  // namespace
}  // namespace pgha
