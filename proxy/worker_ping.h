// WorkerPing: one round of no-ops posted to every relay worker of a ProxyService. answered() once
// each worker has run its no-op, which proves that its event loop still turns; the systemd
// watchdog's keepalive is sent only then (ProxyLiveness).
// Created by ProxyService::ping_workers(); answer() on the workers' threads, answered() from any
// thread. A worker that stops before running its no-op never answers.
#pragma once

#include <atomic>
#include <cstddef>

namespace pgha::proxy {

class WorkerPing {
 public:
  explicit WorkerPing(std::size_t workers) : expected_(workers) {}
  void answer() { answers_.fetch_add(1, std::memory_order_release); }
  bool answered() const { return answers_.load(std::memory_order_acquire) >= expected_; }

 private:
  const std::size_t expected_;
  std::atomic<std::size_t> answers_{0};
};

}  // namespace pgha::proxy
