#include "proxy/proxy_service.h"

#include <sched.h>

#include <algorithm>
#include <thread>

#include <boost/asio/io_context.hpp>

#include "proxy/admin_server.h"
#include "proxy/fd_budget.h"
#include "proxy/log.h"

namespace pgha::proxy {

namespace asio = boost::asio;
using asio::ip::tcp;

namespace {
// The longest a start waits for first checks before it listens (a hung check would otherwise
// delay it by its whole timeout, 10 s with HAProxy's default inter).
constexpr std::chrono::milliseconds kFirstChecksWaitMax{2000};

tcp::endpoint resolve(const ListenerConfig& listener, const ServerConfig& server) {
  asio::io_context io;
  tcp::resolver resolver(io);
  boost::system::error_code ec;
  auto results = resolver.resolve(server.host, std::to_string(server.port), ec);
  if (ec || results.empty()) {
    throw std::runtime_error("server " + listener.name + "/" + server.name + ": cannot resolve " + server.host + ": " +
                             ec.message());
  }
  return results.begin()->endpoint();
}
// One worker per CPU this process may run on (cpusets, taskset), as HAProxy's nbthread. On 2
// CPUs shared with PostgreSQL, `workers: 1` costs ~15% less CPU per small transaction (fewer
// cross-CPU wake-ups) but gives ~10% less throughput under load (bench/PROFILE.md).
int default_worker_count() {
  cpu_set_t set;
  CPU_ZERO(&set);
  const int cpus = ::sched_getaffinity(0, sizeof(set), &set) == 0
                       ? CPU_COUNT(&set)
                       : static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  return std::max(1, cpus);
}

// The global maxconn: as configured, or what the descriptor limit carries when not configured,
// and never more than that (sessions must not take the descriptors health checks need).
int process_maxconn(const ProxyConfig& config, int workers) {
  const FdBudget budget = fd_budget_for(config, workers);
  const int carried = budget.max_sessions();
  if (config.maxconn <= 0) return carried;
  if (config.maxconn > carried) {
    log().warn("maxconn {} needs about {} descriptors ({} per session + {} kept for listeners, health checks "
               "and the admin API) but the limit is {} (ulimit -n / LimitNOFILE): maxconn lowered to {}",
               config.maxconn, static_cast<long>(config.maxconn) * budget.per_session + budget.reserve,
               budget.per_session, budget.reserve, budget.limit, carried);
    return carried;
  }
  return config.maxconn;
}
}  // namespace

ProxyService::ProxyService(ProxyConfig config, const ProxyService* previous)
    : config_(std::move(config)),
      worker_count_(config_.workers > 0 ? config_.workers : default_worker_count()),
      process_sessions_(process_maxconn(config_, worker_count_)) {
  if (previous) inherit_server_states(*previous);
  for (const ListenerConfig& l : config_.listeners) {
    std::vector<tcp::endpoint> endpoints;
    for (const ServerConfig& s : l.servers) endpoints.push_back(resolve(l, s));
    listeners_.push_back(std::make_unique<ListenerState>(l, std::move(endpoints), process_sessions_));
  }
  health_ = std::make_unique<HealthMonitor>(config_, [this](HealthSnapshotPtr snapshot) {
    for (auto& w : workers_) w->post_health(snapshot);
  });
  for (auto& l : listeners_) l->observer = health_.get();
  for (const auto& [listener, server, state] : inherited_admin_states_) health_->set_admin_state(listener, server, state);
  std::vector<ListenerState*> raw;
  for (auto& l : listeners_) raw.push_back(l.get());
  for (int i = 0; i < worker_count_; ++i) workers_.push_back(std::make_unique<Worker>(i, raw, health_->snapshot()));
  if (config_.admin.enabled) admin_ = std::make_unique<AdminServer>(*this, config_.admin);
}

ProxyService::~ProxyService() {
  if (running_) stop(std::chrono::milliseconds{0});
}

void ProxyService::inherit_server_states(const ProxyService& previous) {
  for (ListenerConfig& l : config_.listeners) {
    const auto& old_listeners = previous.config().listeners;
    const auto pl = std::find_if(old_listeners.begin(), old_listeners.end(), [&](const auto& o) { return o.name == l.name; });
    if (pl == old_listeners.end()) continue;
    for (ServerConfig& s : l.servers) {
      const auto ps = std::find_if(pl->servers.begin(), pl->servers.end(), [&](const ServerConfig& o) {
        return o.name == s.name && o.host == s.host && o.port == s.port;
      });
      if (ps == pl->servers.end()) continue;
      const ServerHealth h = previous.health().status(static_cast<std::size_t>(pl - old_listeners.begin()),
                                                      static_cast<std::size_t>(ps - pl->servers.begin()));
      if (s.check.type != health::CheckType::kNone && ps->check.type != health::CheckType::kNone && h.checked) {
        // Full health either way: a server UP before the reload needs `fall` failures to go
        // DOWN, one that was DOWN needs `rise` successes, as if no reload had happened.
        s.check.initial_state = h.up ? health::InitialState::kUp : health::InitialState::kDown;
      }
      if (h.maintenance) inherited_admin_states_.push_back({l.name, s.name, HealthMonitor::AdminState::kMaint});
      if (h.draining) inherited_admin_states_.push_back({l.name, s.name, HealthMonitor::AdminState::kDrain});
    }
  }
}

ListenerHandover ProxyService::hand_over_listeners() const {
  ListenerHandover handover;
  for (const auto& w : workers_) w->hand_over_listeners(handover);
  return handover;
}

void ProxyService::hurry_stop(std::chrono::milliseconds grace) {
  using Clock = std::chrono::steady_clock;
  // Saturate: a grace of "forever" must not overflow the clock.
  const auto now = Clock::now().time_since_epoch();
  const auto limit = std::chrono::duration_cast<std::chrono::milliseconds>(Clock::duration::max() - now);
  const Clock::rep deadline = grace >= limit ? Clock::duration::max().count()
                                             : (now + std::chrono::duration_cast<Clock::duration>(grace)).count();
  Clock::rep current = stop_deadline_.load();
  while (deadline < current && !stop_deadline_.compare_exchange_weak(current, deadline)) {
  }
}

void ProxyService::stop_admin() {
  if (admin_) admin_->stop();
}

void ProxyService::restart_admin() {
  if (!config_.admin.enabled) return;
  admin_.reset();
  admin_ = std::make_unique<AdminServer>(*this, config_.admin);
  admin_->bind();
  admin_->start();
}

void ProxyService::start(ListenerHandover* handover) {
  // Everything that can fail on the network is bound before a single thread starts.
  std::vector<std::uint16_t> ports;
  for (auto& w : workers_) {
    w->bind(ports, handover);
    if (ports.empty()) {
      for (std::size_t i = 0; i < listeners_.size(); ++i) ports.push_back(w->local_endpoint(i).port());
    }
  }
  if (admin_) admin_->bind();
  health_->start();
  // Listen only once the first checks have said where a client goes: a client the kernel queued
  // on us before would find no server UP and be closed, while another proxy listening on the same
  // ports (the one this process replaces, SO_REUSEPORT) could have served it. Bounded by the
  // longest check deadline and kFirstChecksWaitMax; a check that has not answered by then leaves
  // its server DOWN. A reload adopts sockets that listen already: nothing to wait for.
  const bool fresh_sockets = std::any_of(workers_.begin(), workers_.end(), [](const auto& w) { return !w->listening(); });
  if (const auto deadline = std::min(health_->longest_check_deadline() + std::chrono::milliseconds(100), kFirstChecksWaitMax);
      fresh_sockets && health_->longest_check_deadline().count() > 0) {
    if (!health_->wait_for_first_checks(deadline)) {
      log().warn("listening before every server's first check answered (waited {} ms)", deadline.count());
    }
  }
  for (auto& w : workers_) w->listen();
  for (auto& w : workers_) w->start();
  if (admin_) admin_->start();
  running_ = true;
  for (std::size_t i = 0; i < listeners_.size(); ++i) {
    auto ep = listener_endpoint(i);
    log().info("listener {} on {}:{} ({} server(s), {} worker(s))", listeners_[i]->config.name, ep.address().to_string(),
               ep.port(), listeners_[i]->config.servers.size(), workers_.size());
  }
}

void ProxyService::stop(std::chrono::milliseconds grace) {
  if (!running_) return;
  running_ = false;
  for (auto& w : workers_) w->post_stop_accepting();
  hurry_stop(grace);
  using Clock = std::chrono::steady_clock;
  while (session_count() > 0 && Clock::now().time_since_epoch().count() < stop_deadline_.load()) {
    std::this_thread::sleep_for(std::chrono::milliseconds{20});  // owner thread, not an io thread
  }
  if (session_count() > 0) log().info("closing {} remaining session(s)", session_count());
  for (auto& w : workers_) w->post_close_all_sessions();
  for (auto& w : workers_) w->post_stop();
  for (auto& w : workers_) w->join();
  health_->stop();
  if (admin_) admin_->stop();
}

std::size_t ProxyService::session_count() const {
  std::size_t n = 0;
  for (const auto& w : workers_) n += w->session_count();
  return n;
}

tcp::endpoint ProxyService::listener_endpoint(std::size_t i) const { return workers_.front()->local_endpoint(i); }

int ProxyService::admin_port() const { return admin_ ? admin_->port() : 0; }

std::shared_ptr<WorkerPing> ProxyService::ping_workers() {
  auto ping = std::make_shared<WorkerPing>(workers_.size());
  for (auto& w : workers_) w->post_task([ping] { ping->answer(); });
  return ping;
}

std::string ProxyService::status_line() const {
  std::size_t servers = 0;
  std::size_t up = 0;
  for (std::size_t li = 0; li < config_.listeners.size(); ++li) {
    for (std::size_t si = 0; si < config_.listeners[li].servers.size(); ++si) {
      ++servers;
      if (health_->status(li, si).up) ++up;
    }
  }
  return std::to_string(listeners_.size()) + " listener(s), " + std::to_string(up) + " of " + std::to_string(servers) +
         " server(s) UP, " + std::to_string(session_count()) + " session(s)";
}

}  // namespace pgha::proxy
