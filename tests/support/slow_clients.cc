#include "tests/support/slow_clients.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <stdexcept>

namespace pgha::test {
namespace {

int connect_from(const std::string& source_address, std::uint16_t port) {
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) throw std::runtime_error(std::string("socket: ") + std::strerror(errno));
  sockaddr_in source{};
  source.sin_family = AF_INET;
  ::inet_pton(AF_INET, source_address.c_str(), &source.sin_addr);
  sockaddr_in target{};
  target.sin_family = AF_INET;
  target.sin_port = htons(port);
  ::inet_pton(AF_INET, "127.0.0.1", &target.sin_addr);
  if (::bind(fd, reinterpret_cast<sockaddr*>(&source), sizeof source) != 0 ||
      ::connect(fd, reinterpret_cast<sockaddr*>(&target), sizeof target) != 0) {
    const int error = errno;
    ::close(fd);
    throw std::runtime_error("connect from " + source_address + ": " + std::strerror(error));
  }
  return fd;
}

// True when the server has closed `fd` (EOF or reset).
bool server_closed(int fd) {
  pollfd p{fd, POLLIN | POLLRDHUP, 0};
  if (::poll(&p, 1, 0) != 1) return false;
  char c;
  const ssize_t n = ::recv(fd, &c, 1, MSG_DONTWAIT);
  return n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR);
}

}  // namespace

SlowClients::SlowClients(std::uint16_t port, int count, std::string prefix, std::chrono::milliseconds interval,
                         const std::string& source_address)
    : interval_(interval) {
  for (int i = 0; i < count; ++i) {
    const int fd = connect_from(source_address, port);
    fds_.push_back(fd);
    if (::send(fd, prefix.data(), prefix.size(), MSG_NOSIGNAL) != static_cast<ssize_t>(prefix.size())) {
      throw std::runtime_error("slow client: sending the prefix failed");
    }
  }
  thread_ = std::thread([this] { drip(); });
}

SlowClients::~SlowClients() {
  {
    std::lock_guard lock(mutex_);
    stop_ = true;
  }
  wake_.notify_all();
  if (thread_.joinable()) thread_.join();
  for (int fd : fds_) {
    if (fd >= 0) ::close(fd);
  }
}

void SlowClients::drip() {
  std::unique_lock lock(mutex_);
  while (!wake_.wait_for(lock, interval_, [this] { return stop_; })) {
    for (int& fd : fds_) {
      if (fd < 0) continue;
      const char byte = 'a';
      const bool refused = ::send(fd, &byte, 1, MSG_NOSIGNAL | MSG_DONTWAIT) < 0 && errno != EAGAIN &&
                           errno != EWOULDBLOCK && errno != EINTR;
      if (server_closed(fd) || refused) {
        ::close(fd);
        fd = -1;
        closed_.fetch_add(1);
      }
    }
  }
}

}  // namespace pgha::test
