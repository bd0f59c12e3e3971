// SlowClients: a slowloris attack for tests. `count` connections to 127.0.0.1:port, opened from
// `source_address` (any 127.x.y.z works on Linux), each sending `prefix` at once and then one
// byte ('a') every `interval` from a thread of its own, until the server closes it. Counts the
// connections the server has closed. The destructor stops the thread and closes the rest.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace pgha::test {

class SlowClients {
 public:
  SlowClients(std::uint16_t port, int count, std::string prefix, std::chrono::milliseconds interval,
              const std::string& source_address = "127.0.0.1");
  ~SlowClients();
  SlowClients(const SlowClients&) = delete;
  SlowClients& operator=(const SlowClients&) = delete;

  int opened() const { return static_cast<int>(fds_.size()); }
  int closed_by_server() const { return closed_.load(); }

 private:
  void drip();

  std::vector<int> fds_;  // -1 once closed; the drip thread's after the constructor
  std::chrono::milliseconds interval_;
  std::atomic<int> closed_{0};
  std::mutex mutex_;
  std::condition_variable wake_;
  bool stop_ = false;  // guarded by mutex_
  std::thread thread_;
};

}  // namespace pgha::test
