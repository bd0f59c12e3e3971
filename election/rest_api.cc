#include "election/rest_api.h"

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <stdexcept>

#include <httplib.h>
#include <nlohmann/json.hpp>

#include "election/log.h"
#include "printable/printable_excerpt.h"
#include "prometheus_text/prometheus_text.h"

namespace pgha::election {
namespace {

using nlohmann::ordered_json;

// Patroni's "patroni.version" key keeps its place but names our agent; the metric needs a number.
constexpr const char* kAgentVersion = "pgha-0.1";
constexpr const char* kAgentVersionPadded = "000100";  // Patroni pads each semver part: 0.1.0

constexpr int kOk = 200;
constexpr int kUnavailable = 503;

const char* const kStartingBody = R"({"state": "starting"})";

// How much of a client-sent field (a member name, a path) one log line quotes.
constexpr std::size_t kMaxLoggedField = 200;

// ---- small helpers ----

std::string json_text(const ordered_json& j) { return j.dump(-1, ' ', false, ordered_json::error_handler_t::replace); }

std::optional<std::string> effective_leader(const NodeStatus& s) {
  return s.leader ? s.leader : s.cluster.leader;
}

// Bytes a replica has still to replay, measured as Patroni does (leader optime − replayed).
std::optional<std::int64_t> replay_lag(const NodeStatus& s) {
  if (s.leader_wal_position == 0) return std::nullopt;
  const std::int64_t replayed = s.replayed_location != 0 ? s.replayed_location : s.wal_position;
  return std::max<std::int64_t>(0, s.leader_wal_position - replayed);
}

bool is_lagging(const NodeStatus& s, std::optional<std::int64_t> max_lag) {
  if (!max_lag) return false;
  const auto lag = replay_lag(s);
  return lag && *lag > *max_lag;
}

bool contains(std::string_view haystack, std::string_view needle) {
  return haystack.find(needle) != std::string_view::npos;
}

std::string first_segment(std::string_view path) {
  while (!path.empty() && path.front() == '/') path.remove_prefix(1);
  return std::string(path.substr(0, path.find('/')));
}

// The tags Patroni would report: only the ones set.
ordered_json tags_json(const NodeStatus& s) {
  ordered_json tags = ordered_json::object();
  if (s.nofailover) tags["nofailover"] = true;
  if (s.noloadbalance) tags["noloadbalance"] = true;
  return tags;
}

// "postgres://host:port/db" → host, port (0 when absent).
std::pair<std::string, int> host_port_of_url(std::string_view url) {
  const auto scheme = url.find("://");
  if (scheme != std::string_view::npos) url.remove_prefix(scheme + 3);
  url = url.substr(0, url.find_first_of("/?"));
  if (const auto at = url.rfind('@'); at != std::string_view::npos) url.remove_prefix(at + 1);
  std::string_view host = url;
  std::string_view port;
  if (!url.empty() && url.front() == '[') {
    const auto close = url.find(']');
    host = url.substr(1, close == std::string_view::npos ? std::string_view::npos : close - 1);
    if (close != std::string_view::npos && close + 1 < url.size() && url[close + 1] == ':') port = url.substr(close + 2);
  } else if (const auto colon = url.rfind(':'); colon != std::string_view::npos) {
    host = url.substr(0, colon);
    port = url.substr(colon + 1);
  }
  int port_number = 0;
  for (char c : port) {
    if (c < '0' || c > '9' || port_number > 65535) return {std::string(host), 0};
    port_number = port_number * 10 + (c - '0');
  }
  return {std::string(host), port_number};
}

std::string format_seconds(double seconds) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.6f", seconds);
  std::string s = buf;
  s.erase(s.find_last_not_of('0') + 1);
  if (s.back() == '.') s.pop_back();
  return s;
}

bool is_loopback(std::string_view addr) {
  if (addr.starts_with("::ffff:")) addr.remove_prefix(7);
  return addr.starts_with("127.") || addr == "::1";
}

bool constant_time_equal(std::string_view a, std::string_view b) {
  unsigned char diff = a.size() == b.size() ? 0 : 1;
  const std::size_t n = std::max(a.size(), b.size());
  for (std::size_t i = 0; i < n; ++i) {
    const unsigned char x = i < a.size() ? static_cast<unsigned char>(a[i]) : 0;
    const unsigned char y = i < b.size() ? static_cast<unsigned char>(b[i]) : 0;
    diff |= static_cast<unsigned char>(x ^ y);
  }
  return diff == 0;
}

// "host:port", "[v6]:port", "*:port", ":port" → host, port.
std::pair<std::string, int> parse_listen(const std::string& listen) {
  const auto fail = [&listen]() -> std::pair<std::string, int> {
    throw std::invalid_argument("restapi listen '" + listen + "': expected host:port");
  };
  std::string host;
  std::string port;
  if (!listen.empty() && listen.front() == '[') {
    const auto close = listen.find(']');
    if (close == std::string::npos || close + 1 >= listen.size() || listen[close + 1] != ':') return fail();
    host = listen.substr(1, close - 1);
    port = listen.substr(close + 2);
  } else {
    const auto colon = listen.rfind(':');
    if (colon == std::string::npos) return fail();
    host = listen.substr(0, colon);
    port = listen.substr(colon + 1);
  }
  if (host.empty() || host == "*") host = "0.0.0.0";
  if (port.empty() || port.size() > 5 || port.find_first_not_of("0123456789") != std::string::npos) return fail();
  const int number = std::stoi(port);
  if (number > 65535) return fail();
  return {host, number};
}

HealthQuery health_query_of(const httplib::Request& req) {
  HealthQuery query;
  if (req.has_param("lag")) query.max_lag_bytes = parse_patroni_lag(req.get_param_value("lag"));
  if (req.has_param("replication_state")) query.replication_state = req.get_param_value("replication_state");
  for (const auto& [key, value] : req.params) {
    if (key.starts_with("tag_") && req.get_param_value(key) == value) query.tags.emplace_back(key.substr(4), value);
  }
  return query;
}

void reply_starting(httplib::Response& res, bool with_body) {
  res.status = kUnavailable;
  if (with_body) res.set_content(kStartingBody, "application/json");
}

}  // namespace

