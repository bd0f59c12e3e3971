#include "proxy/health_monitor.h"

#include <chrono>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>

#include "health/checker.h"
#include "proxy/log.h"

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
  snapshot_ = build_snapshot_locked();
}

HealthMonitor::~HealthMonitor() { stop(); }

void HealthMonitor::start() {
  for (std::size_t li = 0; li < config_.listeners.size(); ++li) {
    for (std::size_t si = 0; si < config_.listeners[li].servers.size(); ++si) {
      if (config_.listeners[li].servers[si].check.type == health::CheckType::kNone) continue;
      asio::co_spawn(io_, check_loop(li, si), [li, si, this](std::exception_ptr e) {
        if (!e) return;
        try {
          std::rethrow_exception(e);
        } catch (const std::exception& ex) {
          log().error("health check loop of {}/{} ended: {}", config_.listeners[li].name,
                      config_.listeners[li].servers[si].name, ex.what());
        }
      });
    }
  }
  thread_ = std::thread([this] { io_.run(); });
}

void HealthMonitor::stop() {
  io_.stop();
  if (thread_.joinable()) thread_.join();
}

asio::awaitable<void> HealthMonitor::check_loop(std::size_t li, std::size_t si) {
  const ListenerConfig& listener = config_.listeners[li];
  const ServerConfig& server = listener.servers[si];
  auto checker = health::make_checker(co_await asio::this_coro::executor, server.check);
  health::CheckState state(server.check.timing, server.check.initial_state);
  asio::steady_timer timer(co_await asio::this_coro::executor);
  for (;;) {
    timer.expires_after(state.next_interval());
    boost::system::error_code ec;
    co_await timer.async_wait(asio::redirect_error(asio::use_awaitable, ec));
    if (ec) co_return;
    health::CheckResult result = co_await checker->check();
    const bool first = !state.checked();
    const health::Transition t = state.on_result(result.healthy);

    std::lock_guard lock(mutex_);
    ServerHealth& h = status_[li][si];
    h.checked = true;
    h.health = state.health();
    h.consecutive_failures = state.consecutive_failures();
    h.consecutive_successes = state.consecutive_successes();
    h.last_detail = result.detail;
    h.last_duration_ms = static_cast<double>(result.duration.count());
    ++h.checks;
    if (t != health::Transition::kNone) {
      h.up = t == health::Transition::kWentUp;
      ++h.transitions;
      h.last_change_unix_ms = unix_ms_now();
      // HAProxy's wording, so operators' log searches keep working.
      log().warn("Server {}/{} is {}, reason: {}, check duration: {}ms.{}", listener.name, server.name,
                 h.up ? "UP" : "DOWN", result.detail, result.duration.count(),
                 (!h.up && server.shutdown_sessions_on_down) ? " Sessions will be shut down." : "");
      publish_locked();
    } else if (first) {
      log().info("Server {}/{} first check: {} ({}), staying {}", listener.name, server.name,
                 result.healthy ? "passed" : "failed", result.detail, h.up ? "UP" : "DOWN");
    }
  }
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
      shut.push_back((!h.up && shutdown_on_down) || h.maintenance ? 1 : 0);
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
