// RestApi over real HTTP on loopback (port 0): the status code of every health endpoint for each
// kind of node snapshot and each of GET, HEAD and OPTIONS; ?lag= parsing; the /patroni, /cluster
// and /metrics bodies with Patroni's names; POST /switchover and /failover (auth, bad JSON, what
// the handler receives); POST/DELETE /restart, POST /reload and /reinitialize (auth, Patroni's
// validation of a restart's body, what the handlers receive and answer); HAProxy's raw
// `OPTIONS / HTTP/1.0` check. The client is a plain
// HTTP/1.0 socket client, as HAProxy's checks are.
#include "election/rest_api.h"
#include "election/rest_api_replies.h"
#include "election/peer_client.h"

#include <algorithm>
#include <map>
#include <mutex>
#include <stdexcept>
#include <string>
#include <vector>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "tests/election/log_capture.h"
#include "tests/support/slow_clients.h"
#include "tests/support/test_servers.h"

namespace pgha::election {
namespace {

using namespace std::chrono_literals;
using nlohmann::json;
using Clock = std::chrono::steady_clock;

constexpr std::int64_t kMiB = 1048576;
constexpr std::int64_t kLeaderWal = 100 * kMiB;

// ---- snapshots ----

NodeStatus base() {
  NodeStatus s;
  s.scope = "batman";
  s.name = "node1";
  s.api_url = "http://127.0.0.1:8008/patroni";
  s.conn_url = "postgres://127.0.0.1:5434/postgres";
  s.postgres_running = true;
  s.state = "running";
  s.timeline = 3;
  s.server_version = 150018;
  s.postmaster_start_time = "2024-05-01 10:00:00.5+00";
  s.system_identifier = "7364000000000000001";
  s.dcs_reachable = true;
  s.dcs_last_seen_unix = 1714557600;
  s.leader = "node2";
  s.leader_wal_position = kLeaderWal;
  s.loop_heartbeat = std::chrono::steady_clock::now();
  return s;
}

NodeStatus primary() {
  NodeStatus s = base();
  s.leader = "node1";
  s.holds_lock = true;
  s.lock_valid_until = std::chrono::steady_clock::now() + std::chrono::hours(1);
  s.wal_position = kLeaderWal;
  s.replication = {{"replicator", "node2", "127.0.0.1", "streaming", "async", 0}};
  return s;
}

// A leader whose agent was frozen past its fencing deadline, answering before its loop ran again.
NodeStatus primary_past_fencing_deadline() {
  NodeStatus s = primary();
  s.lock_valid_until = std::chrono::steady_clock::now() - std::chrono::milliseconds(1);
  return s;
}

NodeStatus replica(std::int64_t lag_bytes) {
  NodeStatus s = base();
  s.in_recovery = true;
  s.following = "node2";
  s.replayed_location = s.received_location = s.wal_position = kLeaderWal - lag_bytes;
  return s;
}

NodeStatus primary_in_doubt() {
  NodeStatus s = primary();
  s.lock_in_doubt = true;
  return s;
}

NodeStatus stopped() {
  NodeStatus s = base();
  s.postgres_running = false;
  s.in_recovery = true;
  s.state = "stopped";
  return s;
}

NodeStatus deposed_primary() {  // out of recovery, but node2 holds the lock
  NodeStatus s = base();
  s.wal_position = kLeaderWal + kMiB;
  return s;
}

NodeStatus noloadbalance_replica() {
  NodeStatus s = replica(0);
  s.noloadbalance = true;
  return s;
}

NodeStatus stale_heartbeat_primary() {
  NodeStatus s = primary();
  s.loop_heartbeat = std::chrono::steady_clock::now() - 60s;
  return s;
}

// ---- a plain HTTP/1.0 client ----

struct Reply {
  std::string header(const std::string& name) const {
    const auto it = headers.find(name);
    return it == headers.end() ? std::string() : it->second;
  }
  std::string status_line;
  int status = 0;
  std::map<std::string, std::string> headers;  // lower-case names
  std::string body;
  bool closed = false;  // the server closed the connection after the reply
};

Reply parse_reply(const std::string& raw) {
  Reply r;
  const auto line_end = raw.find("\r\n");
  if (line_end == std::string::npos) return r;
  r.status_line = raw.substr(0, line_end);
  if (r.status_line.size() >= 12) r.status = std::stoi(r.status_line.substr(9, 3));
  const auto head_end = raw.find("\r\n\r\n");
  std::size_t pos = line_end + 2;
  while (head_end != std::string::npos && pos < head_end) {
    const auto eol = raw.find("\r\n", pos);
    const std::string line = raw.substr(pos, eol - pos);
    if (const auto colon = line.find(':'); colon != std::string::npos) {
      std::string name = line.substr(0, colon);
      for (char& c : name) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
      r.headers[name] = line.substr(line.find_first_not_of(' ', colon + 1));
    }
    pos = eol + 2;
  }
  if (head_end != std::string::npos) r.body = raw.substr(head_end + 4);
  return r;
}

Reply send_raw(int port, const std::string& request, std::chrono::milliseconds budget = 5000ms) {
  boost::asio::io_context io;
  auto socket = test::connect_blocking(io, static_cast<std::uint16_t>(port));
  boost::asio::write(socket, boost::asio::buffer(request));
  const std::string raw = test::read_exactly(socket, 1 << 20, budget);  // stops at EOF
  Reply r = parse_reply(raw);
  r.closed = test::closed_by_peer(socket, 100ms);
  return r;
}

Reply request(int port, const std::string& method, const std::string& target, const std::string& body = "",
              const std::vector<std::string>& extra_headers = {}) {
  std::string req = method + " " + target + " HTTP/1.0\r\nHost: 127.0.0.1\r\n";
  for (const auto& h : extra_headers) req += h + "\r\n";
  if (!body.empty() || method == "POST") {
    req += "Content-Type: application/json\r\nContent-Length: " + std::to_string(body.size()) + "\r\n";
  }
  req += "\r\n" + body;
  return send_raw(port, req);
}

// ---- the server under test ----

class Harness {
 public:
  explicit Harness(RestApiOptions options = {}) {
    options.listen = "127.0.0.1:0";
    api_ = std::make_unique<RestApi>(
        options, [this] { return snapshot(); },
        [this](const SwitchoverRequest& r) { return record("switchover", r); },
        [this](const SwitchoverRequest& r) { return record("failover", r); });
    PlannedWorkHandlers planned;
    planned.restart = [this](const RestartRequest& r) {
      std::lock_guard lock(mutex_);
      restarts_.push_back(r);
      return planned_answer;
    };
    planned.cancel_restart = [this] { return planned_call("cancel_restart"); };
    planned.reload = [this] { return planned_call("reload"); };
    planned.reinitialize = [this](bool force) { return planned_call(force ? "reinitialize force" : "reinitialize"); };
    api_->set_planned_work_handlers(std::move(planned));
    api_->start();
  }
  std::vector<RestartRequest> restarts() {
    std::lock_guard lock(mutex_);
    return restarts_;
  }
  std::vector<std::string> planned_calls() {
    std::lock_guard lock(mutex_);
    return planned_calls_;
  }
  SwitchoverResult planned_answer{200, "restarted successfully"};
  void set(std::optional<NodeStatus> status) {
    std::lock_guard lock(mutex_);
    status_ = status ? std::make_shared<const NodeStatus>(*status) : nullptr;
  }
  int port() const { return api_->port(); }
  std::vector<std::pair<std::string, SwitchoverRequest>> calls() {
    std::lock_guard lock(mutex_);
    return calls_;
  }
  SwitchoverResult answer{200, "Successfully switched over to \"node3\""};

