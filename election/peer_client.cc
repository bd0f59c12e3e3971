#include "election/peer_client.h"

#include <nlohmann/json.hpp>

#include "election/local_postgres.h"
#include "election/member_codec.h"
#include "election/pg_connection.h"
#include "election/bounded_json.h"
#include "election/rest_client.h"

namespace pgha::election {
PeerApiState HttpPeerClient::api_state(const MemberStatus& member, Millis timeout) {
  PeerApiState state;
  RestClient client(member.api_url, config_, timeout, timeout);
  if (!client.ok()) {
    state.error = client.error();
    return state;
  }
  const std::string& base = client.base();
  auto res = client.get("/patroni");
  if (!res) {
    state.error = base + " did not answer: " + client.describe_failure(res);
    return state;
  }
  const auto body = parse_bounded_json(res->body);
  if (body.is_discarded() || !body.is_object()) {
    state.error = base + "/patroni answered " + std::to_string(res->status) + " without a JSON object";
    return state;
  }
  state.reachable = true;
  state.state = body.value("state", "");
  state.role = body.value("role", "");
  if (const auto tags = body.find("tags"); tags != body.end() && tags->is_object()) {
    state.nofailover = tags->value("nofailover", false);
  }
  return state;
}

PgStatus HttpPeerClient::received_lsn(const MemberStatus& member, Millis timeout, std::int64_t* lsn) {
  const auto deadline = PgConnection::Clock::now() + timeout;
  const auto address = PgUpstream::parse(host_port_of_conn_url(member.conn_url));
  if (!address) return PgStatus::error("no PostgreSQL address in " + member.name + "'s member key");
  PgConnection conn;
  PgStatus s = conn.connect({{"host", address->host},
                             {"port", std::to_string(address->port)},
                             {"user", config_.superuser.username},
                             {"password", config_.superuser.password},
                             {"dbname", "postgres"},
                             {"application_name", "pgha-agent"}},
                            deadline);
  if (!s.ok()) return s;
  const auto value =
      conn.query_value("SELECT coalesce((pg_last_wal_receive_lsn() - '0/0'::pg_lsn)::bigint, 0)", deadline, &s);
  if (!s.ok()) return s;
  if (!value) return PgStatus::error("no answer to pg_last_wal_receive_lsn()");
  *lsn = std::atoll(value->c_str());
  return PgStatus::success();
}

bool HttpPeerClient::answers_primary(const MemberStatus& member, Millis timeout) {
  RestClient client(member.api_url, config_, timeout, timeout);
  if (!client.ok()) return false;
  auto res = client.get("/primary");
  return res && res->status == 200;
}

SwitchoverResult HttpPeerClient::forward_switchover(const MemberStatus& member, const SwitchoverRequest& request,
                                                    bool failover, Millis timeout) {
  RestClient client(member.api_url, config_, timeout, timeout);
  if (!client.ok()) return {503, "cannot forward to " + member.name + ": " + client.error()};
  nlohmann::json body{{"leader", request.leader}, {"candidate", request.candidate}};
  if (request.scheduled_at) body["scheduled_at"] = *request.scheduled_at;
  auto res = client.post(failover ? "/failover" : "/switchover", json_text(body));
  if (!res) {
    return {503, "forwarding to the leader " + member.name + " (" + client.base() +
                     ") failed: " + client.describe_failure(res)};
  }
  return {res->status, res->body};
}

FailsafeAnswer HttpPeerClient::confirm_failsafe(const std::string& api_url, const FailsafeBody& body,
                                                Millis timeout) {
  RestClient client(api_url, config_, timeout, timeout);
  if (!client.ok()) return {503, client.error()};
  auto res = client.post("/failsafe", encode_failsafe_body(body));
  if (!res) return {503, client.base() + " did not answer: " + client.describe_failure(res)};
  return {res->status, res->body};
}

}  // namespace pgha::election
