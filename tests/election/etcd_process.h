// Test helpers for election tests: a single-member etcd 3.4 run as a child process in a temp
// dir on free loopback ports (never the shared cluster's 2379-2580), plain or serving https, and
// free_loopback_port(). Test thread only.
#pragma once

#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <unistd.h>

#include <arpa/inet.h>

#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <optional>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

namespace pgha::test {

// A port nothing listens on right now: bound to port 0, read back, released.
inline std::uint16_t free_loopback_port() {
  for (;;) {
    const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    address.sin_port = 0;
    socklen_t length = sizeof address;
    if (::bind(fd, reinterpret_cast<sockaddr*>(&address), sizeof address) != 0 ||
        ::getsockname(fd, reinterpret_cast<sockaddr*>(&address), &length) != 0) {
      ::close(fd);
      throw std::runtime_error("cannot bind a loopback port");
    }
    ::close(fd);
    const std::uint16_t port = ntohs(address.sin_port);
    if (port < 2379 || port > 2580) return port;
  }
}

// One blocking HTTP GET on loopback with a deadline on connect and reads; "" on any failure.
inline std::string http_get_loopback(std::uint16_t port, const std::string& path, std::chrono::milliseconds timeout) {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  timeval tv{};
  tv.tv_sec = timeout.count() / 1000;
  tv.tv_usec = (timeout.count() % 1000) * 1000;
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  ::setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  address.sin_port = htons(port);
  std::string reply;
  if (::connect(fd, reinterpret_cast<sockaddr*>(&address), sizeof address) == 0) {
    const std::string request = "GET " + path + " HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n";
    if (::send(fd, request.data(), request.size(), MSG_NOSIGNAL) == static_cast<ssize_t>(request.size())) {
      char buffer[4096];
      for (ssize_t n; (n = ::recv(fd, buffer, sizeof buffer, 0)) > 0;) reply.append(buffer, static_cast<std::size_t>(n));
    }
  }
  ::close(fd);
  return reply;
}

// etcd's client port over https: its certificate and key and, when client_ca is set, a client
// certificate signed by that CA required of every client.
struct EtcdServerTls {
  std::string cert;
  std::string key;
  std::string client_ca;
};

class EtcdProcess {
 public:
  // With `tls`, endpoint() is https and plain_endpoint() a second, plain http listener of the same
  // etcd for the test's own set-up (readiness, etcdctl).
  explicit EtcdProcess(std::optional<EtcdServerTls> tls = std::nullopt)
      : client_port_(free_loopback_port()),
        peer_port_(free_loopback_port()),
        plain_port_(tls ? free_loopback_port() : client_port_),
        tls_(std::move(tls)) {
    char pattern[] = "/tmp/pgha-etcd-test-XXXXXX";
    if (::mkdtemp(pattern) == nullptr) throw std::runtime_error("mkdtemp failed");
    dir_ = pattern;
    start();
  }
  ~EtcdProcess() {
    kill();
    std::error_code ec;
    std::filesystem::remove_all(dir_, ec);
  }
  EtcdProcess(const EtcdProcess&) = delete;
  EtcdProcess& operator=(const EtcdProcess&) = delete;

  std::uint16_t client_port() const { return client_port_; }
  std::string endpoint() const {
    return (tls_ ? "https://127.0.0.1:" : "http://127.0.0.1:") + std::to_string(client_port_);
  }
  std::string plain_endpoint() const { return "http://127.0.0.1:" + std::to_string(plain_port_); }
  const std::string& dir() const { return dir_; }

  // Starts etcd (again, on the same data and ports) and waits until GET /health says true.
  void start() {
    const std::string client_url = endpoint();
    const std::string peer_url = "http://127.0.0.1:" + std::to_string(peer_port_);
    std::vector<std::string> args = {"etcd",
                                     "--name", "t",
                                     "--data-dir", dir_ + "/data",
                                     "--listen-client-urls", tls_ ? client_url + "," + plain_endpoint() : client_url,
                                     "--advertise-client-urls", client_url,
                                     "--listen-peer-urls", peer_url,
                                     "--initial-advertise-peer-urls", peer_url,
                                     "--initial-cluster", "t=" + peer_url};
    if (tls_) {
      args.insert(args.end(), {"--cert-file", tls_->cert, "--key-file", tls_->key});
      if (!tls_->client_ca.empty()) args.insert(args.end(), {"--trusted-ca-file", tls_->client_ca, "--client-cert-auth"});
    }
    const std::string log_path = dir_ + "/etcd.log";
    pid_ = ::fork();
    if (pid_ < 0) throw std::runtime_error("fork failed");
    if (pid_ == 0) {
      const int log = ::open(log_path.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
      ::dup2(log, 1);
      ::dup2(log, 2);
      std::vector<char*> argv;
      for (auto& arg : args) argv.push_back(arg.data());
      argv.push_back(nullptr);
      ::execvp("etcd", argv.data());
      ::_exit(127);
    }
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds{20};
    while (std::chrono::steady_clock::now() < deadline) {
      const std::string reply = http_get_loopback(plain_port_, "/health", std::chrono::milliseconds{500});
      if (reply.find("\"health\":\"true\"") != std::string::npos) return;
      int status = 0;
      if (::waitpid(pid_, &status, WNOHANG) == pid_) {
        pid_ = -1;
        throw std::runtime_error("etcd exited at start; see " + log_path);
      }
      std::this_thread::sleep_for(std::chrono::milliseconds{50});
    }
    kill();
    throw std::runtime_error("etcd not healthy within 20 s; see " + log_path);
  }

  // Adds the user root with `password` (role root) and turns authentication on, with etcdctl
  // through plain_endpoint(); false when a step fails.
  bool enable_root_auth(const std::string& password) const {
    const std::string etcdctl = "ETCDCTL_API=3 etcdctl --endpoints=" + plain_endpoint() + " >/dev/null 2>&1 ";
    for (const std::string& step : {"user add root:" + password, std::string("user grant-role root root"),
                                    std::string("auth enable")}) {
      if (std::system((etcdctl + step).c_str()) != 0) return false;
    }
    return true;
  }

  void kill() {
    if (pid_ <= 0) return;
    ::kill(pid_, SIGKILL);
    int status = 0;
    ::waitpid(pid_, &status, 0);
    pid_ = -1;
  }

 private:
  std::uint16_t client_port_;
  std::uint16_t peer_port_;
  std::uint16_t plain_port_;
  std::optional<EtcdServerTls> tls_;
  std::string dir_;
  pid_t pid_ = -1;
};

}  // namespace pgha::test
