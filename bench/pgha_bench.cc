// pgha_bench: micro benchmarks of pgha's own code.
//  - Relay: a ProxyService started in-process (config built in code, 2 workers, no checks, no
//    admin) in front of a loopback backend; a blocking client on the benchmark thread.
//    RoundTrip: ~100 B request, ~100 B echo reply (ns per round trip; two forwarded messages).
//    BulkDownload: a backend streaming 64 KiB chunks to the client through the proxy (bytes/s),
//    the COPY TO STDOUT direction. Both also run direct (proxied:0) as the kernel's own cost.
//    Counter allocs_per_msg: heap allocations by any thread of the process while the measured
//    loop runs, per forwarded message (round trip: request and reply; bulk: per 64 KiB chunk
//    the client received). The steady-state target is 0.
//  - ServerPool::pick with leastconn over 3 and 100 servers.
//  - health::judge_http_reply on a Patroni-like /primary reply.
// Backends and the client use plain POSIX sockets and never allocate in the loop, so every
// counted allocation is pgha's (or Asio's on pgha's behalf).
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <malloc.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <mutex>
#include <stdexcept>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include <benchmark/benchmark.h>
#include <spdlog/spdlog.h>

#include "bench/alloc_counter.h"
#include "health/http_reply.h"
#include "proxy/proxy_service.h"
#include "proxy/server_pool.h"
#include "version/pgha_version.h"

namespace pgha::bench {
namespace {

using namespace std::chrono_literals;

constexpr std::size_t kSmallMessage = 100;
constexpr std::size_t kBulkChunk = 64 * 1024;
constexpr int kWarmUpRounds = 1000;

[[noreturn]] void fail(const char* what) { throw std::runtime_error(std::string(what) + ": " + std::strerror(errno)); }

void write_all(int fd, const char* data, std::size_t size) {
  while (size > 0) {
    const ssize_t n = ::send(fd, data, size, MSG_NOSIGNAL);
    if (n <= 0) {
      if (n < 0 && errno == EINTR) continue;
      fail("send");
    }
    data += n;
    size -= static_cast<std::size_t>(n);
  }
}

// Returns false on EOF or error before `size` bytes.
bool read_all(int fd, char* data, std::size_t size) {
  while (size > 0) {
    const ssize_t n = ::recv(fd, data, size, 0);
    if (n <= 0) {
      if (n < 0 && errno == EINTR) continue;
      return false;
    }
    data += n;
    size -= static_cast<std::size_t>(n);
  }
  return true;
}

int connect_to(std::uint16_t port) {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) fail("socket");
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(port);
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) fail("connect");
  int one = 1;
  ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  return fd;
}

