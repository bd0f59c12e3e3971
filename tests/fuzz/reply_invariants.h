// What every pure reply judge of health/ (reply_verdict.h) promises the checker that feeds it the
// bytes read so far: once the stream has ended every reply is decided; a verdict reached on a
// prefix is the one the whole reply gets (the checker stops reading at the first decided one);
// and a decided verdict explains itself in printable ASCII, whatever the server sent. For the
// fuzz targets of tests/fuzz; header only.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <string_view>

#include "health/reply_verdict.h"
#include "tests/fuzz/fuzz_input.h"

namespace pgha::fuzz {

using Judge = std::function<health::ReplyVerdict(std::string_view received, bool complete)>;

inline void check_verdict_text(const health::ReplyVerdict& verdict) {
  if (!verdict.decided()) return;
  require(!verdict.detail.empty() && printable_ascii(verdict.detail));
}

// `split` (of 255) picks one more prefix to judge, besides the short ones where most decisions are
// made.
inline void check_reply_judge(const Judge& judge, std::string_view reply, std::uint8_t split) {
  const health::ReplyVerdict whole = judge(reply, true);
  require(whole.decided());
  check_verdict_text(whole);
  const health::ReplyVerdict open = judge(reply, false);
  check_verdict_text(open);
  if (open.decided()) require(open.kind == whole.kind && open.code == whole.code);
  auto check_prefix = [&](std::size_t length) {
    const health::ReplyVerdict early = judge(reply.substr(0, length), false);
    check_verdict_text(early);
    if (early.decided()) require(early.kind == open.kind && early.code == open.code);
  };
  for (std::size_t length = 0; length <= std::min<std::size_t>(reply.size(), 16); ++length) check_prefix(length);
  check_prefix(reply.size() * split / 255);
}

}  // namespace pgha::fuzz
