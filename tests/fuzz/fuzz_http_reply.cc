// Fuzz target: the HTTP check's reply judge (judge_http_reply, Boost.Beast's parser underneath)
// over any bytes a server may send, checked against reply_invariants.h, and: healthy only with
// the expected status (any 2xx/3xx when none is configured). Input: one byte that picks the
// expected status, one that picks a prefix to judge early, then the reply.
#include <cstddef>
#include <cstdint>

#include "health/http_reply.h"
#include "tests/fuzz/fuzz_input.h"
#include "tests/fuzz/reply_invariants.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace pgha;
  if (size < 2) return 0;
  constexpr int kExpected[] = {0, 200, 204, 302, 404, 503, 100, 599};
  const int expect_status = kExpected[data[0] % std::size(kExpected)];
  const std::uint8_t split = data[1];
  std::string_view reply = fuzz::as_text(data + 2, size - 2);
  reply = reply.substr(0, health::kMaxHttpReplyHeader);  // the checker reads no more
  auto judge = [expect_status](std::string_view received, bool complete) {
    return health::judge_http_reply(received, complete, expect_status);
  };
  fuzz::check_reply_judge(judge, reply, split);
  const health::ReplyVerdict verdict = judge(reply, true);
  if (verdict.healthy()) {
    fuzz::require(expect_status != 0 ? verdict.code == expect_status : verdict.code >= 200 && verdict.code < 400);
  }
  return 0;
}