// ---------------------------------------------------------------------------------------------
// Pure parts

std::string patroni_role(const NodeStatus& s) {
  if (s.is_primary()) return "master";
  if (s.postgres_running) return s.in_recovery ? "replica" : "demoted";
  if (s.system_identifier.empty()) return "uninitialized";
  return s.in_recovery ? "replica" : "demoted";
}

int health_status_code(const NodeStatus& s, std::string_view path, const HealthQuery& query,
                       std::chrono::steady_clock::time_point now, std::chrono::milliseconds liveness_threshold) {
  const std::string segment = first_segment(path);
  if (segment == "liveness") return now - s.loop_heartbeat < liveness_threshold ? kOk : kUnavailable;

  const bool replica_running = s.is_replica() && s.state == "running";
  const bool streaming_ok = !query.replication_state || (*query.replication_state == "streaming" && !s.following.empty());
  if (segment == "readiness") {
    return s.is_primary() || (replica_running && !is_lagging(s, query.max_lag_bytes)) ? kOk : kUnavailable;
  }

  if (path == "/" || path.empty()) path = "/primary";
  const int replica_code = replica_running && !s.noloadbalance && !s.following.empty() && streaming_ok &&
                                   !is_lagging(s, query.max_lag_bytes)
                               ? kOk
                               : kUnavailable;
  const int primary_code = s.is_primary() ? kOk : kUnavailable;
  const int leader_code = s.lock_confirmed() ? kOk : kUnavailable;
  const int standby_leader_code = kUnavailable;  // no standby clusters
  constexpr bool is_synchronous = false;         // no synchronous mode reported yet

  int code = kUnavailable;
  bool ignore_tags = false;
  if (contains(path, "standby_leader") || contains(path, "standby-leader")) {
    code = standby_leader_code;
    ignore_tags = true;
  } else if (contains(path, "leader")) {
    code = leader_code;
    ignore_tags = true;
  } else if (contains(path, "master") || contains(path, "primary") || contains(path, "read-write")) {
    code = primary_code;
    ignore_tags = true;
  } else if (contains(path, "replica")) {
    code = replica_code;
  } else if (contains(path, "read-only") && !contains(path, "sync")) {
    code = primary_code == kOk ? kOk : replica_code;
  } else if (contains(path, "health")) {
    code = s.postgres_running ? kOk : kUnavailable;
  } else if ((path == "/sync" || path == "/synchronous") && is_synchronous) {
    code = replica_code;
  } else if (path == "/async" || path == "/asynchronous") {
    code = replica_code;
  } else if (path == "/read-only-sync" || path == "/read-only-synchronous") {
    code = primary_code;
  }

  if (!ignore_tags && code == kOk) {
    for (const auto& [name, wanted] : query.tags) {
      bool value = false;
      if (name == "nofailover") {
        value = s.nofailover;
      } else if (name == "noloadbalance") {
        value = s.noloadbalance;
      } else {
        return kUnavailable;  // a tag this node does not have
      }
      if (wanted != (value ? "true" : "false")) return kUnavailable;
    }
  }
  return code;
}