 private:
  NodeStatusPtr snapshot() {
    std::lock_guard lock(mutex_);
    return status_;
  }
  SwitchoverResult planned_call(const std::string& what) {
    std::lock_guard lock(mutex_);
    planned_calls_.push_back(what);
    return planned_answer;
  }
  SwitchoverResult record(const std::string& action, const SwitchoverRequest& r) {
    std::lock_guard lock(mutex_);
    calls_.emplace_back(action, r);
    return answer;
  }
  std::mutex mutex_;
  NodeStatusPtr status_;
  std::vector<std::pair<std::string, SwitchoverRequest>> calls_;
  std::vector<RestartRequest> restarts_;
  std::vector<std::string> planned_calls_;
  std::unique_ptr<RestApi> api_;
};

// ---- status codes: every endpoint × snapshot × method ----

const std::vector<std::string> kPaths = {"/",        "/primary",   "/master",    "/read-write",     "/leader",
                                         "/replica", "/read-only", "/health",    "/liveness",       "/readiness",
                                         "/standby-leader", "/replica?lag=1MB", "/async", "/nonexistent"};

struct CodesCase {
  const char* name;
  NodeStatus (*make)();
  std::vector<int> codes;  // one per kPaths entry
};

NodeStatus replica_lag0() { return replica(0); }
NodeStatus replica_lag2mb() { return replica(2 * kMiB); }

const CodesCase kCodes[] = {
    //                           /    prim master rw   leader repl r-o  health live ready sl   lag1M async other
    {"primary", primary, {200, 200, 200, 200, 200, 503, 200, 200, 200, 200, 503, 503, 503, 503}},
    {"replica_lag0", replica_lag0, {503, 503, 503, 503, 503, 200, 200, 200, 200, 200, 503, 200, 200, 503}},
    {"replica_lag2mb", replica_lag2mb, {503, 503, 503, 503, 503, 200, 200, 200, 200, 200, 503, 503, 200, 503}},
    {"primary_in_doubt", primary_in_doubt, {503, 503, 503, 503, 503, 503, 503, 200, 200, 503, 503, 503, 503, 503}},
    {"primary_past_fencing_deadline", primary_past_fencing_deadline,
     {503, 503, 503, 503, 503, 503, 503, 200, 200, 503, 503, 503, 503, 503}},
    {"stopped", stopped, {503, 503, 503, 503, 503, 503, 503, 503, 200, 503, 503, 503, 503, 503}},
    {"deposed_primary", deposed_primary, {503, 503, 503, 503, 503, 503, 503, 200, 200, 503, 503, 503, 503, 503}},
    {"noloadbalance_replica", noloadbalance_replica,
     {503, 503, 503, 503, 503, 503, 503, 200, 200, 200, 503, 503, 503, 503}},
    {"stale_heartbeat_primary", stale_heartbeat_primary,
     {200, 200, 200, 200, 200, 503, 200, 200, 503, 200, 503, 503, 503, 503}},
};

// Synchronous replication: /sync, /async and /read-only-sync answer from the /sync key as the last
// loop read it; /cluster calls the standby "sync_standby" and /metrics counts it.
TEST(RestApiTest, SynchronousStandbyEndpointsFollowTheSyncKey) {
  const auto now = std::chrono::steady_clock::now();
  const HealthQuery none;
  auto code = [&](const NodeStatus& s, const char* path) {
    return health_status_code(s, path, none, now, std::chrono::seconds(30));
  };
  NodeStatus sync = replica(0);
  sync.cluster.sync = SyncState{"node2", {"node1"}, false};
  NodeStatus async = replica(0);
  async.cluster.sync = SyncState{"node2", {"node3"}, false};
  NodeStatus stale = replica(0);  // a /sync key of an earlier leader says nothing now
  stale.cluster.sync = SyncState{"node9", {"node1"}, false};
  for (const char* path : {"/sync", "/synchronous", "/read-only-sync"}) {
    EXPECT_EQ(code(sync, path), 200) << path;
    EXPECT_EQ(code(async, path), 503) << path;
    EXPECT_EQ(code(stale, path), 503) << path;
  }
  EXPECT_EQ(code(sync, "/async"), 503);
  EXPECT_EQ(code(async, "/async"), 200);
  EXPECT_EQ(code(primary(), "/read-only-sync"), 200);
  EXPECT_EQ(code(primary(), "/sync"), 503);
  NodeStatus pending = primary();
  pending.pending_restart = true;
  EXPECT_TRUE(json::parse(render_patroni_json(pending)).value("pending_restart", false));
  EXPECT_FALSE(json::parse(render_patroni_json(primary())).contains("pending_restart"));
  EXPECT_NE(render_patroni_metrics(pending).find("patroni_pending_restart{scope=\"batman\",name=\"node1\"} 1"),
            std::string::npos);
  EXPECT_EQ(json::parse(render_patroni_json(sync)).value("sync_standby", false), true);
  EXPECT_FALSE(json::parse(render_patroni_json(async)).contains("sync_standby"));
  EXPECT_NE(render_patroni_metrics(sync).find("patroni_sync_standby{scope=\"batman\",name=\"node1\"} 1"),
            std::string::npos)
      << render_patroni_metrics(sync);
  NodeStatus leader_view = primary();
  leader_view.cluster.members = {MemberStatus{"node1", "primary", "running", "postgres://127.0.0.1:5434/postgres",
                                              "http://127.0.0.1:8008/patroni", kLeaderWal, 3, false, false},
                                 MemberStatus{"node2", "replica", "streaming", "postgres://127.0.0.1:5435/postgres",
                                              "http://127.0.0.1:8009/patroni", kLeaderWal, 3, false, false},
                                 MemberStatus{"node3", "replica", "streaming", "postgres://127.0.0.1:5436/postgres",
                                              "http://127.0.0.1:8010/patroni", kLeaderWal, 3, false, false}};
  leader_view.cluster.sync = SyncState{"node1", {"node3"}, false};
  const json cluster = json::parse(render_cluster_json(leader_view));
  std::map<std::string, std::string> roles;
  for (const json& m : cluster["members"]) roles[m["name"]] = m["role"];
  EXPECT_EQ(roles, (std::map<std::string, std::string>{{"node1", "leader"}, {"node2", "replica"},
                                                       {"node3", "sync_standby"}}));
}

// Quorum commit: a voter answers 200 on /quorum and /read-only-quorum, 503 on /sync and /async;
// /cluster calls it "quorum_standby", /metrics counts it.
TEST(RestApiTest, QuorumVotersAnswerOnQuorumEndpoints) {
  const auto now = std::chrono::steady_clock::now();
  const HealthQuery none;
  auto code = [&](const NodeStatus& s, const char* path) {
    return health_status_code(s, path, none, now, std::chrono::seconds(30));
  };
  NodeStatus voter = replica(0);
  voter.cluster.sync = SyncState{"node2", {"node1", "node3"}, false};
  voter.cluster.sync->quorum = 1;
  NodeStatus other = replica(0);
  other.cluster.sync = SyncState{"node2", {"node3"}, false};
  other.cluster.sync->quorum = 0;
  EXPECT_EQ(code(voter, "/quorum"), 200);
  EXPECT_EQ(code(voter, "/read-only-quorum"), 200);
  EXPECT_EQ(code(voter, "/sync"), 503);
  EXPECT_EQ(code(voter, "/async"), 503);
  EXPECT_EQ(code(other, "/quorum"), 503);
  EXPECT_EQ(code(other, "/read-only-quorum"), 503);
  EXPECT_EQ(code(other, "/async"), 200);
  EXPECT_EQ(code(primary(), "/read-only-quorum"), 200);
  EXPECT_EQ(code(primary(), "/quorum"), 503);
  EXPECT_NE(render_patroni_metrics(voter).find("patroni_quorum_standby{scope=\"batman\",name=\"node1\"} 1"),
            std::string::npos);
  EXPECT_NE(render_patroni_metrics(voter).find("patroni_sync_standby{scope=\"batman\",name=\"node1\"} 0"),
            std::string::npos);
  NodeStatus leader_view = primary();
  leader_view.cluster.members = {MemberStatus{"node1", "primary", "running", "postgres://127.0.0.1:5434/postgres",
                                              "http://127.0.0.1:8008/patroni", kLeaderWal, 3, false, false},
                                 MemberStatus{"node2", "replica", "streaming", "postgres://127.0.0.1:5435/postgres",
                                              "http://127.0.0.1:8009/patroni", kLeaderWal, 3, false, false}};
  leader_view.cluster.sync = SyncState{"node1", {"node2"}, false};
  leader_view.cluster.sync->quorum = 0;
  const json cluster = json::parse(render_cluster_json(leader_view));
  EXPECT_EQ(cluster["members"][1]["role"], "quorum_standby");
}

TEST(RestApiTest, StatusCodeOfEveryEndpointForEverySnapshotAndMethod) {
  Harness h;
  for (const CodesCase& c : kCodes) {
    ASSERT_EQ(c.codes.size(), kPaths.size()) << c.name;
    h.set(c.make());
    for (std::size_t i = 0; i < kPaths.size(); ++i) {
      SCOPED_TRACE(std::string(c.name) + " " + kPaths[i]);
      const Reply get = request(h.port(), "GET", kPaths[i]);
      EXPECT_EQ(get.status, c.codes[i]);
      // Patroni answers these GETs with its /patroni JSON, whatever the code.
      const json body = json::parse(get.body, nullptr, false);
      ASSERT_TRUE(body.is_object()) << get.body;
      EXPECT_EQ(body.value("state", ""), c.make().state);
      EXPECT_EQ(get.header("content-type"), "application/json");

      const Reply head = request(h.port(), "HEAD", kPaths[i]);
      EXPECT_EQ(head.status, c.codes[i]);
      EXPECT_EQ(head.body, "");
      const Reply options = request(h.port(), "OPTIONS", kPaths[i]);
      EXPECT_EQ(options.status, c.codes[i]);
      EXPECT_EQ(options.body, "");
    }
  }
}

TEST(RestApiTest, NullSnapshotIsStartingAnd503Everywhere) {
  Harness h;
  h.set(std::nullopt);
  for (const std::string path : {"/", "/primary", "/replica", "/health", "/liveness", "/readiness", "/patroni",
                                 "/cluster", "/metrics"}) {
    SCOPED_TRACE(path);
    const Reply get = request(h.port(), "GET", path);
    EXPECT_EQ(get.status, 503);
    EXPECT_EQ(json::parse(get.body, nullptr, false), json({{"state", "starting"}}));
    EXPECT_EQ(request(h.port(), "HEAD", path).status, 503);
    EXPECT_EQ(request(h.port(), "OPTIONS", path).status, 503);
  }
  EXPECT_EQ(request(h.port(), "POST", "/switchover", R"({"leader":"node1"})").status, 503);
  EXPECT_TRUE(h.calls().empty());
}

// ---- ?lag ----

TEST(RestApiTest, ParsesLagLikePatroni) {
  const std::pair<const char*, std::optional<std::int64_t>> cases[] = {
      {"0", 0},
      {"1024", 1024},
      {" 2048 ", 2048},
      {"16kB", 16384},
      {"1MB", kMiB},
      {"2 MB", 2 * kMiB},
      {"1.5MB", kMiB + kMiB / 2},
      {"1GB", 1024 * kMiB},
      {"1TB", 1024LL * 1024 * kMiB},
      {"100B", 100},
      {"0x400", 1024},
      {"010", 8},  // strtol base 0: octal
      {"16kb", std::nullopt},  // units are case-sensitive, as in Patroni
      {"16XB", std::nullopt},
      {"abc", std::nullopt},
      {"", std::nullopt},
  };
  for (const auto& [text, expected] : cases) EXPECT_EQ(parse_patroni_lag(text), expected) << text;
}

TEST(RestApiTest, ReplicaLagQueryInBytesKiloAndMegabytes) {
  Harness h;
  h.set(replica(2 * kMiB));
  const std::pair<std::string, int> cases[] = {
      {"/replica", 200},
      {"/replica?lag=2097152", 200},
      {"/replica?lag=2097151", 503},
      {"/replica?lag=2048kB", 200},
      {"/replica?lag=2047kB", 503},
      {"/replica?lag=1MB", 503},
      {"/replica?lag=2MB", 200},
      {"/replica?lag=16MB", 200},
      {"/replica?lag=garbage", 200},  // Patroni: an unparsable lag is no limit
      {"/readiness?lag=1MB", 503},
      {"/readiness?lag=3MB", 200},
      {"/read-only?lag=1MB", 503},
      {"/replica?replication_state=streaming", 200},
      {"/replica?replication_state=catchup", 503},
      {"/replica?tag_noloadbalance=false", 200},
      {"/replica?tag_nofailover=true", 503},
      {"/replica?tag_zone=a", 503},
  };
  for (const auto& [target, code] : cases) {
    EXPECT_EQ(request(h.port(), "GET", target).status, code) << target;
    EXPECT_EQ(request(h.port(), "OPTIONS", target).status, code) << target;
  }
  NodeStatus not_following = replica(0);
  not_following.following.clear();
  h.set(not_following);
  EXPECT_EQ(request(h.port(), "GET", "/replica").status, 503);
}

// ---- bodies ----

TEST(RestApiTest, PatroniJsonOnPrimary) {
  Harness h;
  h.set(primary());
  const Reply r = request(h.port(), "GET", "/patroni");
  ASSERT_EQ(r.status, 200);
  const json j = json::parse(r.body);
  EXPECT_EQ(j["state"], "running");
  EXPECT_EQ(j["postmaster_start_time"], "2024-05-01 10:00:00.5+00");
  EXPECT_EQ(j["role"], "master");  // Patroni 3.0.2's word
  EXPECT_EQ(j["server_version"], 150018);
  EXPECT_EQ(j["xlog"], json({{"location", kLeaderWal}}));
  EXPECT_EQ(j["timeline"], 3);
  ASSERT_EQ(j["replication"].size(), 1u);
  EXPECT_EQ(j["replication"][0], json({{"usename", "replicator"},
                                       {"application_name", "node2"},
                                       {"client_addr", "127.0.0.1"},
                                       {"state", "streaming"},
                                       {"sync_state", "async"},
                                       {"sync_priority", 0}}));
  EXPECT_EQ(j["dcs_last_seen"], 1714557600);
  EXPECT_EQ(j["database_system_identifier"], "7364000000000000001");
  EXPECT_EQ(j["patroni"], json({{"version", "pgha-0.1"}, {"scope", "batman"}}));
  EXPECT_FALSE(j.contains("cluster_unlocked"));
  EXPECT_FALSE(j.contains("tags"));
}

TEST(RestApiTest, PatroniJsonOnReplicaAndOtherStates) {
  Harness h;
  NodeStatus s = noloadbalance_replica();
  s.received_location = kLeaderWal;
  s.replayed_location = kLeaderWal - 10;
  h.set(s);
  json j = json::parse(request(h.port(), "GET", "/patroni").body);
  EXPECT_EQ(j["role"], "replica");
  EXPECT_EQ(j["xlog"], json({{"received_location", kLeaderWal},
                             {"replayed_location", kLeaderWal - 10},
                             {"replayed_timestamp", nullptr},
                             {"paused", false}}));
  EXPECT_EQ(j["replication_state"], "streaming");
  EXPECT_EQ(j["tags"], json({{"noloadbalance", true}}));
  EXPECT_FALSE(j.contains("replication"));

  NodeStatus unlocked = replica(0);
  unlocked.leader.reset();
  h.set(unlocked);
  j = json::parse(request(h.port(), "GET", "/patroni").body);
  EXPECT_EQ(j["cluster_unlocked"], true);

  // Not Patroni's "master" while fencing or after losing the lock: tools that read the role must
  // not send writes there either.
  h.set(primary_in_doubt());
  EXPECT_EQ(json::parse(request(h.port(), "GET", "/patroni").body)["role"], "demoted");
  h.set(deposed_primary());
  j = json::parse(request(h.port(), "GET", "/patroni").body);
  EXPECT_EQ(j["role"], "demoted");
  EXPECT_EQ(j["xlog"], json({{"location", kLeaderWal + kMiB}}));

  h.set(stopped());
  j = json::parse(request(h.port(), "GET", "/patroni").body);
  EXPECT_EQ(j["state"], "stopped");
  EXPECT_EQ(j["role"], "replica");
  EXPECT_FALSE(j.contains("xlog"));
  EXPECT_FALSE(j.contains("timeline"));
  EXPECT_EQ(j["patroni"]["scope"], "batman");
}

TEST(RestApiTest, ClusterJson) {
  Harness h;
  NodeStatus s = replica(0);
  s.leader_wal_position = 0;  // fall back to the leader member's position
  s.cluster.leader = "node2";
  s.cluster.members = {
      {"node3", "replica", "streaming", "postgres://127.0.0.1:5436/postgres", "http://127.0.0.1:8010/patroni",
       kLeaderWal - 3 * kMiB, 3, true},
      {"node2", "primary", "running", "postgres://127.0.0.1:5435/postgres", "http://127.0.0.1:8009/patroni",
       kLeaderWal, 3, false},
      {"node1", "replica", "streaming", "postgres://[::1]:5434/postgres", "http://127.0.0.1:8008/patroni", 0, 3, false},
  };
  h.set(s);
  const Reply r = request(h.port(), "GET", "/cluster");
  ASSERT_EQ(r.status, 200);
  const json j = json::parse(r.body);
  EXPECT_EQ(j["scope"], "batman");
  ASSERT_EQ(j["members"].size(), 3u);
  const json& m1 = j["members"][0];
  const json& m2 = j["members"][1];
  const json& m3 = j["members"][2];
  EXPECT_EQ(m1["name"], "node1");  // sorted by name, as Patroni does
  EXPECT_EQ(m1["host"], "::1");
  EXPECT_EQ(m1["port"], 5434);
  EXPECT_EQ(m1["lag"], "unknown");
  EXPECT_EQ(m2, json({{"name", "node2"},
                      {"role", "leader"},
                      {"state", "running"},
                      {"api_url", "http://127.0.0.1:8009/patroni"},
                      {"host", "127.0.0.1"},
                      {"port", 5435},
                      {"timeline", 3}}));
  EXPECT_EQ(m3["role"], "replica");
  EXPECT_EQ(m3["state"], "streaming");
  EXPECT_EQ(m3["lag"], 3 * kMiB);
  EXPECT_EQ(m3["tags"], json({{"nofailover", true}}));
}

TEST(RestApiTest, MetricsUsePatroniNamesAndLabels) {
  Harness h;
  h.set(primary());
  const Reply r = request(h.port(), "GET", "/metrics");
  ASSERT_EQ(r.status, 200);
  EXPECT_EQ(r.header("content-type").rfind("text/plain", 0), 0u);
  const std::string labels = R"({scope="batman",name="node1"})";
  const std::pair<std::string, std::string> expected[] = {
      {"patroni_version", "000100"},
      {"patroni_postgres_running", "1"},
      {"patroni_postmaster_start_time", "1714557600.5"},
      {"patroni_master", "1"},
      {"patroni_primary", "1"},
      {"patroni_xlog_location", std::to_string(kLeaderWal)},
      {"patroni_standby_leader", "0"},
      {"patroni_replica", "0"},
      {"patroni_sync_standby", "0"},
      {"patroni_xlog_received_location", "0"},
      {"patroni_xlog_replayed_location", "0"},
      {"patroni_xlog_replayed_timestamp", "0"},
      {"patroni_xlog_paused", "0"},
      {"patroni_postgres_server_version", "150018"},
      {"patroni_cluster_unlocked", "0"},
      {"patroni_failsafe_mode_is_active", "0"},
      {"patroni_postgres_timeline", "3"},
      {"patroni_dcs_last_seen", "1714557600"},
      {"patroni_pending_restart", "0"},
      {"patroni_is_paused", "0"},
      // Of Patroni's later releases.
      {"patroni_quorum_standby", "0"},
      {"patroni_postgres_streaming", "0"},
      {"patroni_postgres_in_archive_recovery", "0"},
      {"patroni_failsafe_mode_enabled", "0"},
      {"patroni_failsafe_member", "0"},
      {"patroni_postgres_state", "5"},
      {"patroni_failover_priority", "1"},
  };
  for (const auto& [name, value] : expected) {
    EXPECT_NE(r.body.find("\n" + name + labels + " " + value + "\n"), std::string::npos) << name << "\n" << r.body;
    EXPECT_NE(r.body.find("# TYPE " + name + " "), std::string::npos) << name;
  }

  h.set(replica(kMiB));
  const std::string body = request(h.port(), "GET", "/metrics").body;
  EXPECT_NE(body.find("patroni_primary" + labels + " 0\n"), std::string::npos);
  EXPECT_NE(body.find("patroni_replica" + labels + " 1\n"), std::string::npos);
  EXPECT_NE(body.find("patroni_postgres_streaming" + labels + " 1\n"), std::string::npos);
  EXPECT_NE(body.find("patroni_xlog_location" + labels + " 0\n"), std::string::npos);
  EXPECT_NE(body.find("patroni_xlog_replayed_location" + labels + " " + std::to_string(kLeaderWal - kMiB) + "\n"),
            std::string::npos);

  h.set(primary_in_doubt());
  EXPECT_NE(request(h.port(), "GET", "/metrics").body.find("patroni_primary" + labels + " 0\n"), std::string::npos);

  // Failsafe mode on, this node among the members it names; a stopped PostgreSQL has no
  // streaming families (as Patroni: they need a running server's version).
  NodeStatus failsafe = primary();
  failsafe.failsafe = std::map<std::string, std::string>{{"node1", "http://127.0.0.1:8008/patroni"}};
  const std::string with_failsafe = render_patroni_metrics(failsafe);
  EXPECT_NE(with_failsafe.find("patroni_failsafe_mode_enabled" + labels + " 1\n"), std::string::npos) << with_failsafe;
  EXPECT_NE(with_failsafe.find("patroni_failsafe_member" + labels + " 1\n"), std::string::npos);
  NodeStatus stopped = primary();
  stopped.postgres_running = false;
  stopped.state = "stopped";
  const std::string stopped_body = render_patroni_metrics(stopped);
  EXPECT_EQ(stopped_body.find("patroni_postgres_streaming"), std::string::npos);
  EXPECT_NE(stopped_body.find("patroni_postgres_state" + labels + " 12\n"), std::string::npos);
  EXPECT_NE(stopped_body.find("patroni_postgres_server_version" + labels + " 0\n"), std::string::npos);
}

TEST(RestApiTest, ParsesPostgresTimestamps) {
  EXPECT_EQ(parse_postgres_timestamp("2024-05-01 10:00:00+00"), 1714557600.0);
  EXPECT_EQ(parse_postgres_timestamp("2024-05-01 12:00:00.25+02"), 1714557600.25);
  EXPECT_EQ(parse_postgres_timestamp("2024-05-01 05:30:00-04:30"), 1714557600.0);
  EXPECT_EQ(parse_postgres_timestamp("2024-05-01T10:00:00Z"), 1714557600.0);
  EXPECT_EQ(parse_postgres_timestamp("yesterday"), std::nullopt);
}

// ---- POST /switchover, /failover ----

TEST(RestApiTest, PostRequiresBasicAuthWhenConfigured) {
  RestApiOptions options;
  options.username = "patroni";
  options.password = "s3cret";
  Harness h(options);
  h.set(primary());
  const std::string body = R"({"leader":"node1","candidate":"node3"})";

  Reply r = request(h.port(), "POST", "/switchover", body);
  EXPECT_EQ(r.status, 401);
  EXPECT_EQ(r.header("www-authenticate"), "Basic realm=\"Patroni\"");
  r = request(h.port(), "POST", "/switchover", body, {"Authorization: Basic cGF0cm9uaTp3cm9uZw=="});  // patroni:wrong
  EXPECT_EQ(r.status, 401);
  EXPECT_TRUE(h.calls().empty());

  const std::string good = "Authorization: Basic cGF0cm9uaTpzM2NyZXQ=";  // patroni:s3cret
  r = request(h.port(), "POST", "/switchover", body, {good});
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.body, "Successfully switched over to \"node3\"");
  ASSERT_EQ(h.calls().size(), 1u);
  EXPECT_EQ(h.calls()[0].first, "switchover");
  EXPECT_EQ(h.calls()[0].second.leader, "node1");
  EXPECT_EQ(h.calls()[0].second.candidate, "node3");
  EXPECT_FALSE(h.calls()[0].second.scheduled_at);

