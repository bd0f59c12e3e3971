// ListenerHandover: listening sockets passed from a running ProxyService to the one replacing
// it on a configuration reload, keyed by bind address ("HOST:PORT"). The successor adopts the
// very sockets the kernel queues connections on, so a reload refuses and resets nothing; what it
// does not adopt is closed with this object (the predecessor keeps its own descriptors until it
// stops accepting).
// Not thread-safe: filled and consumed by the thread that performs the reload.
#pragma once

#include <map>
#include <string>
#include <vector>

namespace pgha::proxy {

class ListenerHandover {
 public:
  ListenerHandover() = default;
  ~ListenerHandover();
  ListenerHandover(ListenerHandover&& other) noexcept = default;
  ListenerHandover& operator=(ListenerHandover&&) = delete;
  ListenerHandover(const ListenerHandover&) = delete;
  ListenerHandover& operator=(const ListenerHandover&) = delete;

  static std::string key(const std::string& host, unsigned port) { return host + ":" + std::to_string(port); }

  // Takes ownership of fd.
  void add(const std::string& key, int fd) { fds_[key].push_back(fd); }
  // A socket listening on key, now owned by the caller; -1 when none is left.
  int take(const std::string& key);
  std::size_t size() const;

 private:
  std::map<std::string, std::vector<int>> fds_;
};

}  // namespace pgha::proxy
