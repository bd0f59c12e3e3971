// RestApi: pgha-agent's Patroni-compatible REST API (cpp-httplib's parser and router behind an
// HttpRequestGate, which reads each whole request under one deadline before a worker takes it). HAProxy's `option httpchk`, pgha-proxy and tools written for Patroni 3.0 talk to
// it unchanged: GET/HEAD/OPTIONS health endpoints (/, /primary, /replica?lag=, /read-only,
// /health, /liveness, /readiness, ...), GET /patroni, /cluster, /history, /metrics, /config,
// /failsafe, and authenticated POST /switchover, /failover, /failsafe and PATCH /config, and
// Patroni's planned work: POST and DELETE /restart, POST /reload and POST /reinitialize.
//
// It only reads the latest NodeStatus snapshot (status_source) and never touches etcd or
// PostgreSQL, so a hung etcd or database cannot stall a health check. Stricter than Patroni where
// that is safer: /primary (and /, /master, /read-write) answers 200 only when this node holds
// the lock, is not in doubt about it, and PostgreSQL runs out of recovery.
// Those rules and the JSON and metrics bodies are pure functions in rest_api_replies.h; this
// class is the HTTP server around them.
//
// Slow or silent clients cannot starve the health checks: a request counts only once it has
// arrived whole (within `limits.request_timeout` of the connect), and one peer address gets at
// most `limits.workers_per_peer` of the workers at a time (see http_request_gate.h).
//
// HTTPS when options.tls.certfile is set (Patroni's restapi.certfile, keyfile, keyfile_password,
// cafile, verify_client, ciphers); the context is built once, at start(). As Patroni does, with
// verify_client "required" a client without a certificate from cafile is refused at the
// handshake; with "optional" one is asked for, checked when sent, and needed for the unsafe
// methods (POST, PATCH) only: 403 "client certificate required" without it. Basic auth applies on
// top when configured; without it a verified client certificate also lets a non-loopback client
// POST.
//
// Owned by the agent's main. start()/stop() from one thread; the callbacks are called on the
// gate's worker threads, concurrently, so they must be thread-safe.
#pragma once

#include <atomic>
#include <chrono>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "election/http_request_gate.h"
#include "election/node_status.h"
#include "election/restart_request.h"
#include "tls_context/tls_context.h"

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

// POST /restart (parsed and validated here: 400 or 422 with Patroni's message before a handler
// sees it), DELETE /restart, POST /reload, POST /reinitialize ({"force": bool}). Those not set
// answer 501.
struct PlannedWorkHandlers {
  std::function<SwitchoverResult(const RestartRequest&)> restart;
  std::function<SwitchoverResult()> cancel_restart;
  std::function<SwitchoverResult()> reload;
  std::function<SwitchoverResult(bool force)> reinitialize;
  std::function<SwitchoverResult()> cancel_switchover;  // DELETE /switchover: a scheduled one
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
  // HTTPS when certfile is set.
  tls::TlsFiles tls;
};

class RestApi {
 public:
  using StatusSource = std::function<NodeStatusPtr()>;
  using SwitchoverHandler = std::function<SwitchoverResult(const SwitchoverRequest&)>;
  // GET /config and PATCH /config (Patroni's dynamic configuration): the status and the body
  // (JSON when 200). A PATCH needs the same credentials as a POST.
  using ConfigReader = std::function<SwitchoverResult()>;
  using ConfigPatcher = std::function<SwitchoverResult(const std::string& patch)>;

  // Throws std::invalid_argument when options.listen is not host:port.
  RestApi(RestApiOptions options, StatusSource status_source, SwitchoverHandler on_switchover,
          SwitchoverHandler on_failover);
  ~RestApi();  // stop()s
  // Before start(); without them GET and PATCH /config answer 501.
  void set_config_handlers(ConfigReader read, ConfigPatcher patch);
  // Before start(); POST /failsafe (failsafe mode) with the same credentials as a POST; without
  // it, 502 as Patroni's when failsafe mode is off.
  using FailsafeHandler = std::function<SwitchoverResult(const std::string& body)>;
  void set_failsafe_handler(FailsafeHandler handler) { on_failsafe_ = std::move(handler); }
  // Before start().
  void set_planned_work_handlers(PlannedWorkHandlers handlers);
  RestApi(const RestApi&) = delete;
  RestApi& operator=(const RestApi&) = delete;

  // Binds and starts serving on threads of its own. Throws std::runtime_error naming the address
  // (and the errno text) when it cannot bind, e.g. when the port is taken, or the file when the
  // TLS context cannot be built.
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
  // POST/DELETE /restart, POST /reload, POST /reinitialize.
  void serve_restart(const httplib::Request& req, httplib::Response& res);
  void serve_reinitialize(const httplib::Request& req, httplib::Response& res);
  // Access check, a snapshot, then `handler` (501 when there is none) answers as text.
  void serve_planned(const httplib::Request& req, httplib::Response& res, const char* action,
                     const std::function<SwitchoverResult()>& handler);

  RestApiOptions options_;
  std::string host_;
  int requested_port_ = 0;
  StatusSource status_source_;
  SwitchoverHandler on_switchover_;
  SwitchoverHandler on_failover_;
  ConfigReader read_config_;
  ConfigPatcher patch_config_;
  FailsafeHandler on_failsafe_;
  PlannedWorkHandlers planned_;
  std::string expected_authorization_;  // "Basic base64(user:password)", empty when no auth
  std::atomic<bool> post_in_flight_{false};
  std::unique_ptr<Router> router_;
  std::unique_ptr<HttpRequestGate> gate_;
  int port_ = 0;
};

}  // namespace pgha::election
