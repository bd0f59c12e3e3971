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

#include "election/etcd_client.h"
#include "election/log.h"
#include "election/process_alive.h"

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

// Messages on the pipe: 16 bytes (< PIPE_BUF, so each write is atomic).
constexpr long long kDeadline = 1;  // value: deadline in steady-clock ns, 0 = disarmed
constexpr long long kLease = 2;     // value: the agent's etcd lease id, 0 = none
struct Message {
  long long kind = 0;
  long long value = 0;
};

// Immediate shutdown of the postmaster of data_dir (SIGQUIT), so it stops taking writes now.
// Returns the postmaster's pid (0 when none ran).
pid_t fence(const std::string& data_dir, const char* why) {
  const pid_t pid = postmaster_of(data_dir);
  if (pid == 0) {
    say(std::string("fence (") + why + "): no postmaster runs in " + data_dir);
    return 0;
  }
  if (::kill(pid, SIGQUIT) == 0) {
    say(std::string("fenced (") + why + "): sent SIGQUIT (immediate shutdown) to postmaster " + std::to_string(pid));
  } else {
    say(std::string("fence (") + why + "): kill " + std::to_string(pid) + ": " + std::strerror(errno));
  }
  return pid;
}

// While the deadline has passed and no new one has come, a postmaster that starts in the data dir
// (an agent that resumed and acted on what it knew before its pause) is fenced within this period.
constexpr int kExpiredCheckMs = 50;

// The agent died while leading and PostgreSQL was fenced: once the postmaster is gone, revoke
// the agent's lease, so that the leader key goes now instead of at the end of the lease. While
// the postmaster still runs, nothing is revoked: the lease is what keeps the others waiting.
void revoke_after_fencing(pid_t postmaster, long long lease, const EtcdClientOptions& etcd) {
  if (lease == 0 || etcd.endpoints.empty()) return;
  const auto deadline = FenceWatchdog::Clock::now() + std::chrono::seconds(10);
  while (postmaster != 0 && process_alive(postmaster)) {
    if (FenceWatchdog::Clock::now() >= deadline) {
      say("postmaster " + std::to_string(postmaster) + " still runs 10 s after SIGQUIT: not revoking the lease");
      return;
    }
    ::usleep(10'000);
  }
  EtcdStatus revoked;
  try {
    EtcdClient client(etcd);
    revoked = client.lease_revoke(lease);
  } catch (const std::exception& e) {  // a TLS file gone or broken since the config was checked
    revoked = EtcdStatus{EtcdStatus::Code::kUnreachable, e.what()};
  }
  if (revoked.ok() || revoked.code() == EtcdStatus::Code::kLeaseNotFound) {
    say("revoked the agent's lease " + std::to_string(lease) + ": the others may take over now");
  } else {
    say("revoking the agent's lease failed (" + revoked.to_string() + "): it expires after ttl");
  }
}

}  // namespace

std::unique_ptr<FenceWatchdog> FenceWatchdog::start(const std::string& data_dir, EtcdClientOptions etcd) {
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
    ::_exit(watch(fds[0], data_dir, etcd) >= 0 ? 0 : 1);
  }
  ::close(fds[0]);
  log().info("watchdog: fencing process {} watches {}", pid, data_dir);
  return std::unique_ptr<FenceWatchdog>(new FenceWatchdog(fds[1], pid));
}

FenceWatchdog::~FenceWatchdog() {
  (void)disarm();  // closing the pipe next ends the watchdog either way
  ::close(fd_);
  int status = 0;
  ::waitpid(pid_, &status, 0);  // it exits at EOF
}

bool FenceWatchdog::arm(Clock::time_point deadline) {
  // A deadline that has passed is sent again each time: the watchdog forgets a deadline once it
  // has fenced for it, and must fence again whatever PostgreSQL was started since.
  if (deadline <= Clock::now()) last_deadline_ = -1;
  return send(kDeadline, std::chrono::duration_cast<std::chrono::nanoseconds>(deadline.time_since_epoch()).count(),
              last_deadline_);
}

bool FenceWatchdog::disarm() { return send(kDeadline, 0, last_deadline_); }

bool FenceWatchdog::set_lease(std::int64_t lease_id) { return send(kLease, lease_id, last_lease_); }

bool FenceWatchdog::send(long long kind, long long value, long long& last_sent) {
  if (value == last_sent) return true;
  const Message message{kind, value};
  if (::write(fd_, &message, sizeof message) != sizeof message) {
    log().critical("watchdog: cannot reach the fencing process {}: {}", pid_, std::strerror(errno));
    return false;
  }
  last_sent = value;
  return true;
}

int FenceWatchdog::watch(int fd, const std::string& data_dir, const EtcdClientOptions& etcd) {
  long long deadline = 0;  // 0: disarmed
  bool expired = false;    // the deadline passed and was fenced; no new deadline since
  pid_t fenced_pid = 0;    // the postmaster signalled last
  long long lease = 0;
  int fenced = 0;
  for (;;) {
    int timeout_ms = -1;
    if (expired) {
      timeout_ms = kExpiredCheckMs;
    } else if (deadline != 0) {
      const long long left = deadline - now_ns();
      timeout_ms = left <= 0 ? 0 : static_cast<int>(std::min<long long>(left / 1'000'000 + 1, 60'000));
    }
    pollfd p{fd, POLLIN, 0};
    const int ready = ::poll(&p, 1, timeout_ms);
    if (ready < 0 && errno == EINTR) continue;
    if (ready == 0) {
      if (expired) {
        // Until the agent renews or disarms, no postmaster may run here: one that started after
        // the fence is stopped too.
        const pid_t pid = postmaster_of(data_dir);
        if (pid != 0 && pid != fenced_pid) {
          fenced_pid = fence(data_dir, "a postmaster started after the lease deadline passed");
          ++fenced;
        }
      } else if (deadline != 0 && now_ns() >= deadline) {
        fenced_pid = fence(data_dir, "the agent did not renew its lease deadline");
        ++fenced;
        expired = true;
      }
      continue;
    }
    Message message;
    const ssize_t n = ::read(fd, &message, sizeof message);
    if (n == sizeof message) {
      if (message.kind == kDeadline) {
        deadline = message.value;
        expired = false;  // a deadline already passed is fenced again at once
      }
      if (message.kind == kLease) lease = message.value;
      continue;
    }
    if (n < 0 && errno == EINTR) continue;
    // EOF (or a broken pipe): the agent is gone.
    if (deadline != 0) {
      const pid_t postmaster = fence(data_dir, "the agent died while leading");
      ++fenced;
      revoke_after_fencing(postmaster, lease, etcd);
    }
    ::close(fd);
    return fenced;
  }
}

}  // namespace pgha::election
