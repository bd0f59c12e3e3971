// RestApi: pgha-agent's Patroni-compatible REST API (cpp-httplib's parser and router behind an
// HttpRequestGate, which reads each whole request under one deadline before a worker takes it). HAProxy's `option httpchk`, pgha-proxy and tools written for Patroni 3.0 talk to
// it unchanged: GET/HEAD/OPTIONS health endpoints (/, /primary, /replica?lag=, /read-only,
// /health, /liveness, /readiness, ...), GET /patroni, /cluster, /metrics, and authenticated
// POST /switchover and /failover.
//
// It only reads the latest NodeStatus snapshot (status_source) and never touches etcd or
// PostgreSQL, so a hung etcd or database cannot stall a health check. Stricter than Patroni where
// that is safer: /primary (and /, /master, /read-write) answers 200 only when this node holds
// the lock, is not in doubt about it, and PostgreSQL runs out of recovery.
//
// Slow or silent clients cannot starve the health checks: a request counts only once it has
// arrived whole (within `limits.request_timeout` of the connect), and one peer address gets at
// most `limits.workers_per_peer` of the workers at a time (see http_request_gate.h).
//
// Owned by the agent's main. start()/stop() from one thread; the callbacks are called on the
// gate's worker threads, concurrently, so they must be thread-safe.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "election/http_request_gate.h"
#include "election/node_status.h"
#include "election/patroni_parsing.h"  // parse_patroni_lag, parse_postgres_timestamp

namespace httplib {
struct Request;
struct Response;
}  // namespace httplib

namespace pgha::election {

// The body of POST /switchover or /failover (Patroni's fields; "member" is accepted for
// "candidate" as Patroni does). Empty strings when absent.
struct SwitchoverRequest {
  std::string leader;
  std::string candidate;
  std::optional<std::string> scheduled_at;  // as sent (ISO 8601 expected); the handler validates
};

// What the HA loop answers; sent back as the HTTP status and a text/plain body.
struct SwitchoverResult {
  int http_status = 200;
  std::string message;
};

struct RestApiOptions {
  std::string listen = "127.0.0.1:8008";  // "host:port", "[v6]:port", "*:port" or ":port"; port 0 → any
  // Basic auth for the POSTs. Both empty → no auth, but then POSTs are accepted only from loopback.
  std::string username;
  std::string password;
  // /liveness answers 503 once the HA loop's heartbeat is older than this.
  std::chrono::milliseconds liveness_threshold{std::chrono::seconds(30)};
  // Request deadline, head and body sizes, workers and each peer's share of them.
  HttpRequestGateOptions limits;
};

// Query parameters of the health endpoints.
struct HealthQuery {
  std::optional<std::int64_t> max_lag_bytes;            // ?lag= (Patroni units); nullopt → unlimited
  std::optional<std::string> replication_state;         // ?replication_state=streaming
  std::vector<std::pair<std::string, std::string>> tags;  // ?tag_<name>=<value>
};

class RestApi {
 public:
  using StatusSource = std::function<NodeStatusPtr()>;
  using SwitchoverHandler = std::function<SwitchoverResult(const SwitchoverRequest&)>;

  // Throws std::invalid_argument when options.listen is not host:port.
  RestApi(RestApiOptions options, StatusSource status_source, SwitchoverHandler on_switchover,
          SwitchoverHandler on_failover);
  ~RestApi();  // stop()s
  RestApi(const RestApi&) = delete;
  RestApi& operator=(const RestApi&) = delete;

  // Binds and starts serving on threads of its own. Throws std::runtime_error naming the address
  // (and the errno text) when it cannot bind, e.g. when the port is taken.
  void start();
  // Stops accepting, closes requests still arriving, finishes those with a worker, joins.
  // Idempotent.
  void stop();
  // The bound port (the chosen one when listening on port 0); 0 before start().
  int port() const { return port_; }

 private:
  class Router;

  void install_routes();
  void serve_health(const httplib::Request& req, httplib::Response& res, bool with_body);
  void serve_post(const httplib::Request& req, httplib::Response& res, const SwitchoverHandler& handler,
                  std::string_view action);
  bool check_access(const httplib::Request& req, httplib::Response& res) const;

  RestApiOptions options_;
  std::string host_;
  int requested_port_ = 0;
  StatusSource status_source_;
  SwitchoverHandler on_switchover_;
  SwitchoverHandler on_failover_;
  std::string expected_authorization_;  // "Basic base64(user:password)", empty when no auth
  std::atomic<bool> post_in_flight_{false};
  std::unique_ptr<Router> router_;
  std::unique_ptr<HttpRequestGate> gate_;
  int port_ = 0;
};

// The pure parts, separate from the HTTP plumbing so that tests can call them directly.

// The status code of a health endpoint for `path` ("/" means "/primary"), following Patroni's
// do_GET routing (substring match, so /replica/x and /master work as they do in Patroni).
int health_status_code(const NodeStatus& status, std::string_view path, const HealthQuery& query,
                       std::chrono::steady_clock::time_point now, std::chrono::milliseconds liveness_threshold);

// Patroni's role word for this node: "master" (Patroni 3.0.2's word, only when is_primary()),
// "replica", "demoted" (out of recovery without a confirmed lock, or stopped after being
// primary) or "uninitialized".
std::string patroni_role(const NodeStatus& status);

std::string render_patroni_json(const NodeStatus& status);  // GET /patroni
std::string render_cluster_json(const NodeStatus& status);  // GET /cluster
std::string render_patroni_metrics(const NodeStatus& status);  // GET /metrics

}  // namespace pgha::election
