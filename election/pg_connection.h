// PgConnection: one synchronous libpq connection whose every wait is bounded by a deadline —
// the connect (PQconnectStartParams + poll) and each query (PQsendQuery + poll; on the deadline
// the query is cancelled and the connection closed). Used by PostgresControl for its status
// probe, promotion and role set-up, and by tests.
// Blocking: HA thread or tests only, never an io or REST thread (a blocked io thread stalls every
// session on it). Not thread-safe: one owner at a time. Move-only.
#pragma once

#include <chrono>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "election/pg_status.h"

struct pg_conn;  // libpq's PGconn, kept out of this header

namespace pgha::election {

using PgRow = std::vector<std::optional<std::string>>;  // text values; nullopt for SQL NULL
using PgRows = std::vector<PgRow>;

class PgConnection {
 public:
  using Clock = std::chrono::steady_clock;

  PgConnection() = default;
  ~PgConnection();
  PgConnection(PgConnection&& other) noexcept;
  PgConnection& operator=(PgConnection&& other) noexcept;
  PgConnection(const PgConnection&) = delete;
  PgConnection& operator=(const PgConnection&) = delete;

  // libpq keywords → values (host, port, user, password, passfile, dbname, options, ...).
  // The agent's environment still applies to keys not given (libpq reads PG* variables).
  PgStatus connect(const std::map<std::string, std::string>& params, Clock::time_point deadline);
  bool connected() const { return conn_ != nullptr; }
  void close();

  // Runs `sql` (one or more statements); the rows of the last result go to `rows` if given.
  PgStatus query(const std::string& sql, Clock::time_point deadline, PgRows* rows = nullptr);
  // Convenience: the first column of the first row, or nullopt (error or no row / NULL).
  std::optional<std::string> query_value(const std::string& sql, Clock::time_point deadline,
                                         PgStatus* status = nullptr);

  // Quoting through libpq, for statements built from configuration values ("" if not connected).
  std::string quote_literal(const std::string& value) const;
  std::string quote_identifier(const std::string& value) const;
  // A SCRAM-SHA-256 verifier for `password`, so plain passwords never reach the server's logs.
  std::optional<std::string> scram_verifier(const std::string& user, const std::string& password) const;

 private:
  PgStatus wait_socket(bool for_write, Clock::time_point deadline, const char* what);
  std::string last_error() const;

  pg_conn* conn_ = nullptr;
};

}  // namespace pgha::election
