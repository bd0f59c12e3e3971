#include "proxy/listener_handover.h"

#include <unistd.h>

namespace pgha::proxy {

ListenerHandover::~ListenerHandover() {
  for (auto& [key, fds] : fds_) {
    for (const int fd : fds) ::close(fd);
  }
}

int ListenerHandover::take(const std::string& key) {
  auto it = fds_.find(key);
  if (it == fds_.end() || it->second.empty()) return -1;
  const int fd = it->second.back();
  it->second.pop_back();
  return fd;
}

std::size_t ListenerHandover::size() const {
  std::size_t n = 0;
  for (const auto& [key, fds] : fds_) n += fds.size();
  return n;
}

}  // namespace pgha::proxy
