// See metrics_page.h. HAProxy's exporter (addons/promex/service-prometheus.c in HAProxy 2.6)
// labels frontend metrics with the frontend's name, backend and server metrics with the
// backend's; a `listen` section is both. pgha makes one listener of a frontend and its
// backend, so a backend that several frontends share is summed over their listeners.
#include "proxy/metrics_page.h"

#include <map>
#include <string_view>
#include <vector>

#include "prometheus_text/metrics_writer.h"
#include "proxy/haproxy_check_status.h"
#include "proxy/proxy_service.h"

namespace pgha::proxy {
namespace {

using prometheus_text::MetricsWriter;

constexpr const char* kCurrentSessionsHelp = "Number of current sessions on the frontend, backend or server";
constexpr const char* kSessionsTotalHelp = "Total number of sessions since process started";
constexpr const char* kBytesInHelp = "Total number of request bytes since process started";
constexpr const char* kBytesOutHelp = "Total number of response bytes since process started";
constexpr const char* kStatusHelp = "Current status of the service, per state label value.";

bool takes_sessions(const ServerHealth& h) { return h.up && !h.maintenance && !h.draining; }

// HAProxy's server state words (promex_srv_status): MAINT over everything, DRAIN for an UP
// server in drain; pgha never has HAProxy's NOLB (a "stopping" server).
std::string_view haproxy_server_state(const ServerHealth& h) {
  if (h.maintenance) return "MAINT";
  if (!h.up) return "DOWN";
  return h.draining ? "DRAIN" : "UP";
}
constexpr std::string_view kServerStates[] = {"DOWN", "UP", "MAINT", "DRAIN", "NOLB"};

struct Server {
  const ServerConfig* config;
  const ServerStats* stats;
  ServerHealth health;
};

struct Listener {
  const ListenerState* state;
  std::vector<Server> servers;
};

// The listeners that share one HAProxy backend name.
struct Backend {
  std::string name;
  std::vector<const Listener*> listeners;
};

template <typename F>
std::uint64_t sum(const Backend& b, F f) {
  std::uint64_t total = 0;
  for (const Listener* l : b.listeners) total += f(*l);
  return total;
}

void write_pgha_listeners(MetricsWriter& w, const std::vector<Listener>& listeners) {
  struct Counter {
    const char* name;
    const char* type;
    const char* help;
    double (*value)(const ListenerState&);
  };
  static const Counter kCounters[] = {
      {"pgha_listener_sessions", "gauge", "Sessions currently open on the listener.",
       [](const ListenerState& l) { return double(l.sessions.active()); }},
      {"pgha_listener_accepted_total", "counter", "Client connections accepted.",
       [](const ListenerState& l) { return double(l.accepted.load()); }},
      {"pgha_listener_no_server_total", "counter", "Clients closed because no server was available.",
       [](const ListenerState& l) { return double(l.no_server.load()); }},
      {"pgha_listener_connect_failed_total", "counter", "Clients closed after every connect attempt failed.",
       [](const ListenerState& l) { return double(l.connect_failed.load()); }},
      {"pgha_listener_idle_closed_total", "counter", "Sessions closed by the idle timeout.",
       [](const ListenerState& l) { return double(l.idle_closed.load()); }},
      {"pgha_listener_held_clients", "gauge", "Clients held now because no server is UP.",
       [](const ListenerState& l) { return double(l.held.active()); }},
      {"pgha_listener_held_total", "counter", "Clients ever held because no server was UP.",
       [](const ListenerState& l) { return double(l.held_total.load()); }},
      {"pgha_listener_held_expired_total", "counter", "Held clients closed because no server came UP in time.",
       [](const ListenerState& l) { return double(l.held_expired.load()); }},
      {"pgha_listener_held_refused_total", "counter", "Clients closed because the held clients were at their maximum.",
       [](const ListenerState& l) { return double(l.held_refused.load()); }},
      {"pgha_listener_held_abandoned_total", "counter", "Held clients that hung up before a server came UP.",
       [](const ListenerState& l) { return double(l.held_abandoned.load()); }},
      {"pgha_listener_held_wait_seconds_total", "counter", "Time held clients waited, all of them.",
       [](const ListenerState& l) { return static_cast<double>(l.held_wait_us.load()) / 1e6; }},
      {"pgha_listener_held_wait_max_seconds", "gauge", "The longest time one held client waited.",
       [](const ListenerState& l) { return static_cast<double>(l.held_wait_max_us.load()) / 1e6; }},
  };
  for (const Counter& c : kCounters) {
    w.family(c.name, c.type, c.help);
    for (const Listener& l : listeners) w.sample({{"listener", l.state->config.name}}, c.value(*l.state));
  }
  w.family("pgha_listener_bytes_total", "counter", "Bytes relayed by ended sessions, by direction.");
  for (const Listener& l : listeners) {
    w.sample({{"listener", l.state->config.name}, {"direction", "in"}}, l.state->bytes_in.load());
    w.sample({{"listener", l.state->config.name}, {"direction", "out"}}, l.state->bytes_out.load());
  }
  w.family("pgha_listener_bytes_spliced_total", "counter",
           "Of those bytes, moved kernel to kernel with splice(2) (bulk streams).");
  for (const Listener& l : listeners) w.sample({{"listener", l.state->config.name}}, l.state->bytes_spliced.load());
}

void write_pgha_servers(MetricsWriter& w, const std::vector<Listener>& listeners) {
  struct Counter {
    const char* name;
    const char* type;
    const char* help;
    double (*value)(const Server&);
  };
  static const Counter kCounters[] = {
      {"pgha_server_up", "gauge", "1 when the server takes new sessions.",
       [](const Server& s) { return takes_sessions(s.health) ? 1.0 : 0.0; }},
      {"pgha_server_sessions", "gauge", "Sessions currently assigned to the server.",
       [](const Server& s) { return double(s.stats->sessions.active()); }},
      {"pgha_server_sessions_total", "counter", "Sessions ever assigned to the server.",
       [](const Server& s) { return double(s.stats->total.load()); }},
      {"pgha_server_connect_failures_total", "counter", "Failed connection attempts to the server.",
       [](const Server& s) { return double(s.stats->connect_failures.load()); }},
      {"pgha_server_killed_sessions_total", "counter", "Sessions shut down when the server was marked down.",
       [](const Server& s) { return double(s.stats->killed_on_down.load()); }},
      {"pgha_server_observed_error_events_total", "counter",
       "Times failed client connects reached the server's error limit (observe layer4).",
       [](const Server& s) { return double(s.health.observed_error_events); }},
      {"pgha_server_checks_total", "counter", "Health checks run.",
       [](const Server& s) { return double(s.health.checks); }},
      {"pgha_server_checks_not_run_total", "counter",
       "Health checks that could not get a socket here (out of descriptors); the server's state stays.",
       [](const Server& s) { return double(s.health.checks_not_run); }},
      {"pgha_server_transitions_total", "counter", "UP/DOWN transitions.",
       [](const Server& s) { return double(s.health.transitions); }},
      {"pgha_server_check_duration_seconds", "gauge", "Duration of the latest health check.",
       [](const Server& s) { return s.health.last_duration_ms / 1000.0; }},
  };
  for (const Counter& c : kCounters) {
    w.family(c.name, c.type, c.help);
    for (const Listener& l : listeners) {
      for (const Server& s : l.servers) {
        w.sample({{"listener", l.state->config.name}, {"server", s.config->name}}, c.value(s));
      }
    }
  }
}

void write_haproxy_frontends(MetricsWriter& w, const std::vector<Listener>& listeners) {
  w.family("haproxy_frontend_current_sessions", "gauge", kCurrentSessionsHelp);
  for (const Listener& l : listeners) w.sample({{"proxy", l.state->config.name}}, l.state->sessions.active());
  w.family("haproxy_frontend_sessions_total", "counter", kSessionsTotalHelp);
  for (const Listener& l : listeners) w.sample({{"proxy", l.state->config.name}}, l.state->accepted.load());
  w.family("haproxy_frontend_bytes_in_total", "counter", kBytesInHelp);
  for (const Listener& l : listeners) w.sample({{"proxy", l.state->config.name}}, l.state->bytes_in.load());
  w.family("haproxy_frontend_bytes_out_total", "counter", kBytesOutHelp);
  for (const Listener& l : listeners) w.sample({{"proxy", l.state->config.name}}, l.state->bytes_out.load());
  // A listener is bound for as long as the proxy serves: UP.
  w.family("haproxy_frontend_status", "gauge", kStatusHelp);
  for (const Listener& l : listeners) {
    w.sample({{"proxy", l.state->config.name}, {"state", "DOWN"}}, 0);
    w.sample({{"proxy", l.state->config.name}, {"state", "UP"}}, 1);
  }
}

void write_haproxy_backends(MetricsWriter& w, const std::vector<Backend>& backends) {
  const auto usable = [](const Backend& b, bool backup) {
    int n = 0;
    for (const Server& s : b.listeners.front()->servers) {
      n += s.config->backup == backup && takes_sessions(s.health) && s.config->weight > 0;
    }
    return n;
  };
  w.family("haproxy_backend_current_sessions", "gauge", kCurrentSessionsHelp);
  for (const Backend& b : backends) {
    w.sample({{"proxy", b.name}}, sum(b, [](const Listener& l) { return std::uint64_t(l.state->sessions.active()); }));
  }
  w.family("haproxy_backend_sessions_total", "counter", kSessionsTotalHelp);
  for (const Backend& b : backends) {
    w.sample({{"proxy", b.name}}, sum(b, [](const Listener& l) { return l.state->accepted.load(); }));
  }
  w.family("haproxy_backend_bytes_in_total", "counter", kBytesInHelp);
  for (const Backend& b : backends) {
    w.sample({{"proxy", b.name}}, sum(b, [](const Listener& l) { return l.state->bytes_in.load(); }));
  }
  w.family("haproxy_backend_bytes_out_total", "counter", kBytesOutHelp);
  for (const Backend& b : backends) {
    w.sample({{"proxy", b.name}}, sum(b, [](const Listener& l) { return l.state->bytes_out.load(); }));
  }
  // HAProxy: UP while some server (active, or backup) takes sessions, or when it has no server.
  w.family("haproxy_backend_status", "gauge", kStatusHelp);
  for (const Backend& b : backends) {
    const bool up = b.listeners.front()->servers.empty() || usable(b, false) + usable(b, true) > 0;
    w.sample({{"proxy", b.name}, {"state", "DOWN"}}, !up);
    w.sample({{"proxy", b.name}, {"state", "UP"}}, up);
  }
  w.family("haproxy_backend_active_servers", "gauge", "Total number of active UP servers with a non-zero weight");
  for (const Backend& b : backends) w.sample({{"proxy", b.name}}, usable(b, false));
  w.family("haproxy_backend_backup_servers", "gauge", "Total number of backup UP servers with a non-zero weight");
  for (const Backend& b : backends) w.sample({{"proxy", b.name}}, usable(b, true));
}

void write_haproxy_servers(MetricsWriter& w, const std::vector<Backend>& backends) {
  // Per server of a backend: the sum over the listeners that share it.
  const auto each_server = [&](auto write) {
    for (const Backend& b : backends) {
      const Listener& first = *b.listeners.front();
      for (std::size_t i = 0; i < first.servers.size(); ++i) {
        const auto total = [&](auto f) {
          std::uint64_t t = 0;
          for (const Listener* l : b.listeners) t += f(*l->servers[i].stats);
          return t;
        };
        write(b.name, first.servers[i], total);
      }
    }
  };
  w.family("haproxy_server_current_sessions", "gauge", kCurrentSessionsHelp);
  each_server([&](const std::string& proxy, const Server& s, auto total) {
    w.sample({{"proxy", proxy}, {"server", s.config->name}},
             total([](const ServerStats& st) { return std::uint64_t(st.sessions.active()); }));
  });
  w.family("haproxy_server_sessions_total", "counter", kSessionsTotalHelp);
  each_server([&](const std::string& proxy, const Server& s, auto total) {
    w.sample({{"proxy", proxy}, {"server", s.config->name}}, total([](const ServerStats& st) { return st.total.load(); }));
  });
  w.family("haproxy_server_bytes_in_total", "counter", kBytesInHelp);
  each_server([&](const std::string& proxy, const Server& s, auto total) {
    w.sample({{"proxy", proxy}, {"server", s.config->name}},
             total([](const ServerStats& st) { return st.bytes_in.load(); }));
  });
  w.family("haproxy_server_bytes_out_total", "counter", kBytesOutHelp);
  each_server([&](const std::string& proxy, const Server& s, auto total) {
    w.sample({{"proxy", proxy}, {"server", s.config->name}},
             total([](const ServerStats& st) { return st.bytes_out.load(); }));
  });
  w.family("haproxy_server_connection_errors_total", "counter",
           "Total number of failed connections to server since the worker process started");
  each_server([&](const std::string& proxy, const Server& s, auto total) {
    w.sample({{"proxy", proxy}, {"server", s.config->name}},
             total([](const ServerStats& st) { return st.connect_failures.load(); }));
  });
  w.family("haproxy_server_status", "gauge", kStatusHelp);
  each_server([&](const std::string& proxy, const Server& s, auto) {
    const std::string_view state = haproxy_server_state(s.health);
    for (const std::string_view word : kServerStates) {
      w.sample({{"proxy", proxy}, {"server", s.config->name}, {"state", word}}, word == state);
    }
  });
  // Only servers with checks, as HAProxy.
  w.family("haproxy_server_check_status", "gauge", "Status of last health check, per state label value.");
  each_server([&](const std::string& proxy, const Server& s, auto) {
    if (s.config->check.type == health::CheckType::kNone) return;
    const std::string_view status = haproxy_check_status(s.config->check.type, s.config->check.tls.enabled, s.health);
    for (const std::string_view word : kHaproxyCheckStates) {
      w.sample({{"proxy", proxy}, {"server", s.config->name}, {"state", word}}, word == status);
    }
  });
  // Only servers whose check has a result, as HAProxy.
  w.family("haproxy_server_check_duration_seconds", "gauge",
           "Total duration of the latest server health check, in seconds.");
  each_server([&](const std::string& proxy, const Server& s, auto) {
    if (s.config->check.type == health::CheckType::kNone || s.health.checks == 0) return;
    w.sample({{"proxy", proxy}, {"server", s.config->name}}, s.health.last_duration_ms / 1000.0);
  });
}

}  // namespace

std::string render_metrics(const ProxyService& service) {
  std::vector<Listener> listeners;
  listeners.reserve(service.listener_count());
  for (std::size_t li = 0; li < service.listener_count(); ++li) {
    const ListenerState& l = service.listener(li);
    Listener& row = listeners.emplace_back(Listener{&l, {}});
    for (std::size_t si = 0; si < l.config.servers.size(); ++si) {
      row.servers.push_back({&l.config.servers[si], &l.pool.stats(static_cast<int>(si)), service.health().status(li, si)});
    }
  }
  std::vector<Backend> backends;
  std::map<std::string, std::size_t> backend_index;
  for (const Listener& l : listeners) {
    const std::string& name = l.state->config.backend_name.empty() ? l.state->config.name : l.state->config.backend_name;
    const auto [it, inserted] = backend_index.emplace(name, backends.size());
    if (inserted) backends.push_back({name, {}});
    Backend& b = backends[it->second];
    // The same backend always has the same servers; a listener that differs is left out.
    if (b.listeners.empty() || b.listeners.front()->servers.size() == l.servers.size()) b.listeners.push_back(&l);
  }

  MetricsWriter w;
  write_pgha_listeners(w, listeners);
  write_pgha_servers(w, listeners);
  write_haproxy_frontends(w, listeners);
  write_haproxy_backends(w, backends);
  write_haproxy_servers(w, backends);
  return w.take();
}

}  // namespace pgha::proxy
