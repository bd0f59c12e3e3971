// ServiceNotifier: tells the service manager (systemd, Type=notify) about the process's state
// with sd_notify's datagram protocol, written by hand: one "KEY=VALUE\n..." datagram per call,
// sent to the AF_UNIX datagram socket named by $NOTIFY_SOCKET (a path, or an abstract name when
// it starts with '@'). Without $NOTIFY_SOCKET every call is a no-op.
//
// Sending never blocks (MSG_DONTWAIT, MSG_NOSIGNAL) and never throws: a datagram that cannot be
// sent (no listener, a full queue) is dropped, the first failure of a run of failures is reported
// once through the error callback, and the call returns false.
//
// from_environment() also reads the watchdog ($WATCHDOG_USEC, for this process only when
// $WATCHDOG_PID is unset or names it) and removes the variables from the environment, so that
// child processes (PostgreSQL, hooks) do not talk to the service manager in our name: call it in
// main() before any thread starts.
// Owned by main(); notify() and the helpers are thread-safe (one sendto per call).
#pragma once

#include <sys/socket.h>
#include <sys/un.h>

#include <atomic>
#include <chrono>
#include <functional>
#include <optional>
#include <string>
#include <string_view>

namespace pgha::service_notify {

class ServiceNotifier {
 public:
  using ErrorLog = std::function<void(const std::string&)>;

  // A notifier for $NOTIFY_SOCKET and $WATCHDOG_USEC/$WATCHDOG_PID, which it unsets.
  static ServiceNotifier from_environment(ErrorLog log_error);
  // A notifier for `socket` ("" disables it), with the watchdog interval given (tests).
  ServiceNotifier(const std::string& socket, std::optional<std::chrono::microseconds> watchdog, ErrorLog log_error);
  ~ServiceNotifier();
  ServiceNotifier(ServiceNotifier&& other) noexcept;
  ServiceNotifier& operator=(ServiceNotifier&&) = delete;
  ServiceNotifier(const ServiceNotifier&) = delete;
  ServiceNotifier& operator=(const ServiceNotifier&) = delete;

  // Whether datagrams go anywhere.
  bool enabled() const { return fd_ >= 0; }
  // The service manager's watchdog interval (WatchdogSec=), when it watches this process.
  std::optional<std::chrono::microseconds> watchdog_interval() const { return watchdog_; }

  // Sends `message` as one datagram. False when disabled or not sent.
  bool notify(std::string_view message);
  // The usual messages; `status` ("" for none) adds a STATUS= line.
  bool ready(std::string_view status = {});
  bool reloading(std::string_view status = {});  // with MONOTONIC_USEC, as Type=notify-reload wants
  bool stopping(std::string_view status = {});
  bool status(std::string_view status);
  bool watchdog();

 private:
  int fd_ = -1;
  sockaddr_un address_{};
  socklen_t address_length_ = 0;
  std::optional<std::chrono::microseconds> watchdog_;
  ErrorLog log_error_;
  std::atomic<bool> failing_{false};  // the last send failed (and was reported)
};

// Parses $WATCHDOG_USEC / $WATCHDOG_PID as sd_watchdog_enabled() does: the interval when `usec`
// is a positive number of microseconds and `pid` is null, empty or names `self`; nullopt
// otherwise (`why`, when given, says what was wrong with a value that was set).
std::optional<std::chrono::microseconds> watchdog_interval_from(const char* usec, const char* pid, long self,
                                                                std::string* why = nullptr);

// CLOCK_MONOTONIC in microseconds (RELOADING=1's MONOTONIC_USEC).
std::uint64_t monotonic_usec();

}  // namespace pgha::service_notify
