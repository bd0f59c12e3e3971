// ReplyVerdict: what a pure reply judge (judge_http_reply, judge_pgsql_startup_reply, ...)
// concludes from the bytes received so far. A value type with no I/O, so that every verdict
// can be table-tested on literal bytes; the checkers feed it what they read.
#pragma once

#include <string>
#include <utility>

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

}  // namespace pgha::health
