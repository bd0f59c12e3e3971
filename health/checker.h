// Checker: one probe of one server ("send probe, judge reply"). Implementations:
// HttpChecker, PgsqlChecker, TcpChecker. Timing and thresholds live in CheckState and
// HealthMonitor, not here. A checker is used from one executor (one io thread) at a time.
#pragma once

#include <memory>
#include <string>
#include <utility>  // before Asio: Boost 1.74's awaitable.hpp uses std::exchange without it

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>

#include "health/check_spec.h"

namespace pgha::health {

struct CheckResult {
  bool healthy = false;
  // Short human-readable reason, e.g. "HTTP 200", "HTTP 503", "timeout after 2000 ms",
  // "connection refused", "pgsql: auth request R5", "pgsql: E the database system is starting up".
  std::string detail;
  Millis duration{0};
  // The server answered and said no (an HTTP status other than the expected one): it is alive
  // and in charge of its sessions, unlike a server that is refused, silent or garbled.
  bool declined = false;
  // The probe could not run for a local reason (this process is out of descriptors or memory for
  // a socket: EMFILE, ENFILE, ENOBUFS, ENOMEM): it says nothing about the server, whose state
  // must not change. `healthy` is false and `detail` says why.
  bool not_run = false;
};

class Checker {
 public:
  virtual ~Checker() = default;
  // Runs one probe with the deadline from the spec. Never throws; never outlives its deadline
  // by more than scheduling jitter; closes its socket before returning.
  virtual boost::asio::awaitable<CheckResult> check() = 0;
};

// Builds the checker for spec.type (nullptr for CheckType::kNone).
std::unique_ptr<Checker> make_checker(boost::asio::any_io_executor executor, const CheckSpec& spec);

}  // namespace pgha::health
