// PgStatus: the outcome of a PostgreSQL control call (PostgresControl, PgConnection,
// CommandRunner users) as a value; nothing throws out of those APIs. A failed status carries a
// one-paragraph message meant for the log and GET /patroni, including the tail of the failing
// tool's output; a successful one may carry a note ("already running", "rewound", ...).
// Plain value; safe to copy between threads.
#pragma once

#include <string>
#include <utility>

namespace pgha::election {

class [[nodiscard]] PgStatus {
 public:
  PgStatus() = default;  // success

  static PgStatus success(std::string note = {}) { return PgStatus(true, std::move(note)); }
  static PgStatus error(std::string message) { return PgStatus(false, std::move(message)); }

  bool ok() const { return ok_; }
  explicit operator bool() const { return ok_; }
  // The error, or the success note ("" when there is none).
  const std::string& message() const { return message_; }

 private:
  PgStatus(bool ok, std::string message) : ok_(ok), message_(std::move(message)) {}
  bool ok_ = true;
  std::string message_;
};

}  // namespace pgha::election