// A loopback backend, one blocking thread per connection: kEcho returns every byte, kSource
// streams kBulkChunk-sized writes until the peer goes away.
class Backend {
 public:
  enum class Mode { kEcho, kSource, kManyEcho };
  explicit Backend(Mode mode) : mode_(mode) {
    listen_fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
    if (listen_fd_ < 0) fail("socket");
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (::bind(listen_fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) fail("bind");
    if (::listen(listen_fd_, 64) != 0) fail("listen");
    socklen_t len = sizeof addr;
    ::getsockname(listen_fd_, reinterpret_cast<sockaddr*>(&addr), &len);
    port_ = ntohs(addr.sin_port);
    acceptor_ = std::thread([this] { mode_ == Mode::kManyEcho ? epoll_echo_loop() : accept_loop(); });
  }
  ~Backend() {
    ::shutdown(listen_fd_, SHUT_RDWR);
    acceptor_.join();
    ::close(listen_fd_);
    {
      std::lock_guard lock(mutex_);
      for (int fd : connections_) ::shutdown(fd, SHUT_RDWR);
    }
    for (auto& t : workers_) t.join();
    for (int fd : connections_) ::close(fd);
  }
  std::uint16_t port() const { return port_; }

 private:
  void accept_loop() {
    for (;;) {
      const int fd = ::accept(listen_fd_, nullptr, nullptr);
      if (fd < 0) return;
      int one = 1;
      ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
      std::lock_guard lock(mutex_);
      connections_.push_back(fd);
      workers_.emplace_back([this, fd] { mode_ == Mode::kEcho ? echo(fd) : source(fd); });
    }
  }
  // kManyEcho: one thread echoes on any number of connections (for the idle-session footprint).
  void epoll_echo_loop() {
    const int ep = ::epoll_create1(0);
    epoll_event ev{};
    ev.events = EPOLLIN;
    ev.data.fd = listen_fd_;
    ::epoll_ctl(ep, EPOLL_CTL_ADD, listen_fd_, &ev);
    epoll_event events[64];
    char buffer[4096];
    for (;;) {
      const int n = ::epoll_wait(ep, events, 64, -1);
      for (int i = 0; i < n; ++i) {
        const int fd = events[i].data.fd;
        if (fd == listen_fd_) {
          if (events[i].events & (EPOLLHUP | EPOLLERR)) {
            ::close(ep);
            return;
          }
          const int c = ::accept(listen_fd_, nullptr, nullptr);
          if (c < 0) continue;
          std::lock_guard lock(mutex_);
          connections_.push_back(c);
          ev.data.fd = c;
          ::epoll_ctl(ep, EPOLL_CTL_ADD, c, &ev);
          continue;
        }
        const ssize_t got = ::recv(fd, buffer, sizeof buffer, 0);
        if (got <= 0) {
          ::epoll_ctl(ep, EPOLL_CTL_DEL, fd, nullptr);
          continue;
        }
        ::send(fd, buffer, static_cast<std::size_t>(got), MSG_NOSIGNAL);
      }
    }
  }
  static void echo(int fd) {
    char buffer[16 * 1024];
    for (;;) {
      const ssize_t n = ::recv(fd, buffer, sizeof buffer, 0);
      if (n <= 0) return;
      if (::send(fd, buffer, static_cast<std::size_t>(n), MSG_NOSIGNAL) != n) return;
    }
  }
  static void source(int fd) {
    std::vector<char> chunk(kBulkChunk, 'x');
    for (;;) {
      std::size_t off = 0;
      while (off < chunk.size()) {
        const ssize_t n = ::send(fd, chunk.data() + off, chunk.size() - off, MSG_NOSIGNAL);
        if (n <= 0) return;
        off += static_cast<std::size_t>(n);
      }
    }
  }

  Mode mode_;
  int listen_fd_ = -1;
  std::uint16_t port_ = 0;
  std::thread acceptor_;
  std::mutex mutex_;
  std::vector<int> connections_;
  std::vector<std::thread> workers_;
};

proxy::ProxyConfig relay_config(std::uint16_t backend_port) {
  proxy::ProxyConfig c;
  c.workers = 2;
  c.admin.enabled = false;
  proxy::ListenerConfig l;
  l.name = "bench";
  l.bind_host = "127.0.0.1";
  l.bind_port = 0;
  l.balance = proxy::Balance::kFirst;
  l.timeout_connect = 1000ms;
  proxy::ServerConfig s;
  s.name = "backend";
  s.host = "127.0.0.1";
  s.port = backend_port;
  l.servers.push_back(s);
  c.listeners.push_back(std::move(l));
  return c;
}

// The backend, and a started ProxyService in front of it when `proxied`.
class Rig {
 public:
  Rig(Backend::Mode mode, bool proxied) : backend_(mode) {
    if (proxied) {
      service_ = std::make_unique<proxy::ProxyService>(relay_config(backend_.port()));
      service_->start();
    }
  }
  ~Rig() {
    if (service_) service_->stop(0ms);
  }
  std::size_t session_count() const { return service_ ? service_->session_count() : 0; }
  std::uint16_t client_port() const {
    return service_ ? service_->listener_endpoint(0).port() : backend_.port();
  }