  h.answer = {412, "candidate does not exists"};
  r = request(h.port(), "POST", "/failover", R"({"member":"node9","scheduled_at":"2030-01-01T00:00:00+00:00"})", {good});
  EXPECT_EQ(r.status, 412);
  EXPECT_EQ(r.body, "candidate does not exists");
  ASSERT_EQ(h.calls().size(), 2u);
  EXPECT_EQ(h.calls()[1].first, "failover");
  EXPECT_EQ(h.calls()[1].second.leader, "");
  EXPECT_EQ(h.calls()[1].second.candidate, "node9");  // Patroni's older "member" key
  EXPECT_EQ(h.calls()[1].second.scheduled_at, "2030-01-01T00:00:00+00:00");

  // Health checks stay unauthenticated.
  EXPECT_EQ(request(h.port(), "GET", "/primary").status, 200);
}

TEST(RestApiTest, PostRejectsBadJsonWith400) {
  RestApiOptions options;
  options.username = "patroni";
  options.password = "s3cret";
  Harness h(options);
  h.set(primary());
  const std::string good = "Authorization: Basic cGF0cm9uaTpzM2NyZXQ=";
  for (const std::string body : {"", "{", "not json", "[]", "{}", "\"node1\"", R"({"leader": 1})",
                                 R"({"candidate": ["node2"]})"}) {
    EXPECT_EQ(request(h.port(), "POST", "/switchover", body, {good}).status, 400) << body;
    EXPECT_EQ(request(h.port(), "POST", "/failover", body, {good}).status, 400) << body;
  }
  EXPECT_TRUE(h.calls().empty());
}

TEST(RestApiTest, PostWithoutAuthConfiguredIsAllowedFromLoopback) {
  Harness h;
  h.set(primary());
  const Reply r = request(h.port(), "POST", "/failover", R"({"candidate":"node2"})");
  EXPECT_EQ(r.status, 200);
  ASSERT_EQ(h.calls().size(), 1u);
  EXPECT_EQ(h.calls()[0].second.candidate, "node2");
}

// ---- planned work: POST/DELETE /restart, POST /reload, POST /reinitialize ----

TEST(RestApiTest, PlannedWorkNeedsTheCredentialsOfASwitchover) {
  RestApiOptions options;
  options.username = "patroni";
  options.password = "s3cret";
  Harness h(options);
  h.set(primary());
  const std::string good = "Authorization: Basic cGF0cm9uaTpzM2NyZXQ=";
  const std::string wrong = "Authorization: Basic cGF0cm9uaTp3cm9uZw==";
  for (const auto& [method, path] : std::vector<std::pair<std::string, std::string>>{
           {"POST", "/restart"}, {"DELETE", "/restart"}, {"POST", "/reload"}, {"POST", "/reinitialize"}}) {
    EXPECT_EQ(request(h.port(), method, path).status, 401) << method << " " << path;
    EXPECT_EQ(request(h.port(), method, path, "", {wrong}).status, 401) << method << " " << path;
  }
  EXPECT_TRUE(h.restarts().empty());
  EXPECT_TRUE(h.planned_calls().empty());

  Reply r = request(h.port(), "POST", "/restart", "", {good});
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.body, "restarted successfully");
  h.planned_answer = {202, "reload scheduled"};
  r = request(h.port(), "POST", "/reload", "", {good});
  EXPECT_EQ(r.status, 202);
  EXPECT_EQ(r.body, "reload scheduled");
  h.planned_answer = {404, "no restarts are scheduled"};
  r = request(h.port(), "DELETE", "/restart", "", {good});
  EXPECT_EQ(r.status, 404);
  EXPECT_EQ(r.body, "no restarts are scheduled");
  h.planned_answer = {503, "I am the leader, can not reinitialize"};
  r = request(h.port(), "POST", "/reinitialize", R"({"force": true})", {good});
  EXPECT_EQ(r.status, 503);
  EXPECT_EQ(r.body, "I am the leader, can not reinitialize");
  EXPECT_EQ(h.restarts().size(), 1u);
  EXPECT_EQ(h.planned_calls(), (std::vector<std::string>{"reload", "cancel_restart", "reinitialize force"}));
  // Without credentials configured, loopback may ask, as for a switchover.
  Harness open;
  open.set(primary());
  EXPECT_EQ(request(open.port(), "POST", "/restart").status, 200);
}

