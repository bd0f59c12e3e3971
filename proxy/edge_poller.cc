#include "proxy/edge_poller.h"

#include <sys/eventfd.h>
#include <unistd.h>

#include <cerrno>
#include <tuple>

#include <boost/asio/detail/reactor.hpp>
#include <boost/system/system_error.hpp>

#if !defined(BOOST_ASIO_HAS_EPOLL)
#error "pgha-proxy's relay needs Asio's epoll reactor (Linux)"
#endif

namespace pgha::proxy {

namespace {

// Asio 1.74 keeps its reactor's epoll descriptor private and offers no accessor. Explicit
// template instantiations are exempt from access checks ([temp.spec.general]/6), which lets this
// one place name the member; nothing else in pgha reaches into Asio's internals.
using ReactorFdMember = int boost::asio::detail::epoll_reactor::*;
struct ReactorFd {
  friend ReactorFdMember member_of(ReactorFd);
};
template <ReactorFdMember M>
struct ReactorFdAccess {
  friend ReactorFdMember member_of(ReactorFd) { return M; }
};
template struct ReactorFdAccess<&boost::asio::detail::epoll_reactor::epoll_fd_>;

[[noreturn]] void throw_errno(const char* what) {
  throw boost::system::system_error(boost::system::error_code(errno, boost::system::system_category()), what);
}

}  // namespace

EdgePoller::EdgePoller(boost::asio::io_context& io) : io_(io) {
  auto& reactor = boost::asio::use_service<boost::asio::detail::epoll_reactor>(io_);
  reactor.init_task();  // the io_context polls its reactor even before it has a socket
  const int reactor_fd = reactor.*member_of(ReactorFd{});

  // On a failure, close what was opened and throw (the destructor does not run).
  auto fail = [this](const char* what) {
    const int saved = errno;
    if (wake_fd_ >= 0) ::close(wake_fd_);
    if (epoll_fd_ >= 0) ::close(epoll_fd_);
    errno = saved;
    throw_errno(what);
  };
  epoll_fd_ = ::epoll_create1(EPOLL_CLOEXEC);
  if (epoll_fd_ < 0) fail("epoll_create1");
  wake_fd_ = ::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  if (wake_fd_ < 0) fail("eventfd");
  // Level-triggered: both stay reported until drained (io_context::poll, read of the eventfd).
  for (const auto& [fd, token, what] : {std::tuple{reactor_fd, kIoContextToken, "epoll_ctl(io_context reactor)"},
                                        std::tuple{wake_fd_, kWakeToken, "epoll_ctl(eventfd)"}}) {
    epoll_event ev{};
    ev.events = EPOLLIN;
    ev.data.u64 = token;
    if (::epoll_ctl(epoll_fd_, EPOLL_CTL_ADD, fd, &ev) != 0) fail(what);
  }
}

EdgePoller::~EdgePoller() {
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

std::span<const epoll_event> EdgePoller::wait(int timeout_ms) {
  // Handlers first when they are due: a blocking wait would otherwise sleep on them.
  if (io_due_) {
    io_due_ = false;
    io_.poll();
    if (io_.stopped()) return {};
  }
  int n = ::epoll_wait(epoll_fd_, events_.data(), kMaxEvents, timeout_ms);
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
