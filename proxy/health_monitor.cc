#include "proxy/health_monitor.h"

#include <algorithm>
#include <chrono>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>

#include "health/checker.h"
#include "proxy/log.h"
#include "proxy/thread_failure.h"

namespace pgha::proxy {

namespace asio = boost::asio;

namespace {
std::int64_t unix_ms_now() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch())
      .count();
}
}  // namespace

HealthMonitor::HealthMonitor(const ProxyConfig& config, Publish publish)
    : config_(config), publish_(std::move(publish)) {
  std::lock_guard lock(mutex_);
  for (const ListenerConfig& l : config_.listeners) {
    auto& row = status_.emplace_back();
    for (const ServerConfig& s : l.servers) {
      ServerHealth h;
      const bool unchecked = s.check.type == health::CheckType::kNone;
      h.checked = unchecked;
      h.up = unchecked || health::CheckState(s.check.timing, s.check.initial_state).up();
      h.last_detail = unchecked ? "not checked" : "waiting for first check";
      row.push_back(h);
    }
  }
  for (const ListenerConfig& l : config_.listeners) {
    auto& row = probes_.emplace_back();
    for (const ServerConfig& s : l.servers) {
      if (s.check.type == health::CheckType::kNone) {
        row.emplace_back();
      } else {
        row.push_back(std::make_unique<Probe>(
            Probe{health::CheckState(s.check.timing, s.check.initial_state), asio::steady_timer(io_)}));
      }
    }
  }
  snapshot_ = build_snapshot_locked();
}

HealthMonitor::~HealthMonitor() { stop(); }

void HealthMonitor::start() {
  for (std::size_t li = 0; li < config_.listeners.size(); ++li) {
    for (std::size_t si = 0; si < config_.listeners[li].servers.size(); ++si) {
      if (config_.listeners[li].servers[si].check.type == health::CheckType::kNone) continue;
      // A check loop that ended would freeze its server's state: the process exits instead.
      asio::co_spawn(io_, check_loop(li, si), [li, si, this](std::exception_ptr e) {
        if (e) {
          exit_on_thread_failure("health check loop of " + config_.listeners[li].name + "/" +
                                     config_.listeners[li].servers[si].name,
                                 e);
        }
      });
    }
  }
  thread_ = std::thread([this] {
    try {
      io_.run();
    } catch (...) {
      exit_on_thread_failure("health monitor", std::current_exception());
    }
  });
}

bool HealthMonitor::wait_for_first_checks(std::chrono::milliseconds timeout) {
  std::unique_lock lock(mutex_);
  return first_check_done_.wait_for(lock, timeout, [this] { return first_checks_done_locked(); });
}

void HealthMonitor::stop() {
  io_.stop();
  if (thread_.joinable()) thread_.join();
}

