#include "election/restart_request.h"

#include <algorithm>
#include <cctype>
#include <vector>

#include <nlohmann/json.hpp>

#include "election/iso8601.h"

namespace pgha::election {

using nlohmann::ordered_json;

namespace {

bool all_digits(std::string_view s) { return !s.empty() && s.find_first_not_of("0123456789") == std::string_view::npos; }

// Patroni's parse_int(value, 's') for the common forms: 30, "30", "30s", "2min", "1h", "1d".
std::optional<std::int64_t> timeout_seconds(const nlohmann::json& value) {
  if (value.is_number_integer()) return value.get<std::int64_t>();
  if (value.is_number_unsigned()) return static_cast<std::int64_t>(std::min<std::uint64_t>(value.get<std::uint64_t>(), 1u << 30));
  if (!value.is_string()) return std::nullopt;
  std::string text = value.get<std::string>();
  const auto first = text.find_first_not_of(" \t");
  const auto last = text.find_last_not_of(" \t");
  if (first == std::string::npos) return std::nullopt;
  text = text.substr(first, last - first + 1);
  std::size_t end = 0;
  while (end < text.size() && text[end] >= '0' && text[end] <= '9') ++end;
  if (end == 0 || end > 9) return std::nullopt;
  const std::int64_t number = std::stoll(text.substr(0, end));
  std::string unit = text.substr(end);
  if (const auto from = unit.find_first_not_of(' '); from != std::string::npos) unit = unit.substr(from);
  else unit.clear();
  if (unit.empty() || unit == "s") return number;
  if (unit == "min") return number * 60;
  if (unit == "h") return number * 3600;
  if (unit == "d") return number * 86400;
  if (unit == "ms") return (number + 500) / 1000;
  return std::nullopt;
}

}  // namespace

std::optional<std::int64_t> postgres_version_to_int(const std::string& version, std::string* error) {
  std::vector<int> parts;
  std::size_t start = 0;
  for (;;) {
    const std::size_t dot = version.find('.', start);
    const std::string part = version.substr(start, dot == std::string::npos ? std::string::npos : dot - start);
    if (!all_digits(part) || part.size() > 6) {
      if (error) *error = "Invalid PostgreSQL version: " + version;
      return std::nullopt;
    }
    parts.push_back(std::stoi(part));
    if (dot == std::string::npos) break;
    start = dot + 1;
  }
  if (parts.size() < 2 || (parts.size() == 2 && parts[0] < 10) || parts.size() > 3) {
    if (error) *error = "Invalid PostgreSQL version format: X.Y or X.Y.Z is accepted: " + version;
    return std::nullopt;
  }
  if (parts.size() == 2) parts.insert(parts.begin() + 1, 0);  // 10.1 → 10.0.1
  // Two digits per part, as Patroni joins them: 9.6.3 → 90603, 15.0.4 → 150004.
  return static_cast<std::int64_t>(parts[0]) * 10000 + parts[1] * 100 + parts[2];
}

RestartRequestParse parse_restart_request(std::string_view body, std::chrono::system_clock::time_point now) {
  RestartRequestParse out;
  const auto fail = [&out](int status, std::string why) {
    out.http_status = status;
    out.error = std::move(why);
    return out;
  };
  if (body.find_first_not_of(" \t\r\n") == std::string_view::npos) return out;
  const ordered_json j = ordered_json::parse(body, nullptr, false);
  if (j.is_discarded() || !j.is_object()) return fail(400, "Bad request: the body must be a JSON object");
  RestartRequest& r = out.request;
  for (const auto& [key, value] : j.items()) {
    if (key == "schedule") {
      const ScheduleCheck at =
          check_schedule(value.is_string() ? value.get<std::string>() : value.dump(), "restart", now);
      if (!at.at) return fail(at.http_status, at.error);
      r.schedule = *at.at;
    } else if (key == "role") {
      const std::string role = value.is_string() ? value.get<std::string>() : "";
      if (role != "master" && role != "primary" && role != "replica") {
        return fail(400, "PostgreSQL role should be either primary or replica");
      }
      r.role = role == "master" ? "primary" : role;
    } else if (key == "postgres_version") {
      std::string error;
      const auto number = value.is_string() ? postgres_version_to_int(value.get<std::string>(), &error) : std::nullopt;
      if (!number) return fail(400, error.empty() ? "Invalid PostgreSQL version: " + value.dump() : error);
      r.postgres_version = value.get<std::string>();
      r.postgres_version_num = *number;
    } else if (key == "timeout") {
      const auto seconds = timeout_seconds(value);
      if (!seconds || *seconds <= 0) return fail(400, "Timeout should be a positive number of seconds");
      r.timeout = std::chrono::seconds(*seconds);
    } else if (key == "restart_pending") {
      // A value Patroni's parse_bool cannot read is refused rather than guessed.
      const auto pending = patroni_bool(value);
      if (!pending) return fail(400, "restart_pending should be a boolean");
      r.restart_pending = *pending;
    } else {
      return fail(400, "Unknown filter for the scheduled restart: " + key);
    }
  }
  return out;
}

std::optional<bool> patroni_bool(const ordered_json& value) {
  if (value.is_boolean()) return value.get<bool>();
  std::string word = value.is_string() ? value.get<std::string>() : value.dump();
  std::transform(word.begin(), word.end(), word.begin(), [](unsigned char c) { return std::tolower(c); });
  if (word == "true" || word == "on" || word == "yes" || word == "1") return true;
  if (word == "false" || word == "off" || word == "no" || word == "0") return false;
  return std::nullopt;
}

std::string restart_conditions_unmet(const RestartRequest& request, bool is_primary, std::int64_t server_version,
                                     bool pending_restart) {
  if (!request.role.empty() && request.role != (is_primary ? "primary" : "replica")) return "host role mismatch";
  if (request.postgres_version_num != 0 && request.postgres_version_num <= server_version) {
    return "postgres version mismatch";
  }
  if (request.restart_pending && !pending_restart) return "pending restart flag is not set";
  return "";
}

ordered_json scheduled_restart_json(const RestartRequest& request) {
  ordered_json j = ordered_json::object();
  if (request.schedule) j["schedule"] = format_iso8601(*request.schedule);
  if (request.restart_pending) j["restart_pending"] = true;
  if (!request.role.empty()) j["role"] = request.role;
  if (!request.postgres_version.empty()) j["postgres_version"] = request.postgres_version;
  if (request.timeout) j["timeout"] = request.timeout->count();
  return j;
}

}  // namespace pgha::election
