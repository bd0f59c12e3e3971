#include "proxy/admin_server.h"

#include <sys/socket.h>
#include <unistd.h>

#include <httplib.h>
#include <nlohmann/json.hpp>

#include "proxy/log.h"
#include "proxy/proxy_service.h"

namespace pgha::proxy {

namespace {
const char* balance_name(Balance b) {
  switch (b) {
    case Balance::kFirst: return "first";
    case Balance::kRoundRobin: return "roundrobin";
    case Balance::kLeastConn: return "leastconn";
  }
  return "?";
}

const char* check_type_name(health::CheckType t) {
  switch (t) {
    case health::CheckType::kNone: return "none";
    case health::CheckType::kTcp: return "tcp";
    case health::CheckType::kHttp: return "http";
    case health::CheckType::kPgsql: return "pgsql";
  }
  return "?";
}

std::string state_name(const ServerHealth& h) {
  if (h.maintenance) return "MAINT";
  if (h.draining) return "DRAIN";
  if (!h.checked) return "DOWN (waiting for first check)";
  if (!h.up && h.shutdown_pending) return "DOWN (sessions draining)";
  return h.up ? "UP" : "DOWN";
}

// Prometheus label values: escape backslash, quote and newline.
std::string label(const std::string& v) {
  std::string out;
  for (char c : v) {
    if (c == '\\' || c == '"') out += '\\';
    if (c == '\n') {
      out += "\\n";
      continue;
    }
    out += c;
  }
  return out;
}
}  // namespace

std::string render_status_json(const ProxyService& service) {
  nlohmann::json root;
  root["pid"] = ::getpid();
  root["sessions"] = service.session_count();
  root["maxconn"] = service.process_sessions().max();
  auto& listeners = root["listeners"] = nlohmann::json::array();
  for (std::size_t li = 0; li < service.listener_count(); ++li) {
    const ListenerState& l = service.listener(li);
    auto ep = service.listener_endpoint(li);
    nlohmann::json lj{{"name", l.config.name},
                      {"bind", ep.address().to_string() + ":" + std::to_string(ep.port())},
                      {"balance", balance_name(l.config.balance)},
                      {"maxconn", l.config.maxconn},
                      {"sessions", l.sessions.active()},
                      {"accepted_total", l.accepted.load(std::memory_order_relaxed)},
                      {"no_server_total", l.no_server.load(std::memory_order_relaxed)},
                      {"connect_failed_total", l.connect_failed.load(std::memory_order_relaxed)},
                      {"idle_closed_total", l.idle_closed.load(std::memory_order_relaxed)},
                      {"hold",
                       {{"timeout_ms", l.config.hold_timeout.count()},
                        {"max", l.config.hold_max},
                        {"held", l.held.active()},
                        {"held_total", l.held_total.load(std::memory_order_relaxed)},
                        {"expired_total", l.held_expired.load(std::memory_order_relaxed)},
                        {"refused_total", l.held_refused.load(std::memory_order_relaxed)},
                        {"abandoned_total", l.held_abandoned.load(std::memory_order_relaxed)},
                        {"wait_seconds_total", static_cast<double>(l.held_wait_us.load(std::memory_order_relaxed)) / 1e6},
                        {"wait_max_seconds", static_cast<double>(l.held_wait_max_us.load(std::memory_order_relaxed)) / 1e6}}},
                      {"servers", nlohmann::json::array()}};
    for (std::size_t si = 0; si < l.config.servers.size(); ++si) {
      const ServerConfig& s = l.config.servers[si];
      const ServerStats& st = l.pool.stats(static_cast<int>(si));
      const ServerHealth h = service.health().status(li, si);
      lj["servers"].push_back({{"name", s.name},
                               {"address", s.host + ":" + std::to_string(s.port)},
                               {"state", state_name(h)},
                               {"up", h.up && !h.maintenance && !h.draining},
                               {"backup", s.backup},
                               {"weight", s.weight},
                               {"sessions", st.sessions.active()},
                               {"sessions_total", st.total.load(std::memory_order_relaxed)},
                               {"connect_failures_total", st.connect_failures.load(std::memory_order_relaxed)},
                               {"killed_on_down_total", st.killed_on_down.load(std::memory_order_relaxed)},
                               {"shutdown_pending", h.shutdown_pending},
                               {"observed_error_events_total", h.observed_error_events},
                               {"check",
                                {{"type", check_type_name(s.check.type)},
                                 {"port", s.check.port},
                                 {"checked", h.checked},
                                 {"health", h.health},
                                 {"rise", s.check.timing.rise},
                                 {"fall", s.check.timing.fall},
                                 {"consecutive_failures", h.consecutive_failures},
                                 {"consecutive_successes", h.consecutive_successes},
                                 {"checks_total", h.checks},
                                 {"checks_not_run_total", h.checks_not_run},
                                 {"transitions_total", h.transitions},
                                 {"detail", h.last_detail},
                                 {"duration_ms", h.last_duration_ms},
                                 {"last_change_unix_ms", h.last_change_unix_ms}}}});
    }
    listeners.push_back(std::move(lj));
  }
  return root.dump(2) + "\n";
}

std::string render_metrics(const ProxyService& service) {
  std::string out;
  auto family = [&out](const char* name, const char* type, const char* help) {
    out += std::string("# HELP ") + name + " " + help + "\n# TYPE " + name + " " + type + "\n";
  };
  auto sample = [&out](const std::string& name, const std::string& labels, auto value) {
    out += name + "{" + labels + "} " + std::to_string(value) + "\n";
  };
  struct Row {
    std::string labels;
    const ListenerState* listener;
  };
  std::vector<Row> rows;
  for (std::size_t li = 0; li < service.listener_count(); ++li) {
    const ListenerState& l = service.listener(li);
    rows.push_back({"listener=\"" + label(l.config.name) + "\"", &l});
  }
  family("pgha_listener_sessions", "gauge", "Sessions currently open on the listener.");
  for (const Row& r : rows) sample("pgha_listener_sessions", r.labels, r.listener->sessions.active());
  family("pgha_listener_accepted_total", "counter", "Client connections accepted.");
  for (const Row& r : rows) sample("pgha_listener_accepted_total", r.labels, r.listener->accepted.load());
  family("pgha_listener_no_server_total", "counter", "Clients closed because no server was available.");
  for (const Row& r : rows) sample("pgha_listener_no_server_total", r.labels, r.listener->no_server.load());
  family("pgha_listener_connect_failed_total", "counter", "Clients closed after every connect attempt failed.");
  for (const Row& r : rows) sample("pgha_listener_connect_failed_total", r.labels, r.listener->connect_failed.load());
  family("pgha_listener_idle_closed_total", "counter", "Sessions closed by the idle timeout.");
  for (const Row& r : rows) sample("pgha_listener_idle_closed_total", r.labels, r.listener->idle_closed.load());
  family("pgha_listener_held_clients", "gauge", "Clients held now because no server is UP.");
  for (const Row& r : rows) sample("pgha_listener_held_clients", r.labels, r.listener->held.active());
  family("pgha_listener_held_total", "counter", "Clients ever held because no server was UP.");
  for (const Row& r : rows) sample("pgha_listener_held_total", r.labels, r.listener->held_total.load());
  family("pgha_listener_held_expired_total", "counter", "Held clients closed because no server came UP in time.");
  for (const Row& r : rows) sample("pgha_listener_held_expired_total", r.labels, r.listener->held_expired.load());
  family("pgha_listener_held_refused_total", "counter", "Clients closed because the held clients were at their maximum.");
  for (const Row& r : rows) sample("pgha_listener_held_refused_total", r.labels, r.listener->held_refused.load());
  family("pgha_listener_held_abandoned_total", "counter", "Held clients that hung up before a server came UP.");
  for (const Row& r : rows) sample("pgha_listener_held_abandoned_total", r.labels, r.listener->held_abandoned.load());
  family("pgha_listener_held_wait_seconds_total", "counter", "Time held clients waited, all of them.");
  for (const Row& r : rows) sample("pgha_listener_held_wait_seconds_total", r.labels, static_cast<double>(r.listener->held_wait_us.load()) / 1e6);
  family("pgha_listener_held_wait_max_seconds", "gauge", "The longest time one held client waited.");
  for (const Row& r : rows) sample("pgha_listener_held_wait_max_seconds", r.labels, static_cast<double>(r.listener->held_wait_max_us.load()) / 1e6);
  family("pgha_listener_bytes_total", "counter", "Bytes relayed by ended sessions, by direction.");
  for (const Row& r : rows) {
    sample("pgha_listener_bytes_total", r.labels + ",direction=\"in\"", r.listener->bytes_in.load());
    sample("pgha_listener_bytes_total", r.labels + ",direction=\"out\"", r.listener->bytes_out.load());
  }
  family("pgha_listener_bytes_spliced_total", "counter",
         "Of those bytes, moved kernel to kernel with splice(2) (bulk streams).");
  for (const Row& r : rows) sample("pgha_listener_bytes_spliced_total", r.labels, r.listener->bytes_spliced.load());

  struct ServerRow {
    std::string labels;
    const ServerStats* stats;
    ServerHealth health;
  };
  std::vector<ServerRow> servers;
  for (std::size_t li = 0; li < service.listener_count(); ++li) {
    const ListenerState& l = service.listener(li);
    for (std::size_t si = 0; si < l.config.servers.size(); ++si) {
      servers.push_back({"listener=\"" + label(l.config.name) + "\",server=\"" + label(l.config.servers[si].name) + "\"",
                         &l.pool.stats(static_cast<int>(si)), service.health().status(li, si)});
    }
  }
  family("pgha_server_up", "gauge", "1 when the server takes new sessions.");
  for (const auto& s : servers) sample("pgha_server_up", s.labels, s.health.up && !s.health.maintenance && !s.health.draining ? 1 : 0);
  family("pgha_server_sessions", "gauge", "Sessions currently assigned to the server.");
  for (const auto& s : servers) sample("pgha_server_sessions", s.labels, s.stats->sessions.active());
  family("pgha_server_sessions_total", "counter", "Sessions ever assigned to the server.");
  for (const auto& s : servers) sample("pgha_server_sessions_total", s.labels, s.stats->total.load());
  family("pgha_server_connect_failures_total", "counter", "Failed connection attempts to the server.");
  for (const auto& s : servers) sample("pgha_server_connect_failures_total", s.labels, s.stats->connect_failures.load());
  family("pgha_server_killed_sessions_total", "counter", "Sessions shut down when the server was marked down.");
  for (const auto& s : servers) sample("pgha_server_killed_sessions_total", s.labels, s.stats->killed_on_down.load());
  family("pgha_server_observed_error_events_total", "counter",
         "Times failed client connects reached the server's error limit (observe layer4).");
  for (const auto& s : servers) sample("pgha_server_observed_error_events_total", s.labels, s.health.observed_error_events);
  family("pgha_server_checks_total", "counter", "Health checks run.");
  for (const auto& s : servers) sample("pgha_server_checks_total", s.labels, s.health.checks);
  family("pgha_server_checks_not_run_total", "counter",
         "Health checks that could not get a socket here (out of descriptors); the server's state stays.");
  for (const auto& s : servers) sample("pgha_server_checks_not_run_total", s.labels, s.health.checks_not_run);
  family("pgha_server_transitions_total", "counter", "UP/DOWN transitions.");
  for (const auto& s : servers) sample("pgha_server_transitions_total", s.labels, s.health.transitions);
  family("pgha_server_check_duration_seconds", "gauge", "Duration of the latest health check.");
  for (const auto& s : servers) sample("pgha_server_check_duration_seconds", s.labels, s.health.last_duration_ms / 1000.0);
  return out;
}

AdminServer::AdminServer(ProxyService& service, AdminConfig config)
    : service_(service), config_(std::move(config)), server_(std::make_unique<httplib::Server>()) {
  // cpp-httplib sets SO_REUSEPORT by default, which lets a second proxy bind the same admin
  // port silently; SO_REUSEADDR alone makes that a bind error.
  server_->set_socket_options([](socket_t sock) {
    int yes = 1;
    ::setsockopt(sock, SOL_SOCKET, SO_REUSEADDR, &yes, sizeof yes);
  });
  // Bound every wait, so a silent client cannot hold one of the few admin worker threads.
  server_->set_read_timeout(5, 0);
  server_->set_write_timeout(5, 0);
  server_->set_keep_alive_timeout(5);
  server_->Get("/status", [this](const httplib::Request&, httplib::Response& res) {
    res.set_content(render_status_json(service_), "application/json");
  });
  server_->Get("/metrics", [this](const httplib::Request&, httplib::Response& res) {
    res.set_content(render_metrics(service_), "text/plain; version=0.0.4");
  });
  server_->Post(R"(/servers/([^/]+)/([^/]+)/(drain|maint|ready))",
                [this](const httplib::Request& req, httplib::Response& res) {
                  const std::string& action = req.matches[3];
                  const auto state = action == "maint"   ? HealthMonitor::AdminState::kMaint
                                     : action == "drain" ? HealthMonitor::AdminState::kDrain
                                                         : HealthMonitor::AdminState::kReady;
                  if (!service_.health().set_admin_state(req.matches[1], req.matches[2], state)) {
                    res.status = 404;
                    res.set_content("no such listener/server\n", "text/plain");
                    return;
                  }
                  res.set_content("ok\n", "text/plain");
                });
}

AdminServer::~AdminServer() { stop(); }

void AdminServer::bind() {
  if (config_.bind_port == 0) {
    port_ = server_->bind_to_any_port(config_.bind_host);
  } else if (server_->bind_to_port(config_.bind_host, config_.bind_port)) {
    port_ = config_.bind_port;
  }
  if (port_ <= 0) {
    throw std::runtime_error("admin: cannot bind " + config_.bind_host + ":" + std::to_string(config_.bind_port));
  }
}

void AdminServer::start() {
  thread_ = std::thread([this] { server_->listen_after_bind(); });
  log().info("admin API on http://{}:{}/status", config_.bind_host, port_);
}

void AdminServer::stop() {
  if (thread_.joinable()) {
    server_->stop();
    thread_.join();
  }
}

}  // namespace pgha::proxy
