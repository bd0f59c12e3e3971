// The replies of pgha-agent's REST API (rest_api.h), as pure functions of a NodeStatus snapshot
// so that tests can call them without HTTP: the ?lag= parser, the status code of each health
// endpoint, Patroni's role word, and the bodies of GET /patroni, /cluster and /metrics.
// Stateless; thread-safe.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "election/node_status.h"
#include "election/patroni_parsing.h"  // parse_patroni_lag, parse_postgres_timestamp

namespace pgha::election {

// Query parameters of the health endpoints.
struct HealthQuery {
  std::optional<std::int64_t> max_lag_bytes;            // ?lag= (Patroni units); nullopt → unlimited
  std::optional<std::string> replication_state;         // ?replication_state=streaming
  std::vector<std::pair<std::string, std::string>> tags;  // ?tag_<name>=<value>
};

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
// GET /failsafe: the /failsafe key (member → api_url); nullopt when failsafe mode is off.
std::optional<std::string> render_failsafe_json(const NodeStatus& status);
std::string render_history_json(const NodeStatus& status);  // GET /history: the /history key, or []
std::string render_patroni_metrics(const NodeStatus& status);  // GET /metrics

}  // namespace pgha::election
