// NotifySocket: a service manager's end of the notification protocol, for tests: a bound AF_UNIX
// datagram socket (a file path in the temp directory, or an abstract name) whose address goes into
// $NOTIFY_SOCKET; receive() returns the datagrams a notifier sent, with a deadline.
// One test thread owns it.
#pragma once

#include <chrono>
#include <optional>
#include <string>
#include <vector>

namespace pgha::test {

class NotifySocket {
 public:
  enum class Kind { kPath, kAbstract };
  explicit NotifySocket(Kind kind = Kind::kPath);
  ~NotifySocket();
  NotifySocket(const NotifySocket&) = delete;
  NotifySocket& operator=(const NotifySocket&) = delete;

  // The value for $NOTIFY_SOCKET: "/tmp/..." or "@...".
  const std::string& address() const { return address_; }
  // The next datagram, or nullopt when none arrived within `timeout`.
  std::optional<std::string> receive(std::chrono::milliseconds timeout);
  // Datagrams until one contains `line` (a whole line, e.g. "READY=1"), which is returned; every
  // datagram received on the way is appended to `seen` when given. nullopt at the deadline.
  std::optional<std::string> receive_until(const std::string& line, std::chrono::milliseconds timeout,
                                           std::vector<std::string>* seen = nullptr);

 private:
  int fd_ = -1;
  std::string address_;
  std::string path_;  // removed at the end (kPath)
};

// Whether `datagram` has `line` as one of its lines.
bool has_line(const std::string& datagram, const std::string& line);
// The value of KEY= in `datagram` ("" when absent).
std::string value_of(const std::string& datagram, const std::string& key);

}  // namespace pgha::test
