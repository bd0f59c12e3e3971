#include "election/fence_watchdog.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <fstream>

#include "election/log.h"

namespace pgha::election {

namespace {

long long now_ns() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(FenceWatchdog::Clock::now().time_since_epoch()).count();
}

// Plain write(2): the watchdog process must not depend on the agent's logging machinery.
void say(const std::string& line) {
  const std::string text = "pgha-watchdog[" + std::to_string(::getpid()) + "]: " + line + "\n";
  [[maybe_unused]] ssize_t n = ::write(STDERR_FILENO, text.data(), text.size());
}

// Immediate shutdown of the postmaster of data_dir (SIGQUIT), so it stops taking writes now.
void fence(const std::string& data_dir, const char* why) {
  std::ifstream pidfile(data_dir + "/postmaster.pid");
  long pid = 0;
  if (!(pidfile >> pid) || pid <= 0) {
    say(std::string("fence (") + why + "): no postmaster.pid, PostgreSQL is not running");
    return;
  }
  if (::kill(static_cast<pid_t>(pid), SIGQUIT) == 0) {
    say(std::string("fenced (") + why + "): sent SIGQUIT (immediate shutdown) to postmaster " + std::to_string(pid));
  } else {
    say(std::string("fence (") + why + "): kill " + std::to_string(pid) + ": " + std::strerror(errno));
  }
}

}  // namespace

std::unique_ptr<FenceWatchdog> FenceWatchdog::start(const std::string& data_dir) {
  int fds[2];
  if (::pipe2(fds, O_CLOEXEC) != 0) {
    log().error("watchdog: pipe: {}", std::strerror(errno));
    return nullptr;
  }
  const pid_t pid = ::fork();
  if (pid < 0) {
    log().error("watchdog: fork: {}", std::strerror(errno));
    ::close(fds[0]);
    ::close(fds[1]);
    return nullptr;
  }
  if (pid == 0) {
    ::close(fds[1]);
    ::prctl(PR_SET_NAME, "pgha-watchdog");
    // Signals meant for the agent's process group (Ctrl-C, the service manager's SIGTERM) must
    // not end the watchdog: it ends when the agent closes the pipe.
    ::signal(SIGINT, SIG_IGN);
    ::signal(SIGTERM, SIG_IGN);
    ::signal(SIGHUP, SIG_IGN);
    ::_exit(watch(fds[0], data_dir) >= 0 ? 0 : 1);
  }
  ::close(fds[0]);
  log().info("watchdog: fencing process {} watches {}", pid, data_dir);
  return std::unique_ptr<FenceWatchdog>(new FenceWatchdog(fds[1], pid));
}

FenceWatchdog::~FenceWatchdog() {
  disarm();
  ::close(fd_);
  int status = 0;
  ::waitpid(pid_, &status, 0);  // it exits at EOF
}

void FenceWatchdog::arm(Clock::time_point deadline) {
  send(std::chrono::duration_cast<std::chrono::nanoseconds>(deadline.time_since_epoch()).count());
}

void FenceWatchdog::disarm() { send(0); }

void FenceWatchdog::send(long long deadline_ns) {
  if (deadline_ns == last_sent_) return;
  // 8 bytes < PIPE_BUF: atomic; the watchdog reads whole messages.
  if (::write(fd_, &deadline_ns, sizeof deadline_ns) == sizeof deadline_ns) last_sent_ = deadline_ns;
}

int FenceWatchdog::watch(int fd, const std::string& data_dir) {
  long long deadline = 0;  // 0: disarmed
  int fenced = 0;
  for (;;) {
    int timeout_ms = -1;
    if (deadline != 0) {
      const long long left = deadline - now_ns();
      timeout_ms = left <= 0 ? 0 : static_cast<int>(std::min<long long>(left / 1'000'000 + 1, 60'000));
    }
    pollfd p{fd, POLLIN, 0};
    const int ready = ::poll(&p, 1, timeout_ms);
    if (ready < 0 && errno == EINTR) continue;
    if (ready == 0) {
      if (deadline != 0 && now_ns() >= deadline) {
        fence(data_dir, "the agent did not renew its lease deadline");
        ++fenced;
        deadline = 0;
      }
      continue;
    }
    long long message = 0;
    const ssize_t n = ::read(fd, &message, sizeof message);
    if (n == sizeof message) {
      deadline = message;
      continue;
    }
    if (n < 0 && errno == EINTR) continue;
    // EOF (or a broken pipe): the agent is gone.
    if (deadline != 0) {
      fence(data_dir, "the agent died while leading");
      ++fenced;
    }
    ::close(fd);
    return fenced;
  }
}

}  // namespace pgha::election
