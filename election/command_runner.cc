#include "election/command_runner.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <ctime>

namespace pgha::election {
namespace {

using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;

std::string join_argv(const std::vector<std::string>& argv) {
  std::string out;
  for (const auto& arg : argv) {
    if (!out.empty()) out += ' ';
    out += arg;  // no secrets here: passwords travel in a pgpass file, never in argv
  }
  return out;
}

void write_all(int fd, const std::string& text) {
  const char* data = text.data();
  std::size_t left = text.size();
  while (left > 0) {
    const ssize_t n = ::write(fd, data, left);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return;
    data += n;
    left -= static_cast<std::size_t>(n);
  }
}

std::string read_tail(int fd, off_t from, std::size_t max_bytes) {
  struct stat st {};
  if (::fstat(fd, &st) != 0 || st.st_size <= from) return {};
  off_t start = st.st_size - static_cast<off_t>(max_bytes);
  if (start < from) start = from;
  std::string out(static_cast<std::size_t>(st.st_size - start), '\0');
  const ssize_t n = ::pread(fd, out.data(), out.size(), start);
  out.resize(n > 0 ? static_cast<std::size_t>(n) : 0);
  if (start > from) {
    // Cut to a line start so the tail reads cleanly.
    const auto newline = out.find('\n');
    if (newline != std::string::npos && newline + 1 < out.size()) out.erase(0, newline + 1);
    out.insert(0, "...");
  }
  while (!out.empty() && (out.back() == '\n' || out.back() == ' ')) out.pop_back();
  return out;
}

std::string timestamp() {
  const std::time_t now = std::time(nullptr);
  std::tm tm {};
  ::localtime_r(&now, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%d %H:%M:%S", &tm);
  return buf;
}

enum class Waited { kExited, kDeadline, kCancelled };

// Waits for the child up to `deadline`, or until `cancel_fd` (if >= 0) is readable. kExited: status
// filled.
Waited wait_until(pid_t pid, Clock::time_point deadline, int cancel_fd, int* status) {
  const int pidfd = static_cast<int>(::syscall(SYS_pidfd_open, pid, 0));
  Waited outcome = Waited::kExited;
  for (;;) {
    const pid_t done = ::waitpid(pid, status, WNOHANG);
    if (done == pid || (done < 0 && errno != EINTR)) break;
    const auto left = std::chrono::duration_cast<milliseconds>(deadline - Clock::now()).count();
    if (left <= 0) {
      outcome = Waited::kDeadline;
      break;
    }
    // No pidfd (old kernel): poll the child every 10 ms.
    pollfd fds[2] = {{pidfd, POLLIN, 0}, {cancel_fd, POLLIN, 0}};  // negative fds are ignored
    const int timeout = pidfd >= 0 ? static_cast<int>(left) : static_cast<int>(left < 10 ? left : 10);
    if (::poll(fds, 2, timeout) > 0 && (fds[1].revents & (POLLIN | POLLHUP)) != 0) {
      outcome = Waited::kCancelled;
      break;
    }
  }
  if (pidfd >= 0) ::close(pidfd);
  return outcome;
}

}  // namespace

CommandRunner::CommandRunner(Options options) : options_(std::move(options)) {}

std::vector<std::string> CommandRunner::default_environment() {
  return {"PATH=/usr/local/bin:/usr/bin:/bin", "LANG=C.UTF-8"};
}

CommandResult CommandRunner::run(const std::vector<std::string>& argv, milliseconds timeout,
                                 const std::string& log_path, int cancel_fd) const {
  CommandResult result;
  const auto started_at = Clock::now();
  const auto deadline = started_at + timeout;
  const std::string program = argv.empty() ? std::string("(empty)") : argv.front();
  const std::string name = program.substr(program.find_last_of('/') + 1);

  std::vector<std::string> full;
  if (!options_.run_as.empty() && ::geteuid() == 0) {
    full = {options_.runuser, "-u", options_.run_as, "--"};
  }
  full.insert(full.end(), argv.begin(), argv.end());

  const int log_fd = ::open(log_path.c_str(), O_RDWR | O_APPEND | O_CREAT | O_CLOEXEC, 0640);
  if (log_fd < 0) {
    result.describe = name + " not run: cannot open log " + log_path + ": " + std::strerror(errno);
    return result;
  }
  write_all(log_fd, "[" + timestamp() + "] $ " + join_argv(full) + "\n");
  struct stat before {};
  ::fstat(log_fd, &before);  // the tail in error messages starts after the command line

  if (argv.empty()) {
    ::close(log_fd);
    result.describe = "no command given";
    return result;
  }

  // Everything the child needs is built before fork: after it, only async-signal-safe calls.
  std::vector<char*> child_argv;
  for (auto& arg : full) child_argv.push_back(const_cast<char*>(arg.c_str()));
  child_argv.push_back(nullptr);
  std::vector<char*> child_env;
  for (auto& entry : options_.environment) child_env.push_back(const_cast<char*>(entry.c_str()));
  child_env.push_back(nullptr);
  const int null_fd = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
  int exec_pipe[2];
  if (null_fd < 0 || ::pipe2(exec_pipe, O_CLOEXEC) != 0) {
    if (null_fd >= 0) ::close(null_fd);
    ::close(log_fd);
    result.describe = name + " not run: " + std::strerror(errno);
    return result;
  }

  const pid_t pid = ::fork();
  if (pid == 0) {
    ::setpgid(0, 0);
    sigset_t all;
    sigemptyset(&all);
    ::sigprocmask(SIG_SETMASK, &all, nullptr);
    for (int sig : {SIGPIPE, SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGCHLD}) ::signal(sig, SIG_DFL);
    ::dup2(null_fd, STDIN_FILENO);
    ::dup2(log_fd, STDOUT_FILENO);
    ::dup2(log_fd, STDERR_FILENO);
    // Sockets and files of the agent's other threads must not leak into PostgreSQL.
    const int keep = exec_pipe[1];
    if (keep > 3) ::syscall(SYS_close_range, 3u, static_cast<unsigned>(keep - 1), 0u);
    ::syscall(SYS_close_range, static_cast<unsigned>(keep + 1), ~0u, 0u);
    ::execve(child_argv[0], child_argv.data(), child_env.data());
    const int err = errno;
    while (::write(exec_pipe[1], &err, sizeof err) < 0 && errno == EINTR) {
    }
    ::_exit(127);
  }
  ::close(null_fd);
  ::close(exec_pipe[1]);
  if (pid < 0) {
    ::close(exec_pipe[0]);
    ::close(log_fd);
    result.describe = name + " not run: fork: " + std::strerror(errno);
    return result;
  }
  ::setpgid(pid, pid);  // also in the parent, so the group exists before any kill below

  int exec_errno = 0;
  ssize_t got;
  do {
    got = ::read(exec_pipe[0], &exec_errno, sizeof exec_errno);
  } while (got < 0 && errno == EINTR);
  ::close(exec_pipe[0]);
  result.started = got == 0;

  int status = 0;
  const Waited waited = wait_until(pid, deadline, cancel_fd, &status);
  if (waited != Waited::kExited) {
    result.timed_out = waited == Waited::kDeadline;
    result.cancelled = waited == Waited::kCancelled;
    ::kill(-pid, SIGKILL);
    ::kill(pid, SIGKILL);
    while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
    }
  }
  if (WIFEXITED(status)) result.exit_code = WEXITSTATUS(status);
  if (WIFSIGNALED(status)) result.term_signal = WTERMSIG(status);
  result.elapsed = std::chrono::duration_cast<milliseconds>(Clock::now() - started_at);

  const std::string ms = std::to_string(result.elapsed.count()) + " ms";
  std::string verdict;
  if (!result.started) {
    verdict = "could not be executed: " + std::string(std::strerror(exec_errno));
  } else if (result.cancelled) {
    verdict = "was cancelled after " + ms + " and killed";
  } else if (result.timed_out) {
    verdict = "timed out after " + ms + " (deadline " + std::to_string(timeout.count()) + " ms) and was killed";
  } else if (result.term_signal != 0) {
    verdict = "was killed by signal " + std::to_string(result.term_signal) + " after " + ms;
  } else {
    verdict = "exited with " + std::to_string(result.exit_code) + " after " + ms;
  }
  result.output_tail = read_tail(log_fd, before.st_size, options_.tail_bytes);
  write_all(log_fd, "[" + timestamp() + "] " + name + " " + verdict + "\n");
  ::close(log_fd);
  result.describe = name + " " + verdict + (result.output_tail.empty() ? "" : ": " + result.output_tail);
  return result;
}

}  // namespace pgha::election
