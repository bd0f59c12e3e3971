// Fuzz target: the pgsql check's reply judges (judge_pgsql_startup_reply, judge_pgsql_ssl_reply)
// over any bytes a server may send, checked against reply_invariants.h. Input: one byte that
// picks the judge and a prefix to judge early, then the reply.
#include <cstddef>
#include <cstdint>

#include "health/pgsql_reply.h"
#include "tests/fuzz/fuzz_input.h"
#include "tests/fuzz/reply_invariants.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace pgha;
  if (size == 0) return 0;
  const bool ssl_request = (data[0] & 1) != 0;
  const auto split = static_cast<std::uint8_t>(data[0] & 0xfe);
  std::string_view reply = fuzz::as_text(data + 1, size - 1);
  reply = reply.substr(0, health::kMaxPgsqlReply);  // the checker reads no more
  fuzz::check_reply_judge(ssl_request ? health::judge_pgsql_ssl_reply : health::judge_pgsql_startup_reply, reply,
                          split);
  if (!ssl_request) {
    // Only an authentication request is healthy; an error response never is.
    const health::ReplyVerdict verdict = health::judge_pgsql_startup_reply(reply, true);
    if (!reply.empty() && reply.front() == 'E') fuzz::require(!verdict.healthy());
    if (verdict.healthy()) fuzz::require(reply.front() == 'R');
  }
  return 0;
}
