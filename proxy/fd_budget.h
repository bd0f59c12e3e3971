// FdBudget: how many sessions the process's descriptor limit (RLIMIT_NOFILE) can carry for a
// configuration. A session holds two sockets (client and server), and on a splice listener a pipe
// (two more) while it moves a bulk stream; a reserve is kept for everything that is not a
// session: listening sockets (twice during a reload hand-over), each worker's pollers and idle
// pipes, one socket per health check in flight, the admin server and its connections, logs.
// ProxyService caps the global maxconn to max_sessions(), so that the sessions can never take the
// descriptors that health checks need (a check that still finds none is "not run" and changes
// nothing). Plain values and pure functions apart from reading the limit; thread-safe.
#pragma once

#include "proxy/config.h"

namespace pgha::proxy {

struct FdBudget {
  long limit = 0;         // the soft RLIMIT_NOFILE; 0 when unlimited
  int reserve = 0;        // descriptors kept for what is not a session
  int per_session = 2;    // descriptors one session may hold
  // Sessions the limit carries after the reserve (at least 1); INT_MAX when unlimited.
  int max_sessions() const;
};

// The budget of `config` run by `workers` workers under the current soft limit.
FdBudget fd_budget_for(const ProxyConfig& config, int workers);

// Raises the soft RLIMIT_NOFILE to the hard limit, as HAProxy does: descriptors are the proxy's
// capacity. Returns false when the limit could not be read or set.
[[nodiscard]] bool raise_fd_limit_to_hard_limit();

}  // namespace pgha::proxy
