#include "election/member_codec.h"

#include <nlohmann/json.hpp>

namespace pgha::election {

using nlohmann::json;

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
         {"timeline", m.timeline},
         {"tags", {{"nofailover", m.nofailover}}}};
  return j.dump();
}

std::optional<MemberStatus> decode_member(const std::string& name, const std::string& text) {
  json j = json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (!j.is_object()) return std::nullopt;
  MemberStatus m;
  m.name = name;
  auto str = [&](const char* key) { return j.contains(key) && j[key].is_string() ? j[key].get<std::string>() : ""; };
  m.conn_url = str("conn_url");
  m.api_url = str("api_url");
  m.state = str("state");
  m.role = str("role");
  if (m.role == "master") m.role = "primary";  // Patroni before 3.0 wrote "master"
  if (j.contains("xlog_location") && j["xlog_location"].is_number()) m.wal_position = j["xlog_location"].get<std::int64_t>();
  if (j.contains("timeline") && j["timeline"].is_number()) m.timeline = j["timeline"].get<int>();
  if (j.contains("tags") && j["tags"].is_object() && j["tags"].contains("nofailover")) {
    m.nofailover = j["tags"]["nofailover"].is_boolean() && j["tags"]["nofailover"].get<bool>();
  }
  return m;
}

std::string encode_failover(const FailoverRequest& r) { return json{{"leader", r.leader}, {"member", r.candidate}}.dump(); }

std::optional<FailoverRequest> decode_failover(const std::string& text) {
  json j = json::parse(text, nullptr, false);
  if (!j.is_object()) return std::nullopt;
  FailoverRequest r;
  if (j.contains("leader") && j["leader"].is_string()) r.leader = j["leader"].get<std::string>();
  for (const char* key : {"member", "candidate"}) {
    if (j.contains(key) && j[key].is_string()) r.candidate = j[key].get<std::string>();
  }
  return r;
}

std::string encode_leader_optime(std::int64_t wal_position) { return json{{"optime", wal_position}}.dump(); }

std::string encode_handover_optime(std::int64_t shutdown_checkpoint) {
  return json{{"optime", shutdown_checkpoint}, {"handover", shutdown_checkpoint}}.dump();
}

std::int64_t decode_handover_optime(const std::string& text) {
  const json j = json::parse(text, nullptr, false);
  if (j.is_object() && j.contains("handover") && j["handover"].is_number()) return j["handover"].get<std::int64_t>();
  return 0;
}

std::int64_t decode_leader_optime(const std::string& text) {
  json j = json::parse(text, nullptr, false);
  if (j.is_object() && j.contains("optime") && j["optime"].is_number()) return j["optime"].get<std::int64_t>();
  return 0;
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
    } else if (kv.key == layout.failover()) {
      view.failover = decode_failover(kv.value);
    } else if (kv.key == layout.status()) {
      view.last_leader_wal_position = decode_leader_optime(kv.value);
      view.handover_wal_position = decode_handover_optime(kv.value);
    } else if (kv.key.rfind(members, 0) == 0) {
      if (auto m = decode_member(kv.key.substr(members.size()), kv.value)) view.members.push_back(std::move(*m));
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