std::string render_patroni_json(const NodeStatus& s) {
  ordered_json j;
  j["state"] = s.state;
  if (s.postgres_running) {
    if (s.postmaster_start_time.empty()) {
      j["postmaster_start_time"] = nullptr;
    } else {
      j["postmaster_start_time"] = s.postmaster_start_time;
    }
    j["role"] = patroni_role(s);
    j["server_version"] = s.server_version;
    if (s.in_recovery) {
      j["xlog"] = {{"received_location", s.received_location != 0 ? s.received_location : s.replayed_location},
                   {"replayed_location", s.replayed_location},
                   {"replayed_timestamp", nullptr},
                   {"paused", false}};
      if (!s.following.empty()) j["replication_state"] = "streaming";
    } else {
      j["xlog"] = {{"location", s.wal_position}};
    }
    j["timeline"] = s.timeline;
    if (!s.replication.empty()) {
      auto& rows = j["replication"] = ordered_json::array();
      for (const ReplicationRow& r : s.replication) {
        rows.push_back({{"usename", r.usename},
                        {"application_name", r.application_name},
                        {"client_addr", r.client_addr},
                        {"state", r.state},
                        {"sync_state", r.sync_state},
                        {"sync_priority", r.sync_priority}});
      }
    }
  } else {
    j["role"] = patroni_role(s);
  }
  if (!effective_leader(s)) j["cluster_unlocked"] = true;
  j["dcs_last_seen"] = s.dcs_last_seen_unix;
  if (auto tags = tags_json(s); !tags.empty()) j["tags"] = std::move(tags);
  if (!s.system_identifier.empty()) j["database_system_identifier"] = s.system_identifier;
  j["patroni"] = {{"version", kAgentVersion}, {"scope", s.scope}};
  return json_text(j);
}

std::string render_cluster_json(const NodeStatus& s) {
  const auto leader = effective_leader(s);
  std::int64_t cluster_lsn = s.leader_wal_position;
  std::vector<const MemberStatus*> members;
  for (const MemberStatus& m : s.cluster.members) {
    members.push_back(&m);
    if (cluster_lsn == 0 && leader && m.name == *leader) cluster_lsn = m.wal_position;
  }
  std::sort(members.begin(), members.end(), [](const MemberStatus* a, const MemberStatus* b) { return a->name < b->name; });

  ordered_json j;
  j["scope"] = s.scope;
  auto& rows = j["members"] = ordered_json::array();
  for (const MemberStatus* m : members) {
    const bool is_leader = leader && m->name == *leader;
    ordered_json row;
    row["name"] = m->name;
    row["role"] = is_leader ? "leader" : "replica";
    row["state"] = m->state;
    row["api_url"] = m->api_url;
    if (auto [host, port] = host_port_of_url(m->conn_url); !host.empty()) {
      row["host"] = host;
      if (port != 0) row["port"] = port;
    }
    if (m->timeline > 0) row["timeline"] = m->timeline;
    if (m->nofailover) row["tags"] = {{"nofailover", true}};
    if (!is_leader) {
      if (m->wal_position == 0) {
        row["lag"] = "unknown";
      } else {
        row["lag"] = std::max<std::int64_t>(0, cluster_lsn - m->wal_position);
      }
    }
    rows.push_back(std::move(row));
  }
  return json_text(j);
}

