#include "tests/support/notify_socket.h"

#include <poll.h>
#include <stddef.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <atomic>
#include <cstring>
#include <filesystem>
#include <sstream>
#include <stdexcept>

namespace pgha::test {

namespace {
std::string unique_name() {
  static std::atomic<int> counter{0};
  return "pgha-notify-" + std::to_string(::getpid()) + "-" + std::to_string(counter++);
}
}  // namespace

NotifySocket::NotifySocket(Kind kind) {
  fd_ = ::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (fd_ < 0) throw std::runtime_error(std::string("socket: ") + std::strerror(errno));
  sockaddr_un address{};
  address.sun_family = AF_UNIX;
  socklen_t length = 0;
  if (kind == Kind::kPath) {
    path_ = (std::filesystem::temp_directory_path() / (unique_name() + ".sock")).string();
    std::filesystem::remove(path_);
    address_ = path_;
    std::memcpy(address.sun_path, path_.c_str(), path_.size() + 1);
    length = static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + path_.size() + 1);
  } else {
    const std::string name = unique_name();
    address_ = "@" + name;
    std::memcpy(address.sun_path + 1, name.data(), name.size());
    length = static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + 1 + name.size());
  }
  if (::bind(fd_, reinterpret_cast<const sockaddr*>(&address), length) != 0) {
    const int error = errno;
    ::close(fd_);
    throw std::runtime_error("bind " + address_ + ": " + std::strerror(error));
  }
}

NotifySocket::~NotifySocket() {
  ::close(fd_);
  if (!path_.empty()) {
    std::error_code ec;
    std::filesystem::remove(path_, ec);
  }
}

std::optional<std::string> NotifySocket::receive(std::chrono::milliseconds timeout) {
  pollfd p{fd_, POLLIN, 0};
  if (::poll(&p, 1, static_cast<int>(timeout.count())) != 1) return std::nullopt;
  char buffer[4096];
  const ssize_t n = ::recv(fd_, buffer, sizeof buffer, MSG_DONTWAIT);
  if (n < 0) return std::nullopt;
  return std::string(buffer, static_cast<std::size_t>(n));
}

std::optional<std::string> NotifySocket::receive_until(const std::string& line, std::chrono::milliseconds timeout,
                                                       std::vector<std::string>* seen) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  for (;;) {
    const auto left = std::chrono::ceil<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) return std::nullopt;
    std::optional<std::string> datagram = receive(left);
    if (!datagram) return std::nullopt;
    if (seen) seen->push_back(*datagram);
    if (has_line(*datagram, line)) return datagram;
  }
}

bool has_line(const std::string& datagram, const std::string& line) {
  std::istringstream in(datagram);
  for (std::string l; std::getline(in, l);) {
    if (l == line) return true;
  }
  return false;
}

std::string value_of(const std::string& datagram, const std::string& key) {
  std::istringstream in(datagram);
  for (std::string l; std::getline(in, l);) {
    if (l.rfind(key + "=", 0) == 0) return l.substr(key.size() + 1);
  }
  return "";
}

}  // namespace pgha::test
