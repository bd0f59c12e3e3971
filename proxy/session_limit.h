// SessionLimit: a session counter with an optional ceiling (maxconn), shared by all workers.
// Used for the process (global maxconn), each listener and each server. Relaxed atomics,
// touched once per session, never per forwarded chunk.
#pragma once

#include <atomic>

namespace pgha::proxy {

class SessionLimit {
 public:
  explicit SessionLimit(int max = 0) : max_(max) {}  // max <= 0: no ceiling

  // Counts one session unless the ceiling is reached (atomically, so concurrent workers
  // cannot overshoot it).
  bool try_take() {
    int current = active_.load(std::memory_order_relaxed);
    do {
      if (max_ > 0 && current >= max_) return false;
    } while (!active_.compare_exchange_weak(current, current + 1, std::memory_order_relaxed));
    return true;
  }
  void give_back() { active_.fetch_sub(1, std::memory_order_relaxed); }

  int active() const { return active_.load(std::memory_order_relaxed); }
  int max() const { return max_; }
  bool full() const { return max_ > 0 && active() >= max_; }

 private:
  const int max_;
  std::atomic<int> active_{0};
};

}  // namespace pgha::proxy
