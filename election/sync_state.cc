#include "election/sync_state.h"

#include <algorithm>

#include <nlohmann/json.hpp>

#include "election/bounded_json.h"

namespace pgha::election {

using json = nlohmann::json;

bool SyncState::is_standby(const std::string& name) const {
  return std::find(standbys.begin(), standbys.end(), name) != standbys.end();
}

bool SyncState::allows(const std::string& name) const {
  return !unreadable && (name == leader || is_standby(name));
}

std::string encode_sync_state(const SyncState& state) {
  json j{{"leader", state.leader.empty() ? json(nullptr) : json(state.leader)}};
  if (state.standbys.empty()) {
    j["sync_standby"] = nullptr;
  } else {
    std::string joined;
    for (const std::string& name : state.standbys) joined += (joined.empty() ? "" : ",") + name;
    j["sync_standby"] = joined;
  }
  if (state.quorum) j["quorum"] = *state.quorum;
  return json_text(j);
}

std::optional<SyncState> decode_sync_state(const std::string& text, std::string* error) {
  const json j = parse_bounded_json(text);
  auto refuse = [&](const std::string& why) -> std::optional<SyncState> {
    if (error != nullptr) *error = why;
    return std::nullopt;
  };
  if (!j.is_object()) return refuse("not a JSON object");
  SyncState state;
  if (j.contains("leader") && !j["leader"].is_null()) {
    if (!j["leader"].is_string()) return refuse("'leader' is not a string");
    state.leader = j["leader"].get<std::string>();
  }
  if (j.contains("sync_standby") && !j["sync_standby"].is_null()) {
    if (!j["sync_standby"].is_string()) return refuse("'sync_standby' is not a string");
    const std::string list = j["sync_standby"].get<std::string>();
    std::size_t start = 0;
    while (start <= list.size()) {
      const std::size_t comma = std::min(list.find(',', start), list.size());
      std::string name = list.substr(start, comma - start);
      name.erase(0, name.find_first_not_of(' '));
      name.erase(name.find_last_not_of(' ') + 1);
      if (!name.empty()) state.standbys.push_back(std::move(name));
      start = comma + 1;
    }
  }
  if (j.contains("quorum") && !j["quorum"].is_null()) {
    if (!j["quorum"].is_number_integer() || j["quorum"].get<std::int64_t>() < 0 ||
        j["quorum"].get<std::int64_t>() > 1000) {
      return refuse("'quorum' is not a count of members");
    }
    state.quorum = static_cast<int>(j["quorum"].get<std::int64_t>());
  }
  return state;
}

std::vector<std::string> choose_sync_standbys(const std::vector<SyncCandidate>& replicas,
                                              const std::vector<std::string>& members,
                                              const std::vector<std::string>& current, std::int64_t leader_lsn,
                                              const SyncSettings& settings) {
  std::vector<const SyncCandidate*> usable;
  for (const SyncCandidate& r : replicas) {
    if (!r.streaming || r.nosync) continue;
    if (std::find(members.begin(), members.end(), r.name) == members.end()) continue;
    if (settings.max_lag_on_syncnode >= 0 && leader_lsn - r.flush_lsn > settings.max_lag_on_syncnode) continue;
    if (std::any_of(usable.begin(), usable.end(), [&](const SyncCandidate* u) { return u->name == r.name; })) continue;
    usable.push_back(&r);
  }
  auto rank = [&](const SyncCandidate* r) {
    const auto at = std::find(current.begin(), current.end(), r->name);
    return at == current.end() ? current.size() : static_cast<std::size_t>(at - current.begin());
  };
  std::stable_sort(usable.begin(), usable.end(), [&](const SyncCandidate* a, const SyncCandidate* b) {
    if (rank(a) != rank(b)) return rank(a) < rank(b);
    if (a->flush_lsn != b->flush_lsn) return a->flush_lsn > b->flush_lsn;
    return a->name < b->name;
  });
  std::vector<std::string> chosen;
  for (const SyncCandidate* r : usable) {
    if (!settings.quorum && static_cast<int>(chosen.size()) >= settings.node_count) break;
    chosen.push_back(r->name);
  }
  // 'ANY k' does not care about order: by name, so that the setting changes only when the set does.
  if (settings.quorum) std::sort(chosen.begin(), chosen.end());
  return chosen;
}

std::string standby_names_setting(const std::vector<std::string>& standbys, const SyncSettings& settings) {
  if (standbys.empty()) return settings.strict ? "*" : "";
  std::string list;
  for (const std::string& name : standbys) {
    std::string quoted = "\"";
    for (char c : name) quoted += c == '"' ? std::string("\"\"") : std::string(1, c);
    list += (list.empty() ? "" : ", ") + quoted + "\"";
  }
  if (settings.quorum) return "ANY " + std::to_string(quorum_commit_count(standbys.size(), settings)) + " (" + list + ")";
  const int n = std::min<int>(settings.node_count, static_cast<int>(standbys.size()));
  return "FIRST " + std::to_string(n) + " (" + list + ")";
}

int quorum_commit_count(std::size_t standbys, const SyncSettings& settings) {
  if (standbys == 0) return 0;
  return std::clamp(settings.node_count, 1, static_cast<int>(standbys));
}

}  // namespace pgha::election
