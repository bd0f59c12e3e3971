// RetiredServices: the services a reload replaced, each finishing its sessions on a thread of its
// own (ProxyService::stop with the reload grace), then freed with everything it still held: its
// workers' pollers, its health monitor and the sockets of checks that were in flight. Without the
// freeing, every reload would keep a stopped service and its descriptors for the life of the
// process.
// Thread-safety: all calls from the one thread that reloads (pgha-proxy's main thread).
#pragma once

#include <atomic>
#include <chrono>
#include <memory>
#include <thread>
#include <vector>

#include "proxy/proxy_service.h"

namespace pgha::proxy {

class RetiredServices {
 public:
  RetiredServices() = default;
  ~RetiredServices();  // hurries and frees every retired service
  RetiredServices(const RetiredServices&) = delete;
  RetiredServices& operator=(const RetiredServices&) = delete;

  // Starts `service`'s drain: it stops accepting and its sessions go on for up to `grace`
  // (milliseconds::max(): until they end).
  void retire(std::unique_ptr<ProxyService> service, std::chrono::milliseconds grace);
  // Frees every service whose drain has ended; returns how many.
  std::size_t free_drained();
  // Ends every drain within `grace` from now (the process is stopping).
  void hurry(std::chrono::milliseconds grace);
  // Waits for every drain to end and frees the services.
  void free_all();
  std::size_t draining() const { return retired_.size(); }

 private:
  struct Retired {
    std::unique_ptr<ProxyService> service;
    std::unique_ptr<std::atomic<bool>> drained;
    std::thread thread;
  };
  std::vector<Retired> retired_;
};

}  // namespace pgha::proxy