TEST(RestApiTest, RestartBodyIsCheckedAsPatroniChecksIt) {
  Harness h;
  h.set(primary());
  struct Case {
    const char* body;
    int status;
    const char* message;
  };
  const Case cases[] = {
      {"{", 400, "Bad request: the body must be a JSON object"},
      {"[1]", 400, "Bad request: the body must be a JSON object"},
      {R"("now")", 400, "Bad request: the body must be a JSON object"},
      {R"({"when": "now"})", 400, "Unknown filter for the scheduled restart: when"},
      {R"({"role": "leader"})", 400, "PostgreSQL role should be either primary or replica"},
      {R"({"postgres_version": "9.6"})", 400, "Invalid PostgreSQL version format: X.Y or X.Y.Z is accepted: 9.6"},
      {R"({"postgres_version": "fifteen"})", 400, "Invalid PostgreSQL version: fifteen"},
      {R"({"timeout": 0})", 400, "Timeout should be a positive number of seconds"},
      {R"({"timeout": "soon"})", 400, "Timeout should be a positive number of seconds"},
      {R"({"restart_pending": "maybe"})", 400, "restart_pending should be a boolean"},
      {R"({"schedule": "2099-01-01T10:00:00"})", 400, "Timezone information is mandatory for the scheduled restart"},
      {R"({"schedule": "tomorrow at ten"})", 422,
       "Unable to parse scheduled timestamp. It should be in an unambiguous format, e.g. ISO 8601"},
      {R"({"schedule": "2099-02-30T10:00:00+00:00"})", 422,
       "Unable to parse scheduled timestamp. It should be in an unambiguous format, e.g. ISO 8601"},
      {R"({"schedule": "2001-01-01T10:00:00+00:00"})", 422, "Cannot schedule restart in the past"},
  };
  for (const Case& c : cases) {
    const Reply r = request(h.port(), "POST", "/restart", c.body);
    EXPECT_EQ(r.status, c.status) << c.body;
    EXPECT_EQ(r.body, c.message) << c.body;
  }
  EXPECT_TRUE(h.restarts().empty());

  // No body, or an empty object: a restart now without conditions.
  EXPECT_EQ(request(h.port(), "POST", "/restart").status, 200);
  EXPECT_EQ(request(h.port(), "POST", "/restart", "{}").status, 200);
  h.planned_answer = {202, "Restart scheduled"};
  const Reply r = request(h.port(), "POST", "/restart",
                          R"({"restart_pending": true, "role": "master", "postgres_version": "15.6", "timeout": "2min",)"
                          R"( "schedule": "2099-03-04T05:06:07.5+02:00"})");
  EXPECT_EQ(r.status, 202);
  EXPECT_EQ(r.body, "Restart scheduled");
  const std::vector<RestartRequest> got = h.restarts();
  ASSERT_EQ(got.size(), 3u);
  EXPECT_FALSE(got[0].restart_pending);
  EXPECT_FALSE(got[0].schedule);
  EXPECT_TRUE(got[2].restart_pending);
  EXPECT_EQ(got[2].role, "primary");
  EXPECT_EQ(got[2].postgres_version_num, 150006);
  EXPECT_EQ(got[2].timeout, std::chrono::seconds(120));
  ASSERT_TRUE(got[2].schedule);
  EXPECT_EQ(format_iso8601(*got[2].schedule), "2099-03-04T03:06:07+00:00");
}

