// ProxyLiveness: whether pgha-proxy is healthy enough to answer the service manager's watchdog.
// Each alive() call judges the previous round of worker pings (every relay worker of the current
// ProxyService ran a posted no-op since the last call) and posts the next round; so a keepalive
// proves that the workers answered within one keepalive period. A reload points it at the new
// service (watch()); a round posted to the previous service's workers still counts, as they go
// on running while their sessions drain.
// Thread-safety: watch() from the thread that owns the services (main); alive() from the
// keepalive thread. The service watched must outlive the next watch() call.
#pragma once

#include <memory>
#include <mutex>

#include "proxy/worker_ping.h"

namespace pgha::proxy {

class ProxyService;

class ProxyLiveness {
 public:
  // The service to ping from now on (nullptr: none; alive() is then false).
  void watch(ProxyService* service);
  // True when the round posted by the previous call was answered by every worker.
  bool alive();

 private:
  std::mutex mutex_;
  ProxyService* service_ = nullptr;
  std::shared_ptr<WorkerPing> round_;
};

}  // namespace pgha::proxy
