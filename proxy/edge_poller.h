// EdgePoller: one worker's event loop for relayed sockets. Each relayed socket is registered
// once, edge-triggered, for reading and writing (EPOLL_CTL_ADD at session start, never
// modified; closing the socket removes it), so forwarding a message costs its recv, its send and
// a share of one epoll_wait: the floor relay's syscalls. Boost 1.74's reactor instead re-arms a
// descriptor with epoll_ctl for every wait, one extra syscall per forwarded message.
//
// The worker's io_context keeps everything else (accept, connect with its deadline, timers, the
// health messages): its reactor's epoll descriptor is nested in this set, and its ready handlers
// run (io_context::poll) only when that descriptor reports events or wake() was called. In the
// steady state of a busy relay the io_context costs nothing.
//
// Owned by its Worker; every member except wake() runs on the worker's thread.
#pragma once

#include <sys/epoll.h>

#include <array>
#include <cstdint>
#include <span>

#include <boost/asio/io_context.hpp>

namespace pgha::proxy {

class EdgePoller {
 public:
  // Throws boost::system::system_error when a descriptor cannot be created.
  explicit EdgePoller(boost::asio::io_context& io);
  ~EdgePoller();
  EdgePoller(const EdgePoller&) = delete;
  EdgePoller& operator=(const EdgePoller&) = delete;

  // Watches fd for EPOLLIN|EPOLLOUT|EPOLLRDHUP, edge-triggered, until it is closed. token comes
  // back with each event; it must not be 0 or 1 (a pointer with a tag in its low bit is fine).
  // Returns false (errno set) if the kernel refused.
  bool watch(int fd, std::uint64_t token);
  // Stops watching fd (a held client, before its session registers it for the relay).
  void unwatch(int fd);

  // Thread-safe: makes the loop run the io_context's handlers soon (use after posting to it from
  // another thread: a thread outside io_context::run does not get the io_context's own wake-up).
  void wake();

  // Makes the next wait() run the io_context's handlers first (after this thread touched an Asio
  // object outside of them, e.g. closed a socket with an operation pending).
  void io_due() { io_due_ = true; }

  // Waits for events (at most timeout_ms, -1: no limit), runs the io_context's ready handlers if
  // its reactor or wake() fired, then returns the relay sockets' events. The span is valid until
  // the next call.
  std::span<const epoll_event> wait(int timeout_ms);

 private:
  static constexpr std::uint64_t kIoContextToken = 0;
  static constexpr std::uint64_t kWakeToken = 1;
  static constexpr int kMaxEvents = 256;

  boost::asio::io_context& io_;
  int epoll_fd_ = -1;
  int wake_fd_ = -1;
  bool io_due_ = true;  // run the handlers posted before the loop started
  std::array<epoll_event, kMaxEvents> events_{};
};

}  // namespace pgha::proxy
