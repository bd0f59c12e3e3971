// ISO 8601 timestamps of Patroni's schedules (a scheduled restart, a scheduled switchover):
//  - parse_iso8601(): "2026-12-02T06:30:00+01:00", "2026-12-02 05:30Z", fractions of a second read
//    and dropped; years 1970..2200 (what a schedule needs, and what system_clock holds);
//  - format_iso8601(): UTC, whole seconds, as Python's isoformat() writes it;
//  - check_schedule(): a request's schedule checked as Patroni checks it, with its statuses and
//    messages (400 without a time zone, 422 when unreadable or in the past).
// Pure functions; thread-safe.
#pragma once

#include <chrono>
#include <optional>
#include <string>
#include <string_view>

namespace pgha::election {

// nullopt when unreadable; `has_zone` says whether a zone was given.
std::optional<std::chrono::system_clock::time_point> parse_iso8601(std::string_view text, bool* has_zone);
// "2026-12-02T05:30:00+00:00".
std::string format_iso8601(std::chrono::system_clock::time_point at);

struct ScheduleCheck {
  std::optional<std::chrono::system_clock::time_point> at;  // set when the schedule is good
  int http_status = 0;                                      // else Patroni's status and message
  std::string error;
};
// `action`: "restart", "switchover", as the messages name it.
ScheduleCheck check_schedule(std::string_view text, std::string_view action, std::chrono::system_clock::time_point now);

}  // namespace pgha::election
