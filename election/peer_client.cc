#include "election/peer_client.h"

#include <httplib.h>

#include <nlohmann/json.hpp>

#include "election/local_postgres.h"
#include "election/member_codec.h"
#include "election/pg_connection.h"
#include "election/bounded_json.h"

namespace pgha::election {
namespace {

// "http://host:port/patroni" → "http://host:port" ("" when malformed).
std::string api_base(const std::string& api_url) {
  const auto scheme = api_url.find("://");
  if (scheme == std::string::npos) return {};
  const auto path = api_url.find('/', scheme + 3);
  return path == std::string::npos ? api_url : api_url.substr(0, path);
}

void set_timeouts(httplib::Client& client, std::chrono::milliseconds timeout) {
  const auto seconds = static_cast<time_t>(timeout.count() / 1000);
  const auto micros = static_cast<time_t>((timeout.count() % 1000) * 1000);
  client.set_connection_timeout(seconds, micros);
  client.set_read_timeout(seconds, micros);
  client.set_write_timeout(seconds, micros);
}

}  // namespace

PeerApiState HttpPeerClient::api_state(const MemberStatus& member, Millis timeout) {
  PeerApiState state;
  const std::string base = api_base(member.api_url);
  if (base.empty()) {
    state.error = "no REST API address in its member key";
    return state;
  }
  httplib::Client client(base);
  set_timeouts(client, timeout);
  auto res = client.Get("/patroni");
  if (!res) {
    state.error = base + " did not answer: " + httplib::to_string(res.error());
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
  const std::string base = api_base(member.api_url);
  if (base.empty()) return false;
  httplib::Client client(base);
  set_timeouts(client, timeout);
  auto res = client.Get("/primary");
  return res && res->status == 200;
}

SwitchoverResult HttpPeerClient::forward_switchover(const MemberStatus& member, const SwitchoverRequest& request,
                                                    bool failover, Millis timeout) {
  const std::string base = api_base(member.api_url);
  if (base.empty()) return {503, "cannot forward to " + member.name + ": no REST API address in its member key"};
  httplib::Client client(base);
  set_timeouts(client, timeout);
  if (!config_.rest_username.empty()) client.set_basic_auth(config_.rest_username, config_.rest_password);
  nlohmann::json body{{"leader", request.leader}, {"candidate", request.candidate}};
  if (request.scheduled_at) body["scheduled_at"] = *request.scheduled_at;
  auto res = client.Post(failover ? "/failover" : "/switchover", body.dump(), "application/json");
  if (!res) {
    return {503, "forwarding to the leader " + member.name + " (" + base + ") failed: " + httplib::to_string(res.error())};
  }
  return {res->status, res->body};
}

}  // namespace pgha::election
