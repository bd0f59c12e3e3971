#include "election/timeline_history.h"

#include <cstdio>
#include <ctime>
#include <map>
#include <sstream>

#include <nlohmann/json.hpp>

#include "election/bounded_json.h"
#include "election/local_postgres.h"

namespace pgha::election {

namespace {

using json = nlohmann::json;

// The key's entries by timeline (only well-formed ones: an array starting with an integer).
std::map<std::int64_t, json> entries_by_timeline(const std::string& key_value) {
  std::map<std::int64_t, json> out;
  const json parsed = parse_bounded_json(key_value);
  if (!parsed.is_array()) return out;
  for (const json& entry : parsed) {
    if (entry.is_array() && entry.size() >= 2 && entry[0].is_number_integer()) out[entry[0].get<std::int64_t>()] = entry;
  }
  return out;
}

}  // namespace

bool history_needs_update(const std::string& key_value, int timeline) {
  if (timeline <= 1) return false;
  const json parsed = parse_bounded_json(key_value);
  if (!parsed.is_array() || parsed.empty()) return true;
  const json& last = parsed.back();
  return !last.is_array() || last.size() != 5 || !last[0].is_number_integer() ||
         last[0].get<std::int64_t>() != timeline - 1;
}

std::optional<std::string> updated_history(const std::string& history_file, const std::string& key_value,
                                           const std::string& promoted_at, const std::string& new_leader) {
  const auto known = entries_by_timeline(key_value);
  json history = json::array();
  std::istringstream lines(history_file);
  for (std::string line; std::getline(lines, line);) {
    std::istringstream fields(line);
    std::string timeline_text, lsn_text;
    if (!(fields >> timeline_text >> lsn_text) || timeline_text.front() == '#') continue;
    const auto lsn = parse_lsn(lsn_text);
    if (!lsn || timeline_text.find_first_not_of("0123456789") != std::string::npos || timeline_text.size() > 9) continue;
    std::string reason;
    std::getline(fields >> std::ws, reason);
    const std::int64_t timeline = std::stoll(timeline_text);
    json entry = {timeline, *lsn, reason};
    if (auto it = known.find(timeline); it != known.end() && it->second[1] == *lsn) {
      for (std::size_t i = 3; i < it->second.size() && i < 5; ++i) entry.push_back(it->second[i]);
    }
    history.push_back(std::move(entry));
  }
  if (history.empty()) return std::nullopt;
  json& last = history.back();
  if (last.size() == 3) {
    last.push_back(promoted_at);
    last.push_back(new_leader);
  }
  return json_text(history);
}

std::string history_timestamp(std::int64_t unix_micros) {
  const std::time_t seconds = static_cast<std::time_t>(unix_micros / 1'000'000);
  std::tm tm{};
  ::gmtime_r(&seconds, &tm);
  char text[48];
  const std::size_t length = std::strftime(text, sizeof text, "%Y-%m-%dT%H:%M:%S", &tm);
  std::snprintf(text + length, sizeof text - length, ".%06lld+00:00", static_cast<long long>(unix_micros % 1'000'000));
  return text;
}

}  // namespace pgha::election