std::string render_patroni_metrics(const NodeStatus& s) {
  const std::string labels =
      "{scope=\"" + prometheus_text::label_value(s.scope) + "\",name=\"" + prometheus_text::label_value(s.name) + "\"}";
  std::string out;
  const auto metric = [&](const char* name, const char* type, const char* help, const std::string& value) {
    prometheus_text::append_family(out, name, type, help);
    out += name;
    out += labels;
    out += ' ';
    out += value;
    out += '\n';
  };
  const auto num = [](auto v) { return std::to_string(v); };
  const bool primary = s.is_primary();
  const bool replica = s.is_replica();
  const bool out_of_recovery = s.postgres_running && !s.in_recovery;
  const double start = s.postgres_running ? parse_postgres_timestamp(s.postmaster_start_time).value_or(0) : 0;

  metric("patroni_version", "gauge", "Patroni semver without periods.", kAgentVersionPadded);
  metric("patroni_postgres_running", "gauge", "Value is 1 if Postgres is running, 0 otherwise.", num(int(s.postgres_running)));
  metric("patroni_postmaster_start_time", "gauge", "Epoch seconds since Postgres started.", format_seconds(start));
  metric("patroni_master", "gauge", "Value is 1 if this node is the leader, 0 otherwise.", num(int(primary)));
  metric("patroni_primary", "gauge", "Value is 1 if this node is the leader, 0 otherwise.", num(int(primary)));
  metric("patroni_xlog_location", "counter",
         "Current location of the Postgres transaction log, 0 if this node is not the leader.",
         num(out_of_recovery ? s.wal_position : 0));
  metric("patroni_standby_leader", "gauge", "Value is 1 if this node is the standby_leader, 0 otherwise.", "0");
  metric("patroni_replica", "gauge", "Value is 1 if this node is a replica, 0 otherwise.", num(int(replica)));
  metric("patroni_sync_standby", "gauge", "Value is 1 if this node is a sync standby replica, 0 otherwise.", "0");
  metric("patroni_xlog_received_location", "counter",
         "Current location of the received Postgres transaction log, 0 if this node is not a replica.",
         num(replica ? (s.received_location != 0 ? s.received_location : s.replayed_location) : 0));
  metric("patroni_xlog_replayed_location", "counter",
         "Current location of the replayed Postgres transaction log, 0 if this node is not a replica.",
         num(replica ? s.replayed_location : 0));
  metric("patroni_xlog_replayed_timestamp", "gauge",
         "Current timestamp of the replayed Postgres transaction log, 0 if null.", "0");
  metric("patroni_xlog_paused", "gauge", "Value is 1 if the Postgres xlog is paused, 0 otherwise.", "0");
  metric("patroni_postgres_server_version", "gauge", "Version of Postgres (if running), 0 otherwise.",
         num(s.postgres_running ? s.server_version : 0));
  metric("patroni_cluster_unlocked", "gauge", "Value is 1 if the cluster is unlocked, 0 if locked.",
         num(int(!effective_leader(s))));
  metric("patroni_failsafe_mode_is_active", "gauge", "Value is 1 if the cluster is unlocked, 0 if locked.", "0");
  metric("patroni_postgres_timeline", "counter", "Postgres timeline of this node (if running), 0 otherwise.",
         num(s.postgres_running ? s.timeline : 0));
  metric("patroni_dcs_last_seen", "gauge", "Epoch timestamp when DCS was last contacted successfully by Patroni.",
         num(s.dcs_last_seen_unix));
  metric("patroni_pending_restart", "gauge", "Value is 1 if the node needs a restart, 0 otherwise.", "0");
  metric("patroni_is_paused", "gauge", "Value is 1 if auto failover is disabled, 0 otherwise.", "0");
  return out;
}

// ---------------------------------------------------------------------------------------------
// HTTP plumbing

RestApi::RestApi(RestApiOptions options, StatusSource status_source, SwitchoverHandler on_switchover,
                 SwitchoverHandler on_failover)
    : options_(std::move(options)),
      status_source_(std::move(status_source)),
      on_switchover_(std::move(on_switchover)),
      on_failover_(std::move(on_failover)) {
  std::tie(host_, requested_port_) = parse_listen(options_.listen);
  if (!options_.username.empty() || !options_.password.empty()) {
    expected_authorization_ = httplib::make_basic_authentication_header(options_.username, options_.password).second;
  }
}

