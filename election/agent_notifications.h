// AgentNotifications: what pgha-agent tells the service manager (systemd, Type=notify or
// notify-reload), from the HA loop's progress:
//   READY=1 (with STATUS=<decision>) at the end of the first iteration that made an HA decision;
//   STATUS=<decision> whenever the decision's reason changes;
//   RELOADING=1 on SIGHUP, then READY=1 at the end of the first iteration that began after it
//     (the one that reloads PostgreSQL's configuration);
//   STOPPING=1 when asked to stop;
//   WATCHDOG=1 (through WatchdogKeepalive, with alive()) while the HA loop is not stuck: between
//     iterations, or within an iteration that began less than one watchdog interval ago.
// Owned by main(), which must keep it alive while the loop runs. reloading() and stopping() from
// the signal thread, alive() from the keepalive thread; the iteration observer runs on the HA
// thread.
#pragma once

#include <atomic>
#include <cstdint>
#include <string>

#include "election/ha_loop.h"
#include "service_notify/service_notifier.h"

namespace pgha::election {

class AgentNotifications {
 public:
  // Installs itself as `loop`'s iteration observer: construct before loop.run().
  AgentNotifications(service_notify::ServiceNotifier& notifier, HaLoop& loop);
  AgentNotifications(const AgentNotifications&) = delete;
  AgentNotifications& operator=(const AgentNotifications&) = delete;

  // SIGHUP: RELOADING=1, and the reload of PostgreSQL's configuration asked of the HA loop.
  void reload();
  void stopping();
  // For the watchdog keepalive: the HA loop is not stuck in one iteration.
  bool alive() const;

 private:
  void on_iteration(std::uint64_t iteration, const Decision* decision) noexcept;

  service_notify::ServiceNotifier& notifier_;
  HaLoop& loop_;
  bool ready_ = false;        // HA thread
  std::string last_status_;   // HA thread
  // READY=1 is due at the end of this iteration (0: none), after a SIGHUP.
  std::atomic<std::uint64_t> reloaded_by_{0};
};

}  // namespace pgha::election