TEST(RestApiTest, ReinitializeReadsForceAndRefusesABadBody) {
  Harness h;
  h.set(replica(0));
  h.planned_answer = {200, "reinitialize started"};
  EXPECT_EQ(request(h.port(), "POST", "/reinitialize").status, 200);
  EXPECT_EQ(request(h.port(), "POST", "/reinitialize", R"({"force": false})").status, 200);
  EXPECT_EQ(request(h.port(), "POST", "/reinitialize", R"({"force": "yes"})").body, "reinitialize started");
  Reply r = request(h.port(), "POST", "/reinitialize", "{force}");
  EXPECT_EQ(r.status, 400);
  EXPECT_EQ(r.body, R"(Bad request: the body must be a JSON object such as {"force": true})");
  r = request(h.port(), "POST", "/reinitialize", R"({"force": "perhaps"})");
  EXPECT_EQ(r.status, 400);
  EXPECT_EQ(r.body, "Bad request: 'force' must be a boolean");
  EXPECT_EQ(h.planned_calls(), (std::vector<std::string>{"reinitialize", "reinitialize", "reinitialize force"}));
}

TEST(RestApiTest, PlannedWorkWithoutHandlersIs501AndBeforeTheFirstSnapshot503) {
  Harness h;
  EXPECT_EQ(request(h.port(), "POST", "/restart").status, 503);  // no snapshot yet: starting
  EXPECT_EQ(request(h.port(), "POST", "/reload").status, 503);
  RestApiOptions options;
  options.listen = "127.0.0.1:0";
  RestApi bare(options, [] { return std::make_shared<const NodeStatus>(primary()); }, nullptr, nullptr);
  bare.start();
  EXPECT_EQ(request(bare.port(), "POST", "/restart").status, 501);
  EXPECT_EQ(request(bare.port(), "DELETE", "/restart").status, 501);
  EXPECT_EQ(request(bare.port(), "POST", "/reload").status, 501);
  EXPECT_EQ(request(bare.port(), "POST", "/reinitialize").status, 501);
}

