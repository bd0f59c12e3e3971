// ChildProcess: a binary run by a test in the background (posix_spawn, no shell), its stdout and
// stderr appended to a log file, extra environment variables ("KEY=VALUE") added to the test's;
// stopped with SIGTERM by terminate() or killed (SIGKILL) at the end. Test thread only.
#pragma once

#include <sys/types.h>

#include <string>
#include <vector>

namespace pgha::test {

class ChildProcess {
 public:
  ChildProcess(std::vector<std::string> argv, const std::string& log, std::vector<std::string> environment = {});
  ~ChildProcess();
  ChildProcess(const ChildProcess&) = delete;
  ChildProcess& operator=(const ChildProcess&) = delete;

  pid_t pid() const { return pid_; }  // -1 when it could not be started
  bool alive();
  // Exit status after SIGTERM (128 + signal when killed), or -1 if it did not exit within 10 s.
  int terminate();

 private:
  pid_t pid_ = -1;
  bool exited_ = false;
  int status_ = 0;
};

}  // namespace pgha::test