 private:
  Backend backend_;
  std::unique_ptr<proxy::ProxyService> service_;
};

void report_allocations(benchmark::State& state, std::uint64_t allocations, double messages) {
  state.counters["allocs_per_msg"] = benchmark::Counter(messages > 0 ? static_cast<double>(allocations) / messages : 0);
  state.counters["allocs"] = benchmark::Counter(static_cast<double>(allocations));
}

void BM_RelayRoundTrip(benchmark::State& state) {
  const bool proxied = state.range(0) != 0;
  Rig rig(Backend::Mode::kEcho, proxied);
  const int fd = connect_to(rig.client_port());
  char request[kSmallMessage];
  char reply[kSmallMessage];
  std::memset(request, 'q', sizeof request);
  for (int i = 0; i < kWarmUpRounds; ++i) {  // fill the pools, connect, settle
    write_all(fd, request, sizeof request);
    if (!read_all(fd, reply, sizeof reply)) fail("warm-up read");
  }
  AllocCounter::start();
  for (auto _ : state) {
    write_all(fd, request, sizeof request);
    if (!read_all(fd, reply, sizeof reply)) {
      state.SkipWithError("short read");
      break;
    }
  }
  const std::uint64_t allocations = AllocCounter::stop();
  report_allocations(state, allocations, 2.0 * static_cast<double>(state.iterations()));
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * 2 * kSmallMessage));
  ::close(fd);
}
BENCHMARK(BM_RelayRoundTrip)->ArgName("proxied")->Arg(1)->Arg(0)->UseRealTime();

void BM_RelayBulkDownload(benchmark::State& state) {
  const bool proxied = state.range(0) != 0;
  Rig rig(Backend::Mode::kSource, proxied);
  const int fd = connect_to(rig.client_port());
  std::vector<char> chunk(kBulkChunk);
  for (int i = 0; i < 64; ++i) {
    if (!read_all(fd, chunk.data(), chunk.size())) fail("warm-up read");
  }
  AllocCounter::start();
  for (auto _ : state) {
    if (!read_all(fd, chunk.data(), chunk.size())) {
      state.SkipWithError("short read");
      break;
    }
  }
  const std::uint64_t allocations = AllocCounter::stop();
  report_allocations(state, allocations, static_cast<double>(state.iterations()));
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * kBulkChunk));
  ::close(fd);
}
BENCHMARK(BM_RelayBulkDownload)->ArgName("proxied")->Arg(1)->Arg(0)->UseRealTime();

// Idle footprint: N sessions opened through the proxy, one small exchange each, then held.
// heap_bytes_per_session: glibc's in-use heap (mallinfo2, all arenas, malloc headers included)
// grown per session; live_allocs_per_session: allocations minus frees per session. The proxy's
// RSS per idle session (run-e2e) is this plus page granularity and the client/backend ends,
// which here live in the same process: they allocate nothing (plain fds), so the delta is
// the proxy's. PGHA_BENCH_ALLOC_TRACE=100 with sessions:1 prints what one session allocates.
void BM_IdleSessions(benchmark::State& state) {
  const int sessions = static_cast<int>(state.range(0));
  Rig rig(Backend::Mode::kManyEcho, /*proxied=*/true);
  std::vector<int> clients;
  clients.reserve(static_cast<std::size_t>(sessions) + 1);
  char ping[5] = {'p', 'i', 'n', 'g', '\n'};
  char pong[5];
  auto open_one = [&] {
    const int fd = connect_to(rig.client_port());
    write_all(fd, ping, sizeof ping);
    if (!read_all(fd, pong, sizeof pong)) fail("idle exchange");
    clients.push_back(fd);
  };
  open_one();  // warm-up: first session's lazy set-up (reactor, pools) is not per session
  std::this_thread::sleep_for(100ms);
  for (auto _ : state) {
    const auto before = ::mallinfo2();
    AllocCounter::start();
    for (int i = 0; i < sessions; ++i) open_one();
    std::this_thread::sleep_for(200ms);  // let both pumps of the last sessions park
    const std::uint64_t allocations = AllocCounter::stop();
    const std::uint64_t frees = AllocCounter::frees();
    const auto after = ::mallinfo2();
    const double grown = static_cast<double>(after.uordblks + after.hblkhd) - static_cast<double>(before.uordblks + before.hblkhd);
    state.counters["heap_bytes_per_session"] = benchmark::Counter(grown / sessions);
    state.counters["live_allocs_per_session"] =
        benchmark::Counter((static_cast<double>(allocations) - static_cast<double>(frees)) / sessions);
    state.counters["allocs_per_session_setup"] = benchmark::Counter(static_cast<double>(allocations) / sessions);
    state.counters["proxy_sessions"] = benchmark::Counter(static_cast<double>(rig.session_count()));
  }
  for (int fd : clients) ::close(fd);
}
BENCHMARK(BM_IdleSessions)->ArgName("sessions")->Arg(1)->Arg(1000)->Iterations(1)->UseRealTime()->Unit(benchmark::kMillisecond);

