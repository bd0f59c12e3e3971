// CommandRunner: runs one external program to completion under a deadline — fork/exec of an argv
// vector (no shell), a clean environment given explicitly (nothing of the agent's own, so no
// PGPASSWORD or PGHOST leaks into PostgreSQL's tools), stdin from /dev/null, stdout and stderr
// appended to a log file. When the agent runs as root the program runs as `run_as` through
// runuser(1), because PostgreSQL's tools refuse root. The child leads its own process group; on
// the deadline the whole group is killed with SIGKILL and the result says so; so it is when the
// caller's cancel descriptor (an eventfd or a pipe's read end) becomes readable meanwhile.
// Blocking: call only from the agent's HA thread or a callback thread of its own (never an io or
// REST thread). Thread-safe in the sense that run() keeps no state between calls; concurrent runs
// may share a log file.
#pragma once

#include <chrono>
#include <string>
#include <vector>

namespace pgha::election {

struct CommandResult {
  bool started = false;    // fork/exec succeeded
  bool timed_out = false;  // the deadline passed; the process group was killed
  bool cancelled = false;  // the cancel descriptor became readable; the process group was killed
  int exit_code = -1;      // when it exited normally
  int term_signal = 0;     // when a signal ended it
  std::chrono::milliseconds elapsed{0};
  std::string output_tail;  // last lines this run wrote to the log
  std::string describe;     // "pg_basebackup exited with 1 after 812 ms: <tail>", for error messages

  bool ok() const { return started && !timed_out && !cancelled && term_signal == 0 && exit_code == 0; }
};

class CommandRunner {
 public:
  struct Options {
    std::string run_as;                    // OS user when this process is root; "" → run as is
    std::vector<std::string> environment;  // the child's whole environment, "KEY=VALUE"
    std::string runuser = "/usr/sbin/runuser";
    std::size_t tail_bytes = 1500;         // how much of the output goes into describe
  };

  explicit CommandRunner(Options options);

  // argv[0] is an absolute path (no PATH search). The log file is created (0640) if needed.
  // `cancel_fd` (optional, -1: none) is only polled, never read: readable → the run is cancelled.
  CommandResult run(const std::vector<std::string>& argv, std::chrono::milliseconds timeout,
                    const std::string& log_path, int cancel_fd = -1) const;

  // A clean environment for PostgreSQL's tools: PATH, LANG=C.UTF-8 (English messages, UTF-8).
  static std::vector<std::string> default_environment();

 private:
  Options options_;
};

}  // namespace pgha::election
