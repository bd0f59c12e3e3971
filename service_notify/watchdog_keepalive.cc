#include "service_notify/watchdog_keepalive.h"

#include <algorithm>

namespace pgha::service_notify {

WatchdogKeepalive::WatchdogKeepalive(ServiceNotifier& notifier, Alive alive)
    : notifier_(notifier), alive_(std::move(alive)) {}

WatchdogKeepalive::~WatchdogKeepalive() { stop(); }

std::chrono::microseconds WatchdogKeepalive::period() const {
  const auto interval = notifier_.watchdog_interval().value_or(std::chrono::microseconds::zero());
  return std::max<std::chrono::microseconds>(interval / 4, std::chrono::milliseconds(1));
}

void WatchdogKeepalive::start() {
  if (!notifier_.watchdog_interval() || !notifier_.enabled() || thread_.joinable()) return;
  {
    std::lock_guard lock(mutex_);
    stopping_ = false;
  }
  thread_ = std::thread([this] { run(); });
}

void WatchdogKeepalive::stop() {
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
}

void WatchdogKeepalive::run() {
  const auto step = period();
  auto next = std::chrono::steady_clock::now();
  std::unique_lock lock(mutex_);
  while (!stopping_) {
    lock.unlock();
    if (alive_()) (void)notifier_.watchdog();  // a failure to send is logged by the notifier
    lock.lock();
    next += step;
    // After a long pause (a suspended machine, a stopped process) keep the period from now.
    const auto now = std::chrono::steady_clock::now();
    if (next < now) next = now + step;
    cv_.wait_until(lock, next, [this] { return stopping_; });
  }
}

}  // namespace pgha::service_notify
