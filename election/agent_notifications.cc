#include "election/agent_notifications.h"

#include "election/log.h"

namespace pgha::election {

AgentNotifications::AgentNotifications(service_notify::ServiceNotifier& notifier, HaLoop& loop)
    : notifier_(notifier), loop_(loop) {
  loop_.set_iteration_observer(
      [this](std::uint64_t iteration, const Decision* decision) { on_iteration(iteration, decision); });
}

void AgentNotifications::reload() {
  notifier_.reloading("reloading PostgreSQL's configuration");
  (void)loop_.request_reload();  // always "scheduled"
  // The reload is taken by an iteration that begins after the request, not by one in progress.
  reloaded_by_ = loop_.iterations_begun() + 1;
}

void AgentNotifications::stopping() { notifier_.stopping("stopping: stepping down"); }

bool AgentNotifications::alive() const {
  const auto interval = notifier_.watchdog_interval();
  return !interval || loop_.iteration_running_for() < *interval;
}

void AgentNotifications::on_iteration(std::uint64_t iteration, const Decision* decision) noexcept {
  try {
    std::uint64_t due = reloaded_by_.load();
    if (due != 0 && iteration >= due && reloaded_by_.compare_exchange_strong(due, 0)) {
      notifier_.ready("ran the reload of PostgreSQL's configuration");
    }
    if (!decision) return;
    const std::string status = decision->reason.empty() ? std::string(action_name(decision->action)) : decision->reason;
    if (!ready_) {
      ready_ = true;
      last_status_ = status;
      notifier_.ready(status);
    } else if (status != last_status_) {
      last_status_ = status;
      notifier_.status(status);
    }
  } catch (const std::exception& e) {
    log().warn("systemd: cannot notify: {}", e.what());
  }
}

}  // namespace pgha::election
