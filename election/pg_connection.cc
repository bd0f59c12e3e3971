#include "election/pg_connection.h"

#include <poll.h>

#include <cerrno>
#include <cstring>
#include <utility>

#include <libpq-fe.h>

namespace pgha::election {
namespace {

using std::chrono::milliseconds;

std::string trimmed(std::string text) {
  while (!text.empty() && (text.back() == '\n' || text.back() == ' ')) text.pop_back();
  return text;
}

}  // namespace

PgConnection::~PgConnection() { close(); }

PgConnection::PgConnection(PgConnection&& other) noexcept : conn_(std::exchange(other.conn_, nullptr)) {}

PgConnection& PgConnection::operator=(PgConnection&& other) noexcept {
  if (this != &other) {
    close();
    conn_ = std::exchange(other.conn_, nullptr);
  }
  return *this;
}

void PgConnection::close() {
  if (conn_ != nullptr) PQfinish(conn_);
  conn_ = nullptr;
}

std::string PgConnection::last_error() const {
  return conn_ == nullptr ? std::string("not connected") : trimmed(PQerrorMessage(conn_));
}

PgStatus PgConnection::wait_socket(bool for_write, Clock::time_point deadline, const char* what) {
  for (;;) {
    const auto left = std::chrono::duration_cast<milliseconds>(deadline - Clock::now()).count();
    if (left <= 0) return PgStatus::error(std::string("deadline passed while ") + what);
    pollfd pfd{PQsocket(conn_), static_cast<short>(for_write ? POLLOUT : POLLIN), 0};
    const int n = ::poll(&pfd, 1, static_cast<int>(left));
    if (n > 0) return PgStatus::success();
    if (n < 0 && errno != EINTR) return PgStatus::error(std::string("poll: ") + std::strerror(errno));
  }
}

PgStatus PgConnection::connect(const std::map<std::string, std::string>& params, Clock::time_point deadline) {
  close();
  std::vector<const char*> keys;
  std::vector<const char*> values;
  for (const auto& [key, value] : params) {
    keys.push_back(key.c_str());
    values.push_back(value.c_str());
  }
  keys.push_back(nullptr);
  values.push_back(nullptr);
  conn_ = PQconnectStartParams(keys.data(), values.data(), 0);
  if (conn_ == nullptr) return PgStatus::error("libpq: out of memory");
  if (PQstatus(conn_) == CONNECTION_BAD) {
    PgStatus failed = PgStatus::error(last_error());
    close();
    return failed;
  }
  PostgresPollingStatusType state = PGRES_POLLING_WRITING;
  for (;;) {
    if (state == PGRES_POLLING_OK) break;
    if (state == PGRES_POLLING_FAILED) {
      PgStatus failed = PgStatus::error(last_error());
      close();
      return failed;
    }
    PgStatus waited = wait_socket(state == PGRES_POLLING_WRITING, deadline, "connecting");
    if (!waited.ok()) {
      close();
      return waited;
    }
    state = PQconnectPoll(conn_);
  }
  if (PQsetnonblocking(conn_, 1) != 0) {
    PgStatus failed = PgStatus::error(last_error());
    close();
    return failed;
  }
  return PgStatus::success();
}

PgStatus PgConnection::query(const std::string& sql, Clock::time_point deadline, PgRows* rows) {
  if (conn_ == nullptr) return PgStatus::error("not connected");
  if (PQsendQuery(conn_, sql.c_str()) == 0) return PgStatus::error(last_error());
  auto give_up = [&](PgStatus status) {
    // Drop the connection: its protocol state is unknown now. No PQcancel: PostgreSQL 15's is a
    // blocking connect with no deadline; callers set statement_timeout to bound the server side.
    close();
    return status;
  };
  for (;;) {
    const int flushed = PQflush(conn_);
    if (flushed < 0) return give_up(PgStatus::error(last_error()));
    if (flushed == 0) break;
    if (PgStatus waited = wait_socket(true, deadline, "sending a query"); !waited.ok()) return give_up(waited);
  }
  PgStatus outcome = PgStatus::success();
  for (;;) {
    while (PQisBusy(conn_) != 0) {
      if (PgStatus waited = wait_socket(false, deadline, "waiting for a query's result"); !waited.ok()) {
        return give_up(waited);
      }
      if (PQconsumeInput(conn_) == 0) return give_up(PgStatus::error(last_error()));
    }
    PGresult* result = PQgetResult(conn_);
    if (result == nullptr) break;
    const ExecStatusType status = PQresultStatus(result);
    if (status == PGRES_TUPLES_OK || status == PGRES_COMMAND_OK || status == PGRES_EMPTY_QUERY) {
      if (rows != nullptr && status == PGRES_TUPLES_OK) {
        rows->clear();
        const int nrows = PQntuples(result);
        const int ncols = PQnfields(result);
        for (int r = 0; r < nrows; ++r) {
          PgRow row;
          for (int c = 0; c < ncols; ++c) {
            if (PQgetisnull(result, r, c) != 0) {
              row.emplace_back(std::nullopt);
            } else {
              row.emplace_back(std::string(PQgetvalue(result, r, c), static_cast<std::size_t>(PQgetlength(result, r, c))));
            }
          }
          rows->push_back(std::move(row));
        }
      }
    } else if (outcome.ok()) {
      outcome = PgStatus::error(trimmed(PQresultErrorMessage(result)));
    }
    PQclear(result);
  }
  if (PQstatus(conn_) == CONNECTION_BAD) {
    PgStatus broken = outcome.ok() ? PgStatus::error(last_error()) : outcome;
    close();
    return broken;
  }
  return outcome;
}

std::optional<std::string> PgConnection::query_value(const std::string& sql, Clock::time_point deadline,
                                                     PgStatus* status) {
  PgRows rows;
  PgStatus outcome = query(sql, deadline, &rows);
  if (status != nullptr) *status = outcome;
  if (!outcome.ok() || rows.empty() || rows.front().empty()) return std::nullopt;
  return rows.front().front();
}

std::string PgConnection::quote_literal(const std::string& value) const {
  if (conn_ == nullptr) return {};
  char* quoted = PQescapeLiteral(conn_, value.data(), value.size());
  if (quoted == nullptr) return {};
  std::string out(quoted);
  PQfreemem(quoted);
  return out;
}

std::string PgConnection::quote_identifier(const std::string& value) const {
  if (conn_ == nullptr) return {};
  char* quoted = PQescapeIdentifier(conn_, value.data(), value.size());
  if (quoted == nullptr) return {};
  std::string out(quoted);
  PQfreemem(quoted);
  return out;
}

std::optional<std::string> PgConnection::scram_verifier(const std::string& user, const std::string& password) const {
  if (conn_ == nullptr) return std::nullopt;
  // A local computation (the algorithm is given), so no round trip and no deadline needed.
  char* verifier = PQencryptPasswordConn(conn_, password.c_str(), user.c_str(), "scram-sha-256");
  if (verifier == nullptr) return std::nullopt;
  std::string out(verifier);
  PQfreemem(verifier);
  return out;
}

}  // namespace pgha::election