void BM_PickLeastConn(benchmark::State& state) {
  const int servers = static_cast<int>(state.range(0));
  proxy::ListenerConfig listener;
  listener.name = "read";
  listener.balance = proxy::Balance::kLeastConn;
  std::vector<boost::asio::ip::tcp::endpoint> endpoints;
  for (int i = 0; i < servers; ++i) {
    proxy::ServerConfig s;
    s.name = std::to_string(i);
    s.name.insert(0, 1, 's');
    s.host = "127.0.0.1";
    s.port = static_cast<std::uint16_t>(20000 + i);
    listener.servers.push_back(s);
    endpoints.emplace_back(boost::asio::ip::make_address_v4("127.0.0.1"), s.port);
  }
  proxy::ServerPool pool(listener, endpoints);
  std::vector<std::uint8_t> up(static_cast<std::size_t>(servers), 1);
  // Uneven load, as after a while in production: server i holds i % 7 sessions.
  for (int i = 0; i < servers; ++i) {
    for (int k = 0; k < i % 7; ++k) pool.acquire(i);
  }
  AllocCounter::start();
  for (auto _ : state) benchmark::DoNotOptimize(pool.pick(up));
  report_allocations(state, AllocCounter::stop(), static_cast<double>(state.iterations()));
}
BENCHMARK(BM_PickLeastConn)->ArgName("servers")->Arg(3)->Arg(100);

// What Patroni 3.0 answers to GET /primary on the leader (headers and JSON body).
constexpr std::string_view kPatroniReply =
    "HTTP/1.0 200 OK\r\n"
    "Server: BaseHTTP/0.6 Python/3.11.2\r\n"
    "Date: Sun, 01 Nov 2026 10:00:00 GMT\r\n"
    "Content-Type: application/json\r\n"
    "\r\n"
    "{\"state\": \"running\", \"postmaster_start_time\": \"2026-11-01 09:58:01.123456+00:00\", "
    "\"role\": \"master\", \"server_version\": 150018, \"xlog\": {\"location\": 67109672}, "
    "\"timeline\": 1, \"replication\": [{\"usename\": \"replicator\", \"application_name\": "
    "\"postgresql_2\", \"client_addr\": \"127.0.0.1\", \"state\": \"streaming\", \"sync_state\": "
    "\"async\", \"sync_priority\": 0}], \"dcs_last_seen\": 1793527200, \"database_system_identifier\": "
    "\"7300000000000000000\", \"patroni\": {\"version\": \"3.0.2\", \"scope\": \"pg-cluster\"}}";

void BM_JudgeHttpReply(benchmark::State& state) {
  AllocCounter::start();
  for (auto _ : state) {
    auto verdict = health::judge_http_reply(kPatroniReply, /*complete=*/true, 200);
    benchmark::DoNotOptimize(verdict);
  }
  report_allocations(state, AllocCounter::stop(), static_cast<double>(state.iterations()));
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * kPatroniReply.size()));
}
BENCHMARK(BM_JudgeHttpReply);

}  // namespace
}  // namespace pgha::bench

int main(int argc, char** argv) {
  spdlog::set_level(spdlog::level::warn);
  for (int i = 1; i < argc; ++i) {
    if (std::string_view(argv[i]) == "--version") {
      std::printf("%s\n", pgha::version_line("pgha_bench").c_str());
      return 0;
    }
  }
  benchmark::Initialize(&argc, argv);  // --help: Google Benchmark's usage, exit 0
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 2;
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
