#include "election/member_codec.h"

#include <limits>

#include <nlohmann/json.hpp>

#include "election/bounded_json.h"
#include "election/failsafe.h"
#include "election/json_integer.h"

namespace pgha::election {

using nlohmann::json;

namespace {

// The integer `object[key]` if it is one in [min, max]; nullopt when absent or null, or refused
// (a fraction, 1e300, a negative position, a string): `error` gets the first refusal.
std::optional<std::int64_t> bounded_integer(const json& object, const char* key, std::int64_t min, std::int64_t max,
                                            std::string& error) {
  const auto it = object.find(key);
  if (it == object.end() || it->is_null()) return std::nullopt;
  if (auto value = integer_in_range(*it, min, max, /*strings_too=*/false)) return value;
  if (error.empty()) error = integer_refusal(key, *it, min, max);
  return std::nullopt;
}

constexpr std::int64_t kInt64Max = std::numeric_limits<std::int64_t>::max();

// A "status" key's position field ("optime", "handover"): 0 when absent or unreadable.
std::int64_t decode_status_position(const std::string& text, const char* key, std::string* error) {
  const json j = parse_bounded_json(text);
  if (!j.is_object()) return 0;
  std::string why;
  const auto value = bounded_integer(j, key, 0, kInt64Max, why);
  if (error != nullptr && !why.empty()) *error = why;
  return value.value_or(0);
}

}  // namespace

KeyLayout::KeyLayout(const std::string& namespace_, const std::string& scope) {
  std::string ns = namespace_.empty() ? "/service" : namespace_;
  if (ns.front() != '/') ns.insert(ns.begin(), '/');
  while (ns.size() > 1 && ns.back() == '/') ns.pop_back();
  prefix_ = ns + "/" + scope + "/";
}

std::string encode_member(const MemberStatus& m) {
  json j{{"conn_url", m.conn_url},
         {"api_url", m.api_url},
         {"state", m.state},
         {"role", m.role},
         {"version", "pgha-0.1"},
         {"xlog_location", m.wal_position},
         {"timeline", m.timeline}};
  // As Patroni: only the tags that are set (patronictl list shows each one).
  json tags = json::object();
  if (m.nofailover) tags["nofailover"] = true;
  if (m.nosync) tags["nosync"] = true;
  if (m.failover_priority != 1) tags["failover_priority"] = m.failover_priority;
  if (!m.replicatefrom.empty()) tags["replicatefrom"] = m.replicatefrom;
  if (!tags.empty()) j["tags"] = std::move(tags);
  if (m.pending_restart) j["pending_restart"] = true;
  if (!m.scheduled_restart.empty()) {
    json scheduled = parse_bounded_json(m.scheduled_restart);
    if (scheduled.is_object()) j["scheduled_restart"] = std::move(scheduled);
  }
  return json_text(j);
}

std::optional<MemberStatus> decode_member(const std::string& name, const std::string& text, std::string* error) {
  json j = parse_bounded_json(text);
  if (!j.is_object()) {
    if (error != nullptr) *error = "not a JSON object";
    return std::nullopt;
  }
  MemberStatus m;
  m.name = name;
  auto str = [&](const char* key) { return j.contains(key) && j[key].is_string() ? j[key].get<std::string>() : ""; };
  m.conn_url = str("conn_url");
  m.api_url = str("api_url");
  m.pending_restart = j.contains("pending_restart") && j["pending_restart"].is_boolean() && j["pending_restart"].get<bool>();
  m.state = str("state");
  if (j.contains("scheduled_restart") && j["scheduled_restart"].is_object()) {
    m.scheduled_restart = json_text(j["scheduled_restart"]);
  }
  m.role = str("role");
  if (m.role == "master") m.role = "primary";  // Patroni before 3.0 wrote "master"
  std::string why;
  const auto wal_position = bounded_integer(j, "xlog_location", 0, kInt64Max, why);
  const auto timeline = bounded_integer(j, "timeline", 0, std::numeric_limits<int>::max(), why);
  if (!why.empty()) {
    if (error != nullptr) *error = why;
    return std::nullopt;
  }
  m.wal_position = wal_position.value_or(0);
  m.timeline = static_cast<int>(timeline.value_or(0));
  if (j.contains("tags") && j["tags"].is_object()) {
    const json& tags = j["tags"];
    auto tag = [&](const char* key) { return tags.contains(key) && tags[key].is_boolean() && tags[key].get<bool>(); };
    m.nofailover = tag("nofailover");
    m.nosync = tag("nosync");
    if (tags.contains("replicatefrom") && tags["replicatefrom"].is_string()) {
      m.replicatefrom = tags["replicatefrom"].get<std::string>();
    }
    // An unreadable priority keeps the default: the member still counts (leaving it out could
    // let a member behind it campaign).
    if (tags.contains("failover_priority")) {
      if (auto priority = integer_in_range(tags["failover_priority"], 0, 1000000, /*strings_too=*/true)) {
        m.failover_priority = static_cast<int>(*priority);
        if (m.failover_priority == 0) m.nofailover = true;
      }
    }
  }
  return m;
}

std::string encode_failover(const FailoverRequest& r) {
  json j{{"leader", r.leader}, {"member", r.candidate}};
  if (!r.scheduled_at.empty()) j["scheduled_at"] = r.scheduled_at;
  return json_text(j);
}

std::optional<FailoverRequest> decode_failover(const std::string& text) {
  json j = parse_bounded_json(text);
  if (!j.is_object()) return std::nullopt;
  FailoverRequest r;
  if (j.contains("leader") && j["leader"].is_string()) r.leader = j["leader"].get<std::string>();
  for (const char* key : {"member", "candidate"}) {
    if (j.contains(key) && j[key].is_string()) r.candidate = j[key].get<std::string>();
  }
  if (j.contains("scheduled_at") && j["scheduled_at"].is_string()) r.scheduled_at = j["scheduled_at"].get<std::string>();
  // Patroni clears the key by writing {} (after a switchover, or when it drops a request it
  // cannot honour), and counts a request naming neither leader nor candidate as none: so do we,
  // or a leader would step down for the healthiest member whenever a Patroni member cleared it.
  if (r.leader.empty() && r.candidate.empty()) return std::nullopt;
  return r;
}

std::string encode_leader_optime(std::int64_t wal_position, const std::set<std::string>& retain_slots) {
  json j{{"optime", wal_position}};
  if (!retain_slots.empty()) j["retain_slots"] = retain_slots;
  return json_text(j);
}

std::set<std::string> decode_retained_slots(const std::string& text) {
  std::set<std::string> out;
  const json j = parse_bounded_json(text);
  if (!j.is_object() || !j.contains("retain_slots") || !j["retain_slots"].is_array()) return out;
  for (const json& name : j["retain_slots"]) {
    if (name.is_string()) out.insert(name.get<std::string>());
  }
  return out;
}

std::string encode_handover_optime(std::int64_t shutdown_checkpoint) {
  return json{{"optime", shutdown_checkpoint}, {"handover", shutdown_checkpoint}}.dump();
}

std::int64_t decode_handover_optime(const std::string& text, std::string* error) {
  return decode_status_position(text, "handover", error);
}

std::int64_t decode_leader_optime(const std::string& text, std::string* error) {
  return decode_status_position(text, "optime", error);
}

ClusterView decode_cluster(const KeyLayout& layout, const RangeResponse& range, KeyValue* leader_kv) {
  ClusterView view;
  const std::string members = layout.members_prefix();
  for (const KeyValue& kv : range.kvs) {
    if (kv.key == layout.leader()) {
      view.leader = kv.value;
      if (leader_kv) *leader_kv = kv;
    } else if (kv.key == layout.initialize()) {
      view.initialized = true;
      view.initialize_value = kv.value;
    } else if (kv.key == layout.history()) {
      view.history = kv.value;
    } else if (kv.key == layout.failover()) {
      view.failover = decode_failover(kv.value);
    } else if (kv.key == layout.status()) {
      std::string error;
      view.last_leader_wal_position = decode_leader_optime(kv.value, &error);
      view.handover_wal_position = decode_handover_optime(kv.value, &error);
      view.retained_slots = decode_retained_slots(kv.value);
      if (!error.empty()) view.unreadable.push_back(kv.key + ": " + error);
    } else if (kv.key == layout.config()) {
      const json config = parse_bounded_json(kv.value);
      if (!config.is_object()) {
        view.unreadable.push_back(kv.key + ": not a JSON object");
      } else {
        for (auto [field, flag] : {std::pair{"pause", &view.paused}, {"failsafe_mode", &view.failsafe_mode}}) {
          const auto it = config.find(field);
          if (it == config.end() || it->is_null()) continue;
          if (it->is_boolean()) *flag = it->get<bool>();
          else view.unreadable.push_back(kv.key + ": '" + field + "' is not a boolean");
        }
      }
    } else if (kv.key == layout.failsafe()) {
      std::string error;
      view.failsafe = decode_failsafe_topology(kv.value, &error);
      if (!view.failsafe) view.unreadable.push_back(kv.key + ": " + error);
    } else if (kv.key == layout.sync()) {
      std::string error;
      view.sync = decode_sync_state(kv.value, &error);
      if (!view.sync) {
        view.unreadable.push_back(kv.key + ": " + error);
        view.sync = SyncState{};
        view.sync->unreadable = true;
      }
    } else if (kv.key.rfind(members, 0) == 0) {
      std::string error;
      if (auto m = decode_member(kv.key.substr(members.size()), kv.value, &error)) {
        view.members.push_back(std::move(*m));
      } else {
        view.unreadable.push_back(kv.key + ": " + error);
      }
    }
  }
  return view;
}

std::string host_port_of_conn_url(const std::string& conn_url) {
  const std::string scheme = "postgres://";
  if (conn_url.rfind(scheme, 0) != 0) return "";
  std::string rest = conn_url.substr(scheme.size());
  if (auto at = rest.find('@'); at != std::string::npos) rest = rest.substr(at + 1);
  return rest.substr(0, rest.find('/'));
}

}  // namespace pgha::election
