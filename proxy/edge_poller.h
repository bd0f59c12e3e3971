// EdgePoller: one worker's event loop for relayed sockets. Each relayed socket is registered
// once, edge-triggered, for reading and writing (EPOLL_CTL_ADD at session start, never
// modified; closing the socket removes it), so forwarding a message costs its recv, its send and
// a share of one epoll_wait: the floor relay's syscalls. Boost 1.74's reactor instead re-arms a
// descriptor with epoll_ctl for every wait, one extra syscall per forwarded message.
//
// The worker's io_context keeps everything else (accept, connect with its deadline, timers, the
// health messages). Two modes join the two:
// - nested (the default): the io_context's reactor's epoll descriptor is nested in this set, and
//   its ready handlers run (io_context::poll) only when that descriptor reports events or wake()
//   was called. One epoll_wait per batch; in the steady state of a busy relay the io_context
//   costs nothing. Asio offers no accessor for that descriptor, so it is found through public
//   means only: a probe pipe is registered with the io_context (a posix::stream_descriptor; the
//   epoll reactor adds a descriptor to its set when it is assigned), and the one epoll
//   descriptor of the process whose /proc/self/fdinfo lists the probe (number and inode) is the
//   reactor's; a probe byte must then make this set report it. Nothing depends on Asio's
//   private members, so another Boost release either keeps this working or fails the check.
// - portable: when that discovery fails (no /proc, another reactor such as io_uring, a future
//   Asio that registers lazily) or PGHA_PROXY_EVENT_LOOP=portable asks for it. This set is then
//   registered in the io_context (a stream_descriptor, its wait armed before the loop sleeps),
//   and the loop sleeps in io_context::run_one: correct with any Asio backend, at about twice
//   the syscalls of a small transaction (the io_context's non-blocking epoll_wait per batch, and
//   per sleep the wait's arming, an epoll_ctl in Boost 1.74: bench/RESULTS.md). Logged once per
//   process.
// A design that drives the relay sockets through Asio itself (async_wait per message) was
// rejected: it is the epoll_ctl-per-message cost the EdgePoller exists to avoid.
//
// Owned by its Worker; every member except wake() runs on the worker's thread.
#pragma once

#include <sys/epoll.h>

#include <array>
#include <cstdint>
#include <optional>
#include <span>
#include <string>

#include <boost/asio/io_context.hpp>
#include <boost/asio/posix/stream_descriptor.hpp>

namespace pgha::proxy {

class EdgePoller {
 public:
  enum class Mode {
    kNested,    // the io_context's reactor descriptor in this epoll set
    kPortable,  // this epoll set in the io_context, the loop sleeping in io_context::run_one
  };
  // Mode requested by the environment: kPortable when PGHA_PROXY_EVENT_LOOP=portable, nullopt
  // (nested if possible) when it is unset or "auto". Throws std::invalid_argument otherwise.
  static std::optional<Mode> mode_from_environment();

  // Nested when the reactor's descriptor is found, else portable; `forced` = kPortable skips the
  // discovery (tests, the environment), kNested throws when it fails. Throws
  // boost::system::system_error when a descriptor cannot be created or nesting fails.
  explicit EdgePoller(boost::asio::io_context& io, std::optional<Mode> forced = mode_from_environment());
  ~EdgePoller();
  EdgePoller(const EdgePoller&) = delete;
  EdgePoller& operator=(const EdgePoller&) = delete;

  Mode mode() const { return nested_ ? Mode::kNested : Mode::kPortable; }

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
  // its reactor or wake() fired (portable mode: once per call), then returns the relay sockets'
  // events. The span is valid until the next call.
  std::span<const epoll_event> wait(int timeout_ms);

 private:
  static constexpr std::uint64_t kIoContextToken = 0;
  static constexpr std::uint64_t kWakeToken = 1;
  static constexpr int kMaxEvents = 256;

  // Finds the reactor's epoll descriptor and nests it; the reason when it could not.
  std::string nest_reactor();
  void start_portable();
  void arm_portable_wait();
  int fetch(int timeout_ms);

  boost::asio::io_context& io_;
  int epoll_fd_ = -1;
  int wake_fd_ = -1;
  bool nested_ = false;
  bool io_due_ = true;  // run the handlers posted before the loop started
  // Portable mode: this epoll set as seen by the io_context (released, not closed, at the end).
  std::optional<boost::asio::posix::stream_descriptor> in_io_context_;
  bool portable_wait_armed_ = false;
  std::array<epoll_event, kMaxEvents> events_{};
};

}  // namespace pgha::proxy
