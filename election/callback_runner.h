// CallbackRunner: runs asynchronous callbacks one at a time on a thread of its own, the newest
// replacing the one still running, as Patroni does: run() returns at once; a callback still
// running when the next is submitted is killed (its whole process group), and a submitted one
// that has not started yet is dropped for the newer one. Every callback also has a deadline:
// one still running after `timeout` is killed (Patroni lets a hung callback run until the next
// event). The commands go through CommandRunner (no shell, a clean environment, output appended
// to the log file) and each outcome is logged ("callback on_role_change exited with 0 ...").
//
// Owned by PostgresCallbacks. run(), wait_idle() and completed() are thread-safe; the HA thread
// calls run(), which never waits for a callback. The destructor kills what still runs and joins.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "election/command_runner.h"

namespace pgha::election {

class CallbackRunner {
 public:
  // `runner` runs the commands; their output goes to `log_path`.
  CallbackRunner(CommandRunner runner, std::string log_path);
  ~CallbackRunner();
  CallbackRunner(const CallbackRunner&) = delete;
  CallbackRunner& operator=(const CallbackRunner&) = delete;

  // Starts `argv` (argv[0] an absolute path) as soon as the previous callback is killed. `name`
  // says what it is in the log ("on_start").
  void run(std::string name, std::vector<std::string> argv, std::chrono::milliseconds timeout);

  // Waits until no callback runs or waits to run, up to `timeout`. True when idle.
  bool wait_idle(std::chrono::milliseconds timeout);

  struct Completed {
    std::string name;
    CommandResult result;
  };
  // Every callback that has finished (exited, been killed or failed to start), oldest first.
  std::vector<Completed> completed() const;

 private:
  struct Job {
    std::string name;
    std::vector<std::string> argv;
    std::chrono::milliseconds timeout{0};
  };
  void work();
  void cancel_running();  // with mutex_ held

  CommandRunner runner_;
  std::string log_path_;
  int cancel_fd_ = -1;  // an eventfd: readable → the running callback is killed

  mutable std::mutex mutex_;
  std::condition_variable cv_;
  std::optional<Job> next_;
  bool running_ = false;
  bool stopping_ = false;
  std::vector<Completed> completed_;
  std::thread thread_;
};

}  // namespace pgha::election
