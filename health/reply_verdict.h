// ReplyVerdict: what a pure reply judge (judge_http_reply, judge_pgsql_startup_reply, ...)
// concludes from the bytes received so far. A value type with no I/O, so that every verdict
// can be table-tested on literal bytes; the checkers feed it what they read.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

namespace pgha::health {

struct ReplyVerdict {
  enum class Kind {
    kNeedMore,   // the bytes so far decide nothing yet; read more
    kHealthy,
    kUnhealthy,
  };
  Kind kind = Kind::kNeedMore;
  // Human-readable reason, e.g. "HTTP 503", "pgsql: auth request R5 (md5)". Empty for kNeedMore.
  std::string detail;
  // HTTP status code or PostgreSQL authentication request code; -1 when there is none.
  int code = -1;

  bool decided() const { return kind != Kind::kNeedMore; }
  bool healthy() const { return kind == Kind::kHealthy; }

  static ReplyVerdict need_more() { return {}; }
  static ReplyVerdict healthy_because(std::string why, int code = -1) {
    return {Kind::kHealthy, std::move(why), code};
  }
  static ReplyVerdict unhealthy_because(std::string why, int code = -1) {
    return {Kind::kUnhealthy, std::move(why), code};
  }
};

// The first `max_bytes` bytes of an unexpected reply, non-printable bytes shown as '.', and
// "..." when cut: for details such as "HTTP: garbage reply \"SSH-2.0-OpenSSH\"".
std::string printable_excerpt(std::string_view bytes, std::size_t max_bytes = 24);

}  // namespace pgha::health
