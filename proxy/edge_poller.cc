#include "proxy/edge_poller.h"

#include <fcntl.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <stdexcept>
#include <string_view>

#include <boost/asio/error.hpp>
#include <boost/system/system_error.hpp>

#include "proxy/epoll_watchers.h"
#include "proxy/log.h"

namespace pgha::proxy {

namespace asio = boost::asio;

namespace {

[[noreturn]] void throw_errno(const char* what) {
  throw boost::system::system_error(boost::system::error_code(errno, boost::system::system_category()), what);
}

bool add_level_triggered(int epoll_fd, int fd, std::uint64_t token) {
  epoll_event ev{};
  ev.events = EPOLLIN;
  ev.data.u64 = token;
  return ::epoll_ctl(epoll_fd, EPOLL_CTL_ADD, fd, &ev) == 0;
}

// Both ends of a pipe, closed at scope exit.
struct Pipe {
  int fds[2] = {-1, -1};
  Pipe() {
    if (::pipe2(fds, O_NONBLOCK | O_CLOEXEC) != 0) fds[0] = fds[1] = -1;
  }
  ~Pipe() {
    for (const int fd : fds) {
      if (fd >= 0) ::close(fd);
    }
  }
  Pipe(const Pipe&) = delete;
  Pipe& operator=(const Pipe&) = delete;
};

void log_mode_once(EdgePoller::Mode mode, const std::string& reason) {
  static std::once_flag nested_logged;
  static std::once_flag portable_logged;
  if (mode == EdgePoller::Mode::kNested) {
    std::call_once(nested_logged, [] { log().info("relay event loop: nested (the io_context's epoll set inside the relay's)"); });
  } else {
    std::call_once(portable_logged, [&reason] {
      log().warn("relay event loop: portable mode, one more epoll_wait per batch of relay events ({})", reason);
    });
  }
}

}  // namespace

std::optional<EdgePoller::Mode> EdgePoller::mode_from_environment() {
  const char* value = std::getenv("PGHA_PROXY_EVENT_LOOP");
  if (value == nullptr || std::string_view(value) == "auto" || *value == '\0') return std::nullopt;
  if (std::string_view(value) == "portable") return Mode::kPortable;
  throw std::invalid_argument(std::string("PGHA_PROXY_EVENT_LOOP must be auto or portable, not '") + value + "'");
}

EdgePoller::EdgePoller(asio::io_context& io, std::optional<Mode> forced) : io_(io) {
  // On a failure, close what was opened and throw (the destructor does not run).
  auto fail = [this](const char* what) {
    const int saved = errno;
    in_io_context_.reset();  // only ever assigned last, by start_portable()
    if (wake_fd_ >= 0) ::close(wake_fd_);
    if (epoll_fd_ >= 0) ::close(epoll_fd_);
    errno = saved;
    throw_errno(what);
  };
  epoll_fd_ = ::epoll_create1(EPOLL_CLOEXEC);
  if (epoll_fd_ < 0) fail("epoll_create1");
  wake_fd_ = ::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  if (wake_fd_ < 0) fail("eventfd");
  // Level-triggered: reported until drained (read of the eventfd).
  if (!add_level_triggered(epoll_fd_, wake_fd_, kWakeToken)) fail("epoll_ctl(eventfd)");

  std::string reason = "PGHA_PROXY_EVENT_LOOP=portable";
  if (forced != Mode::kPortable) {
    reason = nest_reactor();
    nested_ = reason.empty();
    if (!nested_ && forced == Mode::kNested) {
      errno = ENOTSUP;
      fail(("nesting the io_context's epoll descriptor: " + reason).c_str());
    }
  }
  if (!nested_) {
    try {
      start_portable();
    } catch (const boost::system::system_error& e) {
      errno = e.code().value();
      fail("registering the relay's epoll descriptor in the io_context");
    }
  }
  log_mode_once(mode(), reason);
}

std::string EdgePoller::nest_reactor() {
  Pipe probe;
  if (probe.fds[0] < 0) return "pipe2 failed";
  // Assigning registers the descriptor with the io_context's reactor; with Asio's epoll reactor
  // that is an EPOLL_CTL_ADD to its set (and the reactor becomes part of io_context::poll).
  asio::posix::stream_descriptor registered(io_);
  boost::system::error_code ec;
  registered.assign(probe.fds[0], ec);
  if (ec) return "cannot register a probe descriptor: " + ec.message();
  const std::vector<int> sets = epoll_sets_watching(probe.fds[0]);
  std::string reason;
  if (sets.size() != 1) {
    reason = sets.empty() ? "no epoll set of the process lists a descriptor registered with the io_context"
                          : "several epoll sets list the io_context's probe descriptor";
  } else if (!add_level_triggered(epoll_fd_, sets.front(), kIoContextToken)) {
    reason = std::string("epoll_ctl(io_context reactor) failed: ") + std::strerror(errno);
  } else {
    // The check: a byte on the probe makes the io_context's descriptor report in this set.
    const char byte = 0;
    epoll_event ev{};
    bool reported = false;
    if (::write(probe.fds[1], &byte, 1) == 1) {
      const int n = ::epoll_wait(epoll_fd_, &ev, 1, 0);
      reported = n == 1 && ev.data.u64 == kIoContextToken;
    }
    if (!reported) {
      reason = "the io_context's epoll set did not report its probe descriptor";
      ::epoll_ctl(epoll_fd_, EPOLL_CTL_DEL, sets.front(), &ev);
    }
  }
  // Deregister before the pipe closes (the io_context's reactor removes it from its set).
  registered.release();
  return reason;
}

void EdgePoller::start_portable() {
  in_io_context_.emplace(io_);
  in_io_context_->assign(epoll_fd_);
}

void EdgePoller::arm_portable_wait() {
  // Armed only before the loop sleeps, never re-armed by its own handler: a nested epoll set
  // that holds ready events is reported by every poll of the reactor (the kernel wakes the outer
  // set each time it scans the inner one), so an always-armed wait would keep io_context::poll
  // busy. wait() fetches the events itself; the handler only says the wait is over. Armed
  // outside io_context::run, the operation is allocated (Asio's per-thread handler cache exists
  // only inside run): one small allocation per sleep of the loop, part of this mode's cost.
  if (portable_wait_armed_) return;
  portable_wait_armed_ = true;
  in_io_context_->async_wait(asio::posix::descriptor_base::wait_read, [this](const boost::system::error_code& ec) {
    if (ec == asio::error::operation_aborted) return;  // released: the poller is going away
    if (ec) throw boost::system::system_error(ec, "waiting for the relay's epoll descriptor");
    portable_wait_armed_ = false;
  });
}

EdgePoller::~EdgePoller() {
  if (in_io_context_) in_io_context_->release();  // cancels the wait; the descriptor is ours
  ::close(wake_fd_);
  ::close(epoll_fd_);
}

bool EdgePoller::watch(int fd, std::uint64_t token) {
  epoll_event ev{};
  ev.events = EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET;
  ev.data.u64 = token;
  return ::epoll_ctl(epoll_fd_, EPOLL_CTL_ADD, fd, &ev) == 0;
}

void EdgePoller::unwatch(int fd) {
  epoll_event ev{};  // ignored by EPOLL_CTL_DEL; kernels before 2.6.9 wanted it non-null
  ::epoll_ctl(epoll_fd_, EPOLL_CTL_DEL, fd, &ev);
}

void EdgePoller::wake() {
  const std::uint64_t one = 1;
  // EAGAIN only when the counter is saturated, which still means "awake".
  [[maybe_unused]] const ssize_t n = ::write(wake_fd_, &one, sizeof(one));
}

int EdgePoller::fetch(int timeout_ms) {
  if (nested_) return ::epoll_wait(epoll_fd_, events_.data(), kMaxEvents, timeout_ms);
  // Portable: the io_context's own events are invisible here, so it is polled once per call.
  io_due_ = true;
  int n = ::epoll_wait(epoll_fd_, events_.data(), kMaxEvents, 0);
  if (n != 0 || timeout_ms == 0) return n;
  // Nothing ready: sleep in the io_context until its own work or this set (its pending wait). An
  // event after the epoll_wait above is a new wake-up of the reactor's set, so it is not missed.
  arm_portable_wait();
  if (timeout_ms < 0) {
    io_.run_one();
  } else {
    io_.run_one_for(std::chrono::milliseconds(timeout_ms));
  }
  if (io_.stopped()) return 0;
  return ::epoll_wait(epoll_fd_, events_.data(), kMaxEvents, 0);
}

std::span<const epoll_event> EdgePoller::wait(int timeout_ms) {
  // Handlers first when they are due: a blocking wait would otherwise sleep on them.
  if (io_due_) {
    io_due_ = false;
    io_.poll();
    if (io_.stopped()) return {};
  }
  const int n = fetch(timeout_ms);
  if (n < 0) return {};  // EINTR: the caller loops
  int relay = 0;
  for (int i = 0; i < n; ++i) {
    const std::uint64_t token = events_[i].data.u64;
    if (token == kWakeToken) {
      std::uint64_t count;
      [[maybe_unused]] const ssize_t r = ::read(wake_fd_, &count, sizeof(count));
      io_due_ = true;
    } else if (token == kIoContextToken) {
      io_due_ = true;
    } else {
      events_[relay++] = events_[i];
    }
  }
  // Accepts, connects, timers and health messages before the relay events: a session they
  // close is still alive (its worker retires it only after the batch).
  if (io_due_) {
    io_due_ = false;
    io_.poll();
  }
  return {events_.data(), static_cast<std::size_t>(relay)};
}

}  // namespace pgha::proxy
