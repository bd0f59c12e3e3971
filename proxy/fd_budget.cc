// See fd_budget.h.
#include "proxy/fd_budget.h"

#include <sys/resource.h>

#include <algorithm>
#include <climits>

namespace pgha::proxy {

namespace {
// Standard streams, log files, the resolver, the main thread's own descriptors.
constexpr int kBaseReserve = 32;
// Per worker: Asio's epoll, eventfd and timerfd, the relay poller's epoll and eventfd.
constexpr int kPerWorker = 5;
// Empty pipes a worker keeps for splice (worker.cc's kMaxIdlePipes), two descriptors each.
constexpr int kIdlePipesPerWorker = 16;
// The health monitor's io_context (epoll, eventfd, timerfd).
constexpr int kHealthMonitor = 3;
// The admin server: its io_context, its listening socket and the connections it serves at once
// (admin_server.cc's connection cap).
constexpr int kAdmin = 3 + 1 + 16;
}  // namespace

int FdBudget::max_sessions() const {
  if (limit <= 0) return INT_MAX;
  const long sessions = (limit - reserve) / std::max(1, per_session);
  return static_cast<int>(std::clamp<long>(sessions, 1, INT_MAX));
}

FdBudget fd_budget_for(const ProxyConfig& config, int workers) {
  FdBudget budget;
  rlimit lim{};
  if (::getrlimit(RLIMIT_NOFILE, &lim) == 0 && lim.rlim_cur != RLIM_INFINITY) {
    budget.limit = static_cast<long>(std::min<rlim_t>(lim.rlim_cur, LONG_MAX));
  }
  bool splice = false;
  int checked = 0;
  for (const ListenerConfig& l : config.listeners) {
    splice = splice || l.splice;
    for (const ServerConfig& s : l.servers) checked += s.check.type != health::CheckType::kNone ? 1 : 0;
  }
  const int listeners = static_cast<int>(config.listeners.size());
  budget.per_session = splice ? 4 : 2;
  budget.reserve = kBaseReserve + workers * (kPerWorker + 2 * listeners + (splice ? 2 * kIdlePipesPerWorker : 0)) +
                   kHealthMonitor + checked + (config.admin.enabled ? kAdmin : 0);
  return budget;
}

bool raise_fd_limit_to_hard_limit() {
  rlimit lim{};
  if (::getrlimit(RLIMIT_NOFILE, &lim) != 0) return false;
  if (lim.rlim_cur == lim.rlim_max) return true;
  lim.rlim_cur = lim.rlim_max;
  return ::setrlimit(RLIMIT_NOFILE, &lim) == 0;
}

}  // namespace pgha::proxy
