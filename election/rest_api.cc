// RestApi, the HTTP server: cpp-httplib's router fed by the HttpRequestGate, the routes, the
// access check and body parsing of the POSTs, listening and stopping. What each endpoint answers
// comes from rest_api_replies.h. See rest_api.h.
#include "election/rest_api.h"

#include <algorithm>
#include <cstring>
#include <map>
#include <optional>
#include <stdexcept>

#include <httplib.h>
#include <nlohmann/json.hpp>

#include "election/http_url.h"
#include "election/log.h"
#include "election/rest_api_replies.h"
#include "printable/printable_excerpt.h"

namespace pgha::election {
namespace {

using nlohmann::ordered_json;

constexpr int kOk = 200;
constexpr int kUnavailable = 503;

const char* const kStartingBody = R"({"state": "starting"})";

// How much of a client-sent field (a member name, a path) one log line quotes.
constexpr std::size_t kMaxLoggedField = 200;

bool is_loopback(std::string_view addr) {
  if (addr.starts_with("::ffff:")) addr.remove_prefix(7);
  return addr.starts_with("127.") || addr == "::1";
}

// Whether `addr` is the address of a member's REST API in the /failsafe key (api_urls that name
// their host by IP address).
bool is_failsafe_member(const std::map<std::string, std::string>& members, std::string_view addr) {
  if (addr.starts_with("::ffff:")) addr.remove_prefix(7);
  return std::any_of(members.begin(), members.end(), [addr](const auto& member) {
    const std::optional<HttpUrl> url = parse_http_url(member.second, UrlKind::kApiUrl);
    return url && url->host == addr;
  });
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

// A client certificate that chained to restapi.cafile (with verify_client none, none is asked for).
bool has_verified_client_certificate(const httplib::Request& req) {
  return req.ssl != nullptr && SSL_get0_peer_certificate(req.ssl) != nullptr &&
         SSL_get_verify_result(req.ssl) == X509_V_OK;
}

void reply_starting(httplib::Response& res, bool with_body) {
  res.status = kUnavailable;
  if (with_body) res.set_content(kStartingBody, "application/json");
}

void reply_text(httplib::Response& res, const SwitchoverResult& result) {
  res.status = result.http_status >= 100 && result.http_status <= 599 ? result.http_status : 500;
  res.set_content(result.message, "text/plain");
}

// The one POST that may wait long for the HA loop (a switchover, a failover, a restart): while it
// holds the flag, another gets 503, so that such requests cannot occupy the workers that health
// checks need.
class LongRequestSlot {
 public:
  explicit LongRequestSlot(std::atomic<bool>& flag) : flag_(flag), owned_(!flag.exchange(true)) {}
  ~LongRequestSlot() {
    if (owned_) flag_ = false;
  }
  LongRequestSlot(const LongRequestSlot&) = delete;
  LongRequestSlot& operator=(const LongRequestSlot&) = delete;
  bool owned() const { return owned_; }

 private:
  std::atomic<bool>& flag_;
  bool owned_;
};

}  // namespace

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
  // `ssl`: the TLS connection, null over HTTP; handlers see it as Request::ssl, as they would
  // behind cpp-httplib's own SSLServer.
  void serve(httplib::Stream& stream, const SSL* ssl) {
    bool connection_closed = true;
    // One request per connection, as Patroni's server does; the reply says "Connection: close".
    (void)process_request(stream, /*close_connection=*/true, connection_closed,
                          [ssl](httplib::Request& req) { req.ssl = ssl; });
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

void RestApi::set_config_handlers(ConfigReader read, ConfigPatcher patch) {
  read_config_ = std::move(read);
  patch_config_ = std::move(patch);
}

void RestApi::set_planned_work_handlers(PlannedWorkHandlers handlers) { planned_ = std::move(handlers); }

void RestApi::start() {
  if (gate_) throw std::logic_error("RestApi::start() called twice");
  router_ = std::make_unique<Router>();
  router_->set_payload_max_length(options_.limits.max_body_bytes);
  install_routes();
  std::shared_ptr<boost::asio::ssl::context> context;
  if (!options_.tls.certfile.empty()) {
    try {
      context = std::make_shared<boost::asio::ssl::context>(tls::make_server_context(options_.tls));
    } catch (const tls::TlsConfigError& e) {
      router_.reset();
      throw std::runtime_error(std::string("restapi: ") + e.what());
    }
  }
  auto gate = std::make_unique<HttpRequestGate>(
      options_.limits,
      [this](GatedRequest& request) {
        GatedStream stream(request);
        router_->serve(stream, request.ssl());
      },
      std::move(context));
  try {
    port_ = gate->bind(host_, requested_port_);
  } catch (const std::runtime_error& e) {
    router_.reset();
    throw std::runtime_error("restapi: cannot listen on " + options_.listen + ": " + e.what());
  }
  gate->start();
  gate_ = std::move(gate);
  log().info("REST API on {}://{}:{}/patroni", options_.tls.certfile.empty() ? "http" : "https", host_, port_);
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
  server.Get("/history", snapshot_json(&render_history_json));
  server.Get("/metrics", [this](const httplib::Request&, httplib::Response& res) {
    const NodeStatusPtr status = status_source_();
    if (!status) return reply_starting(res, true);
    res.status = kOk;
    res.set_content(render_patroni_metrics(*status), "text/plain; version=0.0.4; charset=utf-8");
  });
  const auto config_reply = [](httplib::Response& res, const SwitchoverResult& result) {
    res.status = result.http_status >= 100 && result.http_status <= 599 ? result.http_status : 500;
    res.set_content(result.message, res.status == kOk ? "application/json" : "text/plain");
  };
  server.Get("/config", [this, config_reply](const httplib::Request&, httplib::Response& res) {
    if (!read_config_) return config_reply(res, {501, "GET /config is not supported by this agent"});
    config_reply(res, read_config_());
  });
  server.Patch("/config", [this, config_reply](const httplib::Request& req, httplib::Response& res) {
    if (!check_access(req, res)) return;
    if (!patch_config_) return config_reply(res, {501, "PATCH /config is not supported by this agent"});
    log().info("received PATCH /config from {}: {}", req.remote_addr, printable_excerpt(req.body, kMaxLoggedField));
    config_reply(res, patch_config_(req.body));
  });
  server.Get("/failsafe", [this](const httplib::Request&, httplib::Response& res) {
    const NodeStatusPtr status = status_source_();
    if (!status) return reply_starting(res, true);
    const std::optional<std::string> body = render_failsafe_json(*status);
    res.status = body ? kOk : 502;
    res.set_content(body.value_or("failsafe mode is not enabled"), body ? "application/json" : "text/plain");
  });
  server.Post("/failsafe", [this](const httplib::Request& req, httplib::Response& res) {
    // Without credentials configured, a POST is taken from loopback only; a leader asking for
    // confirmation comes from another node, so the members of the /failsafe key may too.
    const NodeStatusPtr status = status_source_();
    const bool member = expected_authorization_.empty() && options_.tls.verify == tls::PeerVerification::kNone &&
                        status && status->failsafe && is_failsafe_member(*status->failsafe, req.remote_addr);
    if (!member && !check_access(req, res)) return;
    const SwitchoverResult result =
        on_failsafe_ ? on_failsafe_(req.body) : SwitchoverResult{502, "failsafe mode is not enabled"};
    res.status = result.http_status >= 100 && result.http_status <= 599 ? result.http_status : 500;
    res.set_content(result.message, "text/plain");
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
  server.Post("/restart", [this](const httplib::Request& req, httplib::Response& res) { serve_restart(req, res); });
  server.Delete("/restart", [this](const httplib::Request& req, httplib::Response& res) {
    serve_planned(req, res, "DELETE /restart", planned_.cancel_restart);
  });
  server.Delete("/switchover", [this](const httplib::Request& req, httplib::Response& res) {
    serve_planned(req, res, "DELETE /switchover", planned_.cancel_switchover);
  });
  server.Post("/reload", [this](const httplib::Request& req, httplib::Response& res) {
    serve_planned(req, res, "POST /reload", planned_.reload);
  });
  server.Post("/reinitialize",
              [this](const httplib::Request& req, httplib::Response& res) { serve_reinitialize(req, res); });
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
  const bool certified = has_verified_client_certificate(req);
  if (options_.tls.verify != tls::PeerVerification::kNone && !certified) {
    res.status = 403;
    res.set_content("client certificate required", "text/plain");
    return false;
  }
  if (expected_authorization_.empty()) {
    if (is_loopback(req.remote_addr) || certified) return true;
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
  // The handler may wait for the outcome (as Patroni polls for up to loop_wait).
  const LongRequestSlot slot(post_in_flight_);
  if (!slot.owned()) return reply_text(res, {kUnavailable, "another switchover, failover or restart is in progress"});
  reply_text(res, handler(request));
}

void RestApi::serve_planned(const httplib::Request& req, httplib::Response& res, const char* action,
                            const std::function<SwitchoverResult()>& handler) {
  if (!check_access(req, res)) return;
  if (!status_source_()) return reply_starting(res, true);
  log().info("received {} request from {}", action, req.remote_addr);
  if (!handler) return reply_text(res, {501, std::string(action) + " is not supported by this agent"});
  reply_text(res, handler());
}

void RestApi::serve_restart(const httplib::Request& req, httplib::Response& res) {
  if (!check_access(req, res)) return;
  if (!status_source_()) return reply_starting(res, true);
  const RestartRequestParse parsed = parse_restart_request(req.body, std::chrono::system_clock::now());
  log().info("received restart request {} from {}", printable_excerpt(req.body, kMaxLoggedField), req.remote_addr);
  if (parsed.http_status != 0) return reply_text(res, {parsed.http_status, parsed.error});
  if (!planned_.restart) return reply_text(res, {501, "POST /restart is not supported by this agent"});
  const LongRequestSlot slot(post_in_flight_);
  if (!slot.owned()) return reply_text(res, {kUnavailable, "another switchover, failover or restart is in progress"});
  reply_text(res, planned_.restart(parsed.request));
}

void RestApi::serve_reinitialize(const httplib::Request& req, httplib::Response& res) {
  if (!check_access(req, res)) return;
  if (!status_source_()) return reply_starting(res, true);
  bool force = false;
  if (req.body.find_first_not_of(" \t\r\n") != std::string::npos) {
    const ordered_json body = ordered_json::parse(req.body, nullptr, false);
    if (body.is_discarded() || !body.is_object()) {
      return reply_text(res, {400, "Bad request: the body must be a JSON object such as {\"force\": true}"});
    }
    if (const auto it = body.find("force"); it != body.end() && !it->is_null()) {
      // Anything Patroni's parse_bool cannot read is refused rather than read as false.
      const auto value = patroni_bool(*it);
      if (!value) return reply_text(res, {400, "Bad request: 'force' must be a boolean"});
      force = *value;
    }
  }
  log().info("received reinitialize request (force={}) from {}", force, req.remote_addr);
  if (!planned_.reinitialize) return reply_text(res, {501, "POST /reinitialize is not supported by this agent"});
  reply_text(res, planned_.reinitialize(force));
}

}  // namespace pgha::election