asio::awaitable<void> HealthMonitor::check_loop(std::size_t li, std::size_t si) {
  const ListenerConfig& listener = config_.listeners[li];
  const ServerConfig& server = listener.servers[si];
  auto checker = health::make_checker(co_await asio::this_coro::executor, server.check);
  Probe& probe = *probes_[li][si];
  health::CheckState& state = probe.state;
  for (;;) {
    if (!probe.check_now) {
      auto delay = state.next_interval();
      {
        std::lock_guard lock(mutex_);
        if (status_[li][si].shutdown_pending) {
          // Check again when the grace ends, so that the sessions are cut on time.
          delay = std::min(delay, std::chrono::ceil<std::chrono::milliseconds>(
                                      std::max(probe.shutdown_at - std::chrono::steady_clock::now(),
                                               std::chrono::steady_clock::duration::zero())));
        }
      }
      probe.timer.expires_after(delay);
      boost::system::error_code ec;
      // Cancelled by connect_errors(): check at once.
      co_await probe.timer.async_wait(asio::redirect_error(asio::use_awaitable, ec));
    }
    probe.check_now = false;
    probe.checking = true;
    health::CheckResult result = co_await checker->check();
    probe.checking = false;
    if (result.not_run) {
      // Out of descriptors here: nothing was learned about the server, whose state stays. Try
      // again after `inter` (not at once, even before a first result).
      {
        std::lock_guard lock(mutex_);
        ServerHealth& h = status_[li][si];
        if (h.last_detail != result.detail) {
          log().warn("Server {}/{}: {}; its state stays {}", listener.name, server.name, result.detail,
                     h.up ? "UP" : "DOWN");
        }
        if (h.checks_not_run++ == 0 && !h.checked) first_check_done_.notify_all();
        h.last_check_not_run = true;
        h.last_detail = result.detail;
        h.last_duration_ms = static_cast<double>(result.duration.count());
      }
      probe.timer.expires_after(server.check.timing.inter);
      boost::system::error_code ec;
      co_await probe.timer.async_wait(asio::redirect_error(asio::use_awaitable, ec));
      probe.check_now = true;  // waited already
      continue;
    }
    const bool first = !state.checked();
    const health::Transition t = state.on_result(result.healthy);

    std::lock_guard lock(mutex_);
    ServerHealth& h = status_[li][si];
    h.checked = true;
    if (first) first_check_done_.notify_all();
    h.health = state.health();
    h.consecutive_failures = state.consecutive_failures();
    h.consecutive_successes = state.consecutive_successes();
    h.last_detail = result.detail;
    h.last_check_ok = result.healthy;
    h.last_check_not_run = false;
    h.last_duration_ms = static_cast<double>(result.duration.count());
    ++h.checks;
    if (t != health::Transition::kNone) {
      record_transition_locked(li, si, t == health::Transition::kWentUp, result.declined, result.detail,
                               static_cast<long long>(result.duration.count()));
    } else if (h.shutdown_pending && (!result.declined || std::chrono::steady_clock::now() >= probe.shutdown_at)) {
      h.shutdown_pending = false;
      log().warn("Server {}/{}: shutting down its sessions ({}).", listener.name, server.name,
                 result.declined ? "grace of " + std::to_string(server.shutdown_grace.count()) + " ms ended"
                                 : "check now fails: " + result.detail);
      publish_locked();
    } else if (first) {
      log().info("Server {}/{} first check: {} ({}), staying {}", listener.name, server.name,
                 result.healthy ? "passed" : "failed", result.detail, h.up ? "UP" : "DOWN");
    }
  }
}

void HealthMonitor::record_transition_locked(std::size_t li, std::size_t si, bool up, bool declined,
                                             const std::string& reason, long long duration_ms) {
  const ListenerConfig& listener = config_.listeners[li];
  const ServerConfig& server = listener.servers[si];
  ServerHealth& h = status_[li][si];
  h.up = up;
  ++h.transitions;
  h.last_change_unix_ms = unix_ms_now();
  // A server that answered "no" (an agent stepping down) keeps its sessions for the grace, so
  // that transactions in flight finish; one that is refused or silent is cut at once.
  h.shutdown_pending = !up && declined && server.shutdown_sessions_on_down && server.shutdown_grace.count() > 0;
  if (h.shutdown_pending) probes_[li][si]->shutdown_at = std::chrono::steady_clock::now() + server.shutdown_grace;
  std::string consequence;
  if (!up && server.shutdown_sessions_on_down) {
    consequence = h.shutdown_pending
                      ? " Sessions will be shut down within " + std::to_string(server.shutdown_grace.count()) + " ms."
                      : " Sessions will be shut down.";
  }
  // HAProxy's wording, so operators' log searches keep working.
  log().warn("Server {}/{} is {}, reason: {}, check duration: {}ms.{}", listener.name, server.name,
             up ? "UP" : "DOWN", reason, duration_ms, consequence);
  publish_locked();
}

void HealthMonitor::connect_errors(std::size_t li, std::size_t si) {
  asio::post(io_, [this, li, si] { on_connect_errors(li, si); });
}