// cpp-httplib's parser and router, fed a request the gate has already read whole. process_request()
// is the protected entry point cpp-httplib's own servers (plain and TLS) feed their streams to;
// with it we keep cpp-httplib's HTTP handling (and Patroni's behaviour on top) unchanged and
// replace only how connections are accepted and read.
class RestApi::Router : public httplib::Server {
 public:
  void serve(httplib::Stream& stream) {
    bool connection_closed = true;
    // One request per connection, as Patroni's server does; the reply says "Connection: close".
    (void)process_request(stream, /*close_connection=*/true, connection_closed, nullptr);
  }
};

namespace {

// httplib::Stream over a GatedRequest: reads come from the bytes already received (and end
// there: the gate read exactly the head and Content-Length body), writes go to the client under
// the gate's write deadline.
class GatedStream final : public httplib::Stream {
 public:
  explicit GatedStream(GatedRequest& request) : request_(request), unread_(request.bytes()) {}

  bool is_readable() const override { return !unread_.empty(); }
  bool is_writable() const override { return true; }  // write() itself waits, under the deadline
  ssize_t read(char* ptr, size_t size) override {
    const std::size_t n = std::min(size, unread_.size());
    std::memcpy(ptr, unread_.data(), n);
    unread_.remove_prefix(n);
    return static_cast<ssize_t>(n);
  }
  ssize_t write(const char* ptr, size_t size) override {
    return request_.write_all(std::string_view(ptr, size)) ? static_cast<ssize_t>(size) : -1;
  }
  void get_remote_ip_and_port(std::string& ip, int& port) const override {
    ip = request_.endpoints().peer_address;
    port = request_.endpoints().peer_port;
  }
  void get_local_ip_and_port(std::string& ip, int& port) const override {
    ip = request_.endpoints().local_address;
    port = request_.endpoints().local_port;
  }
  // cpp-httplib answers 500 to a descriptor >= FD_SETSIZE (it would select() on it); the gate's
  // bound on waiting connections keeps the agent's descriptors well below that.
  socket_t socket() const override { return request_.fd(); }

 private:
  GatedRequest& request_;
  std::string_view unread_;
};

}  // namespace

RestApi::~RestApi() { stop(); }

void RestApi::start() {
  if (gate_) throw std::logic_error("RestApi::start() called twice");
  router_ = std::make_unique<Router>();
  router_->set_payload_max_length(options_.limits.max_body_bytes);
  install_routes();
  auto gate = std::make_unique<HttpRequestGate>(options_.limits, [this](GatedRequest& request) {
    GatedStream stream(request);
    router_->serve(stream);
  });
  try {
    port_ = gate->bind(host_, requested_port_);
  } catch (const std::runtime_error& e) {
    router_.reset();
    throw std::runtime_error("restapi: cannot listen on " + options_.listen + ": " + e.what());
  }
  gate->start();
  gate_ = std::move(gate);
  log().info("REST API on http://{}:{}/patroni", host_, port_);
}

void RestApi::stop() {
  if (gate_) gate_->stop();
}

void RestApi::install_routes() {
  httplib::Server& server = *router_;
  const auto snapshot_json = [this](std::string (*render)(const NodeStatus&)) {
    return [this, render](const httplib::Request&, httplib::Response& res) {
      const NodeStatusPtr status = status_source_();
      if (!status) return reply_starting(res, true);
      res.status = kOk;
      res.set_content(render(*status), "application/json");
    };
  };
  server.Get("/patroni", snapshot_json(&render_patroni_json));
  server.Get("/cluster", snapshot_json(&render_cluster_json));
  server.Get("/metrics", [this](const httplib::Request&, httplib::Response& res) {
    const NodeStatusPtr status = status_source_();
    if (!status) return reply_starting(res, true);
    res.status = kOk;
    res.set_content(render_patroni_metrics(*status), "text/plain; version=0.0.4; charset=utf-8");
  });
  // Everything else is a health check, routed as Patroni's do_GET does. cpp-httplib answers HEAD
  // through the GET handlers and leaves the body out.
  server.Get(".*", [this](const httplib::Request& req, httplib::Response& res) { serve_health(req, res, true); });
  server.Options(".*", [this](const httplib::Request& req, httplib::Response& res) { serve_health(req, res, false); });
  server.Post("/switchover", [this](const httplib::Request& req, httplib::Response& res) {
    serve_post(req, res, on_switchover_, "switchover");
  });
  server.Post("/failover", [this](const httplib::Request& req, httplib::Response& res) {
    serve_post(req, res, on_failover_, "failover");
  });
  server.set_exception_handler([](const httplib::Request& req, httplib::Response& res, std::exception_ptr ep) {
    std::string what = "unknown error";
    try {
      if (ep) std::rethrow_exception(ep);
    } catch (const std::exception& e) {
      what = e.what();
    } catch (...) {
    }
    log().error("REST API {} {}: {}", printable_excerpt(req.method, kMaxLoggedField),
                printable_excerpt(req.path, kMaxLoggedField), printable_excerpt(what, kMaxLoggedField));
    res.status = 500;
    res.set_content("internal error\n", "text/plain");
  });
}

