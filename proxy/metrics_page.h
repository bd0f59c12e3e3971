// render_metrics(): the body of pgha-proxy's GET /metrics. Two sets of names: pgha's own
// (pgha_listener_*, pgha_server_*) and, where pgha knows the same thing, HAProxy 2.6's
// Prometheus exporter's names, types, labels and value encodings (haproxy_frontend_*,
// haproxy_backend_*, haproxy_server_*), so that dashboards and alerts written for HAProxy work
// unchanged. Reads counters and health snapshots only; called on the admin thread.
#pragma once

#include <string>

namespace pgha::proxy {

class ProxyService;

std::string render_metrics(const ProxyService& service);

}  // namespace pgha::proxy
