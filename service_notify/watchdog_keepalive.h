// WatchdogKeepalive: the thread that answers the service manager's watchdog (WatchdogSec=). Every
// quarter of the interval it asks `alive` whether the process is healthy and sends WATCHDOG=1
// only when it is, so that a stuck relay worker or HA loop stops the keepalives and the service
// manager restarts the process. A quarter, not sd_watchdog_enabled()'s usual half: one round
// answered late (a reload swapping the services in between) then still leaves a keepalive
// before the interval runs out.
//
// `alive` runs on the keepalive thread; it must not block for long (it may start a round of
// pings to be judged at the next tick). Without a watchdog interval, start() does nothing.
// Owned by main(); start()/stop() from the owning thread.
#pragma once

#include <chrono>
#include <condition_variable>
#include <functional>
#include <mutex>
#include <thread>

#include "service_notify/service_notifier.h"

namespace pgha::service_notify {

class WatchdogKeepalive {
 public:
  using Alive = std::function<bool()>;

  WatchdogKeepalive(ServiceNotifier& notifier, Alive alive);
  ~WatchdogKeepalive();
  WatchdogKeepalive(const WatchdogKeepalive&) = delete;
  WatchdogKeepalive& operator=(const WatchdogKeepalive&) = delete;

  // Starts the thread when the notifier has a watchdog interval.
  void start();
  // Ends and joins the thread (at most one `alive` call long). Idempotent.
  void stop();
  // The period between two calls of `alive` (a quarter of the interval, at least 1 ms).
  std::chrono::microseconds period() const;

 private:
  void run();

  ServiceNotifier& notifier_;
  Alive alive_;
  std::mutex mutex_;
  std::condition_variable cv_;
  bool stopping_ = false;
  std::thread thread_;
};

}  // namespace pgha::service_notify