void RestApi::serve_health(const httplib::Request& req, httplib::Response& res, bool with_body) {
  const NodeStatusPtr status = status_source_();
  if (!status) return reply_starting(res, with_body);
  res.status = health_status_code(*status, req.path, health_query_of(req), std::chrono::steady_clock::now(),
                                  options_.liveness_threshold);
  if (with_body) res.set_content(render_patroni_json(*status), "application/json");
}

bool RestApi::check_access(const httplib::Request& req, httplib::Response& res) const {
  if (expected_authorization_.empty()) {
    if (is_loopback(req.remote_addr)) return true;
    res.status = 403;
    res.set_content("Access is denied (no restapi authentication configured: only loopback may POST)", "text/plain");
    return false;
  }
  const std::string header = req.get_header_value("Authorization");
  if (!header.empty() && constant_time_equal(header, expected_authorization_)) return true;
  res.status = 401;
  res.set_header("WWW-Authenticate", "Basic realm=\"Patroni\"");
  res.set_content(header.empty() ? "no auth header received" : "not authenticated", "text/plain");
  return false;
}

void RestApi::serve_post(const httplib::Request& req, httplib::Response& res, const SwitchoverHandler& handler,
                         std::string_view action) {
  if (!check_access(req, res)) return;
  if (!status_source_()) return reply_starting(res, true);

  const auto bad_request = [&res](const std::string& why) {
    res.status = 400;
    res.set_content(why, "text/plain");
  };
  const ordered_json body = ordered_json::parse(req.body, nullptr, false);
  if (body.is_discarded() || !body.is_object() || body.empty()) {
    return bad_request("Bad request: expected a JSON object with leader, candidate and scheduled_at");
  }
  SwitchoverRequest request;
  for (const char* key : {"leader", "candidate", "member", "scheduled_at"}) {
    const auto it = body.find(key);
    if (it == body.end() || it->is_null()) continue;
    if (!it->is_string()) return bad_request(std::string("Bad request: '") + key + "' must be a string");
    const std::string value = it->get<std::string>();
    if (std::strcmp(key, "leader") == 0) {
      request.leader = value;
    } else if (std::strcmp(key, "scheduled_at") == 0) {
      request.scheduled_at = value;
    } else if (request.candidate.empty()) {
      request.candidate = value;  // "candidate", or Patroni's older "member"
    }
  }
  log().info("received {} request with leader={} candidate={} scheduled_at={} from {}", action,
             printable_excerpt(request.leader, kMaxLoggedField), printable_excerpt(request.candidate, kMaxLoggedField),
             printable_excerpt(request.scheduled_at.value_or(""), kMaxLoggedField), req.remote_addr);

  if (!handler) {
    res.status = 501;
    res.set_content(std::string(action) + " is not supported by this agent", "text/plain");
    return;
  }
  // The handler may wait for the outcome (as Patroni polls for up to loop_wait); one at a time,
  // so that concurrent requests cannot occupy the workers that health checks need.
  if (post_in_flight_.exchange(true)) {
    res.status = kUnavailable;
    res.set_content("another switchover or failover is in progress", "text/plain");
    return;
  }
  struct Release {
    std::atomic<bool>& flag;
    ~Release() { flag = false; }
  } release{post_in_flight_};

  SwitchoverResult result = handler(request);
  res.status = result.http_status >= 100 && result.http_status <= 599 ? result.http_status : 500;
  res.set_content(result.message, "text/plain");
}

}  // namespace pgha::election
