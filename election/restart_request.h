// RestartRequest: the body of POST /restart (Patroni's fields: restart_pending, role,
// postgres_version, timeout, schedule), parsed and checked as Patroni does, with its statuses and
// messages; and the check of its conditions against this node's PostgreSQL when the restart is
// due (the schedule's timestamp: iso8601.h). Pure functions; thread-safe.
//
// Where Patroni is loose this is stricter: `restart_pending: false` means no condition (Patroni
// treats the key's presence alone as the condition), and `postgres_version` must be a string.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include <nlohmann/json_fwd.hpp>

#include "election/iso8601.h"

namespace pgha::election {

struct RestartRequest {
  bool restart_pending = false;      // only if PostgreSQL reports a setting waiting for a restart
  std::string role;                  // "" (any), "primary" or "replica" ("master" is read as primary)
  std::string postgres_version;      // "" (any), else only if the server is older: "15.4", "9.6.3"
  std::int64_t postgres_version_num = 0;   // the same as server_version_num: 150004
  std::optional<std::chrono::seconds> timeout;  // how long the start may take
  // When given: a restart at that moment, not now.
  std::optional<std::chrono::system_clock::time_point> schedule;
};

// What parse_restart_request() found: http_status 0 when the request is valid, else Patroni's
// status (400, or 422 for an unparsable or past schedule) and message.
struct RestartRequestParse {
  int http_status = 0;
  std::string error;
  RestartRequest request;
};

// `body` may be empty (no conditions, now). `now` decides whether a schedule is in the past.
RestartRequestParse parse_restart_request(std::string_view body, std::chrono::system_clock::time_point now);

// Patroni's postgres_version_to_int: "9.6.3" → 90603, "15.4" → 150004 ("10" and "9.6" are
// refused). `error` gets Patroni's message.
std::optional<std::int64_t> postgres_version_to_int(const std::string& version, std::string* error = nullptr);

// Why a due restart must not go ahead ("" when it may): the role (primary: this node leads and
// runs out of recovery), the version and the pending_restart flag, as Patroni checks them.
std::string restart_conditions_unmet(const RestartRequest& request, bool is_primary, std::int64_t server_version,
                                     bool pending_restart);

// Patroni's parse_bool: true/false, and the words on/off, yes/no, 1/0 (as JSON or as strings);
// nullopt for anything else.
std::optional<bool> patroni_bool(const nlohmann::ordered_json& value);

// The request as the member key and GET /patroni show a scheduled restart: {"schedule": ...,
// plus the conditions that were given}.
nlohmann::ordered_json scheduled_restart_json(const RestartRequest& request);

}  // namespace pgha::election
