#include "service_notify/service_notifier.h"

#include <errno.h>
#include <stddef.h>
#include <time.h>
#include <unistd.h>

#include <charconv>
#include <cstdlib>
#include <cstring>
#include <limits>

namespace pgha::service_notify {

namespace {

// A STATUS= value is one line: line breaks in it would start new assignments.
std::string one_line(std::string_view text) {
  std::string line(text);
  for (char& c : line) {
    if (c == '\n' || c == '\r') c = ' ';
  }
  return line;
}

std::string with_status(std::string message, std::string_view status) {
  if (!status.empty()) message += "\nSTATUS=" + one_line(status);
  return message;
}

}  // namespace

std::optional<std::chrono::microseconds> watchdog_interval_from(const char* usec, const char* pid, long self,
                                                                std::string* why) {
  auto say = [why](std::string text) {
    if (why) *why = std::move(text);
    return std::nullopt;
  };
  if (!usec || !*usec) return std::nullopt;
  const std::string_view text(usec);
  unsigned long long value = 0;
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (ec != std::errc() || end != text.data() + text.size() || value == 0 ||
      value > static_cast<unsigned long long>(std::numeric_limits<std::chrono::microseconds::rep>::max())) {
    return say("WATCHDOG_USEC='" + std::string(text) + "' is not a positive number of microseconds");
  }
  if (pid && *pid) {
    const std::string_view pid_text(pid);
    long owner = 0;
    const auto [pid_end, pid_ec] = std::from_chars(pid_text.data(), pid_text.data() + pid_text.size(), owner);
    if (pid_ec != std::errc() || pid_end != pid_text.data() + pid_text.size() || owner <= 0) {
      return say("WATCHDOG_PID='" + std::string(pid_text) + "' is not a process id");
    }
    if (owner != self) return std::nullopt;  // the watchdog is another process's
  }
  return std::chrono::microseconds(static_cast<std::chrono::microseconds::rep>(value));
}

std::uint64_t monotonic_usec() {
  timespec now{};
  ::clock_gettime(CLOCK_MONOTONIC, &now);
  return static_cast<std::uint64_t>(now.tv_sec) * 1'000'000u + static_cast<std::uint64_t>(now.tv_nsec) / 1000u;
}

ServiceNotifier ServiceNotifier::from_environment(ErrorLog log_error) {
  const char* socket = std::getenv("NOTIFY_SOCKET");
  std::string why;
  const auto watchdog = watchdog_interval_from(std::getenv("WATCHDOG_USEC"), std::getenv("WATCHDOG_PID"),
                                               static_cast<long>(::getpid()), &why);
  if (!why.empty() && log_error) log_error("service manager watchdog ignored: " + why);
  ServiceNotifier notifier(socket ? socket : "", watchdog, std::move(log_error));
  ::unsetenv("NOTIFY_SOCKET");
  ::unsetenv("WATCHDOG_USEC");
  ::unsetenv("WATCHDOG_PID");
  return notifier;
}

ServiceNotifier::ServiceNotifier(const std::string& socket, std::optional<std::chrono::microseconds> watchdog,
                                 ErrorLog log_error)
    : log_error_(std::move(log_error)) {
  if (socket.empty()) return;  // not run by a service manager: no watchdog either
  if (socket[0] != '/' && socket[0] != '@') {
    if (log_error_) log_error_("NOTIFY_SOCKET='" + socket + "' is neither a path nor an abstract name ('@...'): not notifying");
    return;
  }
  if (socket.size() >= sizeof(address_.sun_path)) {
    if (log_error_) log_error_("NOTIFY_SOCKET='" + socket + "' is too long for a unix socket address: not notifying");
    return;
  }
  address_.sun_family = AF_UNIX;
  std::memcpy(address_.sun_path, socket.data(), socket.size());
  // An abstract name has a NUL for its '@' and no terminating NUL: its length is the address's.
  if (socket[0] == '@') address_.sun_path[0] = '\0';
  address_length_ = static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + socket.size() + (socket[0] == '@' ? 0 : 1));
  fd_ = ::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  if (fd_ < 0) {
    if (log_error_) log_error_(std::string("cannot open a socket for NOTIFY_SOCKET: ") + std::strerror(errno));
    return;
  }
  watchdog_ = watchdog;
}

ServiceNotifier::ServiceNotifier(ServiceNotifier&& other) noexcept
    : fd_(other.fd_),
      address_(other.address_),
      address_length_(other.address_length_),
      watchdog_(other.watchdog_),
      log_error_(std::move(other.log_error_)),
      failing_(other.failing_.load()) {
  other.fd_ = -1;
}

ServiceNotifier::~ServiceNotifier() {
  if (fd_ >= 0) ::close(fd_);
}

bool ServiceNotifier::notify(std::string_view message) {
  if (fd_ < 0) return false;
  const ssize_t sent = ::sendto(fd_, message.data(), message.size(), MSG_NOSIGNAL | MSG_DONTWAIT,
                                reinterpret_cast<const sockaddr*>(&address_), address_length_);
  if (sent == static_cast<ssize_t>(message.size())) {
    failing_.store(false, std::memory_order_relaxed);
    return true;
  }
  const int error = sent < 0 ? errno : EMSGSIZE;
  // Once per run of failures: a service manager that went away must not fill the log.
  if (!failing_.exchange(true, std::memory_order_relaxed) && log_error_) {
    std::string first_line(message.substr(0, message.find('\n')));
    log_error_("cannot notify the service manager (" + first_line + "): " + std::strerror(error) +
               "; further failures are not logged until a notification gets through");
  }
  return false;
}

bool ServiceNotifier::ready(std::string_view status) { return notify(with_status("READY=1", status)); }

bool ServiceNotifier::reloading(std::string_view status) {
  return notify(with_status("RELOADING=1\nMONOTONIC_USEC=" + std::to_string(monotonic_usec()), status));
}

bool ServiceNotifier::stopping(std::string_view status) { return notify(with_status("STOPPING=1", status)); }

bool ServiceNotifier::status(std::string_view status) { return notify("STATUS=" + one_line(status)); }

bool ServiceNotifier::watchdog() { return notify("WATCHDOG=1"); }

}  // namespace pgha::service_notify