void HealthMonitor::on_connect_errors(std::size_t li, std::size_t si) {
  if (li >= probes_.size() || si >= probes_[li].size() || !probes_[li][si]) return;
  Probe& probe = *probes_[li][si];
  const ServerConfig& server = config_.listeners[li].servers[si];
  const health::ObserveSpec& observe = server.check.observe;
  const health::Transition t = probe.state.on_observed_errors(observe.on_error);
  {
    std::lock_guard lock(mutex_);
    ServerHealth& h = status_[li][si];
    ++h.observed_error_events;
    h.health = probe.state.health();
    const std::string reason = "Health analyze, info: \"Detected " + std::to_string(observe.error_limit) +
                               " consecutive errors, last one was: L4 unsuccessful connection\"";
    if (t != health::Transition::kNone) {
      record_transition_locked(li, si, t == health::Transition::kWentUp, false, reason, 0);
    } else if (h.shutdown_pending) {
      h.shutdown_pending = false;  // the server no longer takes connections: cut its sessions now
      publish_locked();
    }
  }
  // Check at once: a running check is followed by another without waiting.
  probe.check_now = true;
  if (!probe.checking) probe.timer.cancel();
}

HealthSnapshotPtr HealthMonitor::build_snapshot_locked() {
  auto snap = std::make_shared<HealthSnapshot>();
  snap->version = ++version_;
  for (std::size_t li = 0; li < status_.size(); ++li) {
    auto& up = snap->up.emplace_back();
    auto& shut = snap->shut.emplace_back();
    for (std::size_t si = 0; si < status_[li].size(); ++si) {
      const ServerHealth& h = status_[li][si];
      up.push_back(h.up && !h.maintenance && !h.draining ? 1 : 0);
      const bool shutdown_on_down = config_.listeners[li].servers[si].shutdown_sessions_on_down;
      shut.push_back((!h.up && shutdown_on_down && !h.shutdown_pending) || h.maintenance ? 1 : 0);
    }
  }
  return snap;
}

void HealthMonitor::publish_locked() {
  snapshot_ = build_snapshot_locked();
  if (publish_) publish_(snapshot_);
}

HealthSnapshotPtr HealthMonitor::snapshot() const {
  std::lock_guard lock(mutex_);
  return snapshot_;
}

bool HealthMonitor::first_checks_done() const {
  std::lock_guard lock(mutex_);
  return first_checks_done_locked();
}

bool HealthMonitor::first_checks_done_locked() const {
  for (std::size_t li = 0; li < probes_.size(); ++li) {
    for (std::size_t si = 0; si < probes_[li].size(); ++si) {
      const ServerHealth& h = status_[li][si];
      if (probes_[li][si] && !h.checked && h.checks_not_run == 0) return false;
    }
  }
  return true;
}

std::chrono::milliseconds HealthMonitor::longest_check_deadline() const {
  std::chrono::milliseconds longest{0};
  for (const ListenerConfig& l : config_.listeners) {
    for (const ServerConfig& s : l.servers) {
      if (s.check.type != health::CheckType::kNone) longest = std::max(longest, health::check_deadline(s.check.timing));
    }
  }
  return longest;
}

ServerHealth HealthMonitor::status(std::size_t listener, std::size_t server) const {
  std::lock_guard lock(mutex_);
  return status_[listener][server];
}

bool HealthMonitor::set_admin_state(const std::string& listener, const std::string& server, AdminState state) {
  std::lock_guard lock(mutex_);
  for (std::size_t li = 0; li < config_.listeners.size(); ++li) {
    if (config_.listeners[li].name != listener) continue;
    for (std::size_t si = 0; si < config_.listeners[li].servers.size(); ++si) {
      if (config_.listeners[li].servers[si].name != server) continue;
      ServerHealth& h = status_[li][si];
      h.maintenance = state == AdminState::kMaint;
      h.draining = state == AdminState::kDrain;
      log().warn("Server {}/{} set to {} by admin", listener, server,
                 state == AdminState::kMaint ? "MAINT" : state == AdminState::kDrain ? "DRAIN" : "READY");
      publish_locked();
      return true;
    }
  }
  return false;
}

}  // namespace pgha::proxy