TEST(RestApiTest, PatroniJsonShowsAScheduledRestartAsPatroniDoes) {
  NodeStatus s = primary();
  RestartRequest scheduled;
  scheduled.restart_pending = true;
  scheduled.schedule = std::chrono::system_clock::from_time_t(4102444800);  // 2100-01-01
  s.scheduled_restart = scheduled;
  const json j = json::parse(render_patroni_json(s));
  ASSERT_TRUE(j.contains("scheduled_restart"));
  EXPECT_EQ(j["scheduled_restart"], json::parse(R"({"schedule": "2100-01-01T00:00:00+00:00", "restart_pending": true})"));
  EXPECT_FALSE(json::parse(render_patroni_json(primary())).contains("scheduled_restart"));
}

TEST(RestApiTest, SwitchoverFieldsAreLoggedWithoutControlBytes) {
  testing::LogCapture captured;
  Harness h;
  h.set(primary());
  // JSON escapes decode to raw ESC, newline and NUL: a terminal escape and a forged log line.
  const std::string body = R"({"leader":"node1\u001b[31m\n\u0000","candidate":"node3\r\nfake line\u001b]0;x\u0007",)"
                           R"("scheduled_at":"\u001b[2J2030-01-01T00:00:00+00:00"})";
  EXPECT_EQ(request(h.port(), "POST", "/switchover", body).status, 200);
  ASSERT_EQ(h.calls().size(), 1u);
  EXPECT_EQ(h.calls()[0].second.leader, std::string("node1\x1b[31m\n\0", 12));  // the handler gets the bytes

  const auto messages = captured.messages();
  const auto line = std::find_if(messages.begin(), messages.end(), [](const std::string& m) {
    return m.find("received switchover request") != std::string::npos;
  });
  ASSERT_NE(line, messages.end());
  EXPECT_FALSE(testing::has_control_bytes(*line)) << *line;
  EXPECT_NE(line->find("leader=node1.[31m.."), std::string::npos) << *line;
  EXPECT_NE(line->find("candidate=node3..fake line.]0;x."), std::string::npos) << *line;
  for (const std::string& m : messages) EXPECT_FALSE(testing::has_control_bytes(m)) << m;
}

// ---- slow clients ----

// A health check as HAProxy or pgha-proxy sends it, answered within `budget` or not at all.
int check(int port, const std::string& method, const std::string& path, std::chrono::milliseconds budget) {
  return send_raw(port, method + " " + path + " HTTP/1.0\r\n\r\n", budget).status;
}

TEST(RestApiTest, HundredSlowClientsChangeNoCheckResultAndAreClosedByTheDeadline) {
  RestApiOptions options;
  options.limits.request_timeout = 2s;
  Harness h(options);
  h.set(primary());
  const auto port = static_cast<std::uint16_t>(h.port());
  // From the checks' own address, so that no per-address limit can tell them apart.
  test::SlowClients slow(port, 100, "GET /primary HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ", 100ms);
  ASSERT_EQ(slow.opened(), 100);

  // Every check answers right, each within 1 s, for as long as the slow clients are connected
  // and a little after (the deadline closing 100 connections at once changes nothing either).
  const auto all_closed_deadline = Clock::now() + options.limits.request_timeout + 5s;
  int rounds = 0;
  int rounds_after_all_closed = 0;
  while (rounds_after_all_closed < 5 && Clock::now() < all_closed_deadline) {
    ASSERT_EQ(check(port, "GET", "/liveness", 1000ms), 200) << "round " << rounds;
    ASSERT_EQ(check(port, "GET", "/primary", 1000ms), 200) << "round " << rounds;
    ASSERT_EQ(check(port, "OPTIONS", "/", 1000ms), 200) << "round " << rounds;
    ASSERT_EQ(check(port, "GET", "/replica", 1000ms), 503) << "round " << rounds;
    ASSERT_EQ(check(port, "GET", "/read-only", 1000ms), 200) << "round " << rounds;
    ++rounds;
    if (slow.closed_by_server() == 100) ++rounds_after_all_closed;
  }
  EXPECT_EQ(slow.closed_by_server(), 100) << "slow clients still open " << (options.limits.request_timeout + 5s).count()
                                          << " ms after they connected";
  EXPECT_GE(rounds, 5);
}

// ---- HAProxy, binding ----

TEST(RestApiTest, HaproxyDefaultCheckGetsAnHttp10CompatibleReplyAndAClose) {
  Harness h;
  h.set(primary());
  Reply r = send_raw(h.port(), "OPTIONS / HTTP/1.0\r\n\r\n");
  // HAProxy accepts "HTTP/1.x <code> <reason>"; an HTTP/1.0 request gets its connection closed.
  EXPECT_TRUE(r.status_line == "HTTP/1.1 200 OK" || r.status_line == "HTTP/1.0 200 OK") << r.status_line;
  EXPECT_EQ(r.body, "");
  EXPECT_TRUE(r.closed);

  h.set(replica(0));
  r = send_raw(h.port(), "OPTIONS / HTTP/1.0\r\n\r\n");
  EXPECT_EQ(r.status, 503);
  EXPECT_NE(r.status_line.find(" 503 Service Unavailable"), std::string::npos) << r.status_line;
  EXPECT_TRUE(r.closed);

  // pgha-proxy and HAProxy's `http-check send meth GET uri /primary` form.
  r = send_raw(h.port(), "GET /primary HTTP/1.0\r\n\r\n");
  EXPECT_EQ(r.status, 503);
  EXPECT_TRUE(r.closed);
}

TEST(RestApiTest, StartFailsClearlyWhenThePortIsTaken) {
  Harness h;
  RestApiOptions options;
  options.listen = "127.0.0.1:" + std::to_string(h.port());
  RestApi second(options, [] { return NodeStatusPtr{}; }, nullptr, nullptr);
  try {
    second.start();
    FAIL() << "second bind on port " << h.port() << " succeeded";
  } catch (const std::runtime_error& e) {
    EXPECT_NE(std::string(e.what()).find(options.listen), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("in use"), std::string::npos) << e.what();
  }
  EXPECT_EQ(second.port(), 0);
}

// /replica?tag_<key>=<value>: custom tags and failover_priority match as Patroni compares them
// (the value as text, case-insensitively); a tag the node lacks never matches.
TEST(RestApiTest, ReplicaTagQueriesMatchCustomTagsAndPriority) {
  NodeStatus s = replica(0);
  s.custom_tags = {{"zone", "EU"}};
  s.failover_priority = 2;
  const auto now = std::chrono::steady_clock::now();
  auto code = [&](std::vector<std::pair<std::string, std::string>> tags) {
    HealthQuery q;
    q.tags = std::move(tags);
    return health_status_code(s, "/replica", q, now, std::chrono::seconds(30));
  };
  EXPECT_EQ(code({{"zone", "eu"}}), 200);
  EXPECT_EQ(code({{"zone", "us"}}), 503);
  EXPECT_EQ(code({{"rack", "1"}}), 503);
  EXPECT_EQ(code({{"failover_priority", "2"}, {"nofailover", "false"}}), 200);
  EXPECT_EQ(code({{"failover_priority", "1"}}), 503);
  const json tags = json::parse(render_patroni_json(s))["tags"];
  EXPECT_EQ(tags, json::parse(R"({"failover_priority": 2, "zone": "EU"})"));
}

// GET /config answers from its handler; PATCH /config needs the same credentials as a POST, and
// its body reaches the handler as sent. Without handlers both answer 501.
TEST(RestApiTest, ConfigIsReadFreelyAndPatchedOnlyWithCredentials) {
  RestApiOptions options;
  options.listen = "127.0.0.1:0";
  options.username = "admin";
  options.password = "secret";
  std::vector<std::string> patches;
  RestApi api(options, [] { return std::make_shared<const NodeStatus>(primary()); }, nullptr, nullptr);
  api.set_config_handlers([] { return SwitchoverResult{200, R"({"pause":true})"}; },
                          [&patches](const std::string& patch) {
                            patches.push_back(patch);
                            return SwitchoverResult{200, patch};
                          });
  api.start();
  const Reply get = request(api.port(), "GET", "/config");
  EXPECT_EQ(get.status, 200);
  EXPECT_EQ(get.body, R"({"pause":true})");
  EXPECT_EQ(get.header("content-type"), "application/json");
  const std::string body = R"({"pause":false})";
  const std::string length = "Content-Length: " + std::to_string(body.size());
  EXPECT_EQ(request(api.port(), "PATCH", "/config", body, {length}).status, 401);
  EXPECT_EQ(request(api.port(), "PATCH", "/config", body, {length, "Authorization: Basic YWRtaW46d3Jvbmc="}).status,
            401);
  EXPECT_TRUE(patches.empty());
  const Reply patched =
      request(api.port(), "PATCH", "/config", body, {length, "Authorization: Basic YWRtaW46c2VjcmV0"});
  EXPECT_EQ(patched.status, 200);
  EXPECT_EQ(patches, std::vector<std::string>{body});

  RestApiOptions plain;
  plain.listen = "127.0.0.1:0";
  RestApi without(plain, [] { return std::make_shared<const NodeStatus>(primary()); }, nullptr, nullptr);
  without.start();
  EXPECT_EQ(request(without.port(), "GET", "/config").status, 501);
  EXPECT_EQ(request(without.port(), "PATCH", "/config", body, {length}).status, 501);
}

// Failsafe mode: GET /failsafe shows the /failsafe key (502 when failsafe mode is off, as
// Patroni); POST /failsafe needs a POST's credentials, and a leader's HttpPeerClient gets the
// handler's answer back.
TEST(RestApiTest, FailsafeIsShownFreelyAndConfirmedOnlyWithCredentials) {
  RestApiOptions options;
  options.listen = "127.0.0.1:0";
  options.username = "admin";
  options.password = "secret";
  NodeStatus status = replica(0);
  std::mutex mutex;
  std::vector<std::string> bodies;
  RestApi api(options, [&] { return std::make_shared<const NodeStatus>(status); }, nullptr, nullptr);
  api.set_failsafe_handler([&](const std::string& body) {
    std::lock_guard lock(mutex);
    bodies.push_back(body);
    return SwitchoverResult{200, "Accepted"};
  });
  api.start();
  EXPECT_EQ(request(api.port(), "GET", "/failsafe").status, 502);
  status.failsafe = std::map<std::string, std::string>{{"node1", "http://127.0.0.1:8008/patroni"}};
  const Reply shown = request(api.port(), "GET", "/failsafe");
  EXPECT_EQ(shown.status, 200);
  EXPECT_EQ(shown.body, R"({"node1":"http://127.0.0.1:8008/patroni"})");

  const std::string body = R"({"name":"node2"})";
  const std::string length = "Content-Length: " + std::to_string(body.size());
  EXPECT_EQ(request(api.port(), "POST", "/failsafe", body, {length}).status, 401);
  EXPECT_TRUE(bodies.empty());

  AgentConfig config;
  config.ctl_username = "admin";
  config.ctl_password = "secret";
  const std::string url = "http://127.0.0.1:" + std::to_string(api.port()) + "/patroni";
  const FailsafeAnswer answer =
      HttpPeerClient(config).confirm_failsafe(url, {"node2", "postgres://127.0.0.1:5435/postgres", url}, 2s);
  EXPECT_EQ(answer.http_status, 200);
  EXPECT_EQ(answer.message, "Accepted");
  ASSERT_EQ(bodies.size(), 1u);
  EXPECT_EQ(decode_failsafe_body(bodies[0])->name, "node2");
  config.ctl_password = "wrong";
  EXPECT_EQ(HttpPeerClient(config).confirm_failsafe(url, {"node2", "", ""}, 2s).http_status, 401);
  EXPECT_EQ(HttpPeerClient(config).confirm_failsafe("http://127.0.0.1:1/patroni", {"node2", "", ""}, 500ms).http_status,
            503);

  RestApiOptions plain;
  plain.listen = "127.0.0.1:0";
  RestApi without(plain, [] { return std::make_shared<const NodeStatus>(replica(0)); }, nullptr, nullptr);
  without.start();
  EXPECT_EQ(request(without.port(), "POST", "/failsafe", body, {length}).status, 502);
}

// Patroni's failsafe_mode_is_active, in /patroni and /metrics.
TEST(RestApiTest, FailsafeActivityIsReported) {
  NodeStatus active = primary();
  active.failsafe_active = true;
  EXPECT_TRUE(json::parse(render_patroni_json(active)).value("failsafe_mode_is_active", false));
  EXPECT_FALSE(json::parse(render_patroni_json(primary())).contains("failsafe_mode_is_active"));
  EXPECT_NE(render_patroni_metrics(active).find("patroni_failsafe_mode_is_active{scope=\"batman\",name=\"node1\"} 1"),
            std::string::npos);
  EXPECT_NE(render_patroni_metrics(primary()).find("patroni_failsafe_mode_is_active{scope=\"batman\",name=\"node1\"} 0"),
            std::string::npos);
}

TEST(RestApiTest, RejectsAMalformedListenAddress) {
  for (const std::string listen : {"8008", "host:", "host:99999", "[::1]8008", "host:80x"}) {
    RestApiOptions options;
    options.listen = listen;
    EXPECT_THROW(RestApi(options, [] { return NodeStatusPtr{}; }, nullptr, nullptr), std::invalid_argument) << listen;
  }
}

TEST(RestApiTest, StopIsIdempotentAndReleasesThePort) {
  RestApiOptions options;
  options.listen = "127.0.0.1:0";
  RestApi api(options, [] { return NodeStatusPtr{}; }, nullptr, nullptr);
  api.start();
  const int port = api.port();
  api.stop();
  api.stop();
  options.listen = "127.0.0.1:" + std::to_string(port);
  RestApi again(options, [] { return NodeStatusPtr{}; }, nullptr, nullptr);
  EXPECT_NO_THROW(again.start());
}

}  // namespace
}  // namespace pgha::election
