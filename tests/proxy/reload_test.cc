// Configuration reload: a new ProxyService adopts the running one's listening sockets (no
// connection refused or reset while clients keep connecting), starts from its server states,
// and the old sessions go on with the old configuration; then the pgha-proxy binary end to end
// with SIGHUP (good file, broken file).
#include "proxy/proxy_service.h"

#include <signal.h>
#include <unistd.h>

#include <atomic>
#include <filesystem>
#include <fstream>
#include <thread>

#include <gtest/gtest.h>

#include "tests/proxy/proxy_process.h"
#include "tests/proxy/service_test_configs.h"
#include "tests/support/test_servers.h"

namespace pgha::proxy {
namespace {

using namespace std::chrono_literals;
using test::eventually;
namespace asio = boost::asio;
using asio::ip::tcp;

using testing::backend;
using test::free_port;
using testing::ProxyProcess;
using test::read_file;

ProxyConfig one_listener(std::uint16_t port, std::vector<ServerConfig> servers) {
  return testing::config_with(std::move(servers), Balance::kFirst, port);
}

// A checked server whose checks may hang for 5 s (the new configuration's, in the seeding test).
ServerConfig checked(std::string name, std::uint16_t port, std::uint16_t health_port) {
  ServerConfig s = testing::checked_backend(std::move(name), port, health_port);
  s.check.timing.timeout = 5000ms;
  return s;
}

TEST(ReloadTest, TheNewServiceAdoptsTheListenersAndOldSessionsGoOn) {
  test::EchoServer old_backend;
  test::EchoServer new_backend;
  const std::uint16_t port = free_port();
  auto old_service = std::make_unique<ProxyService>(one_listener(port, {backend("a", old_backend.port())}));
  old_service->start();
  asio::io_context io;
  tcp::socket old_client = test::connect_blocking(io, port);
  ASSERT_EQ(test::round_trip(old_client, "before"), "before");

  // Clients keep connecting through the whole reload: none may be refused or reset.
  std::atomic<bool> stop{false};
  std::atomic<int> ok{0};
  std::atomic<int> failed{0};
  std::thread clients([&] {
    asio::io_context cio;
    for (int i = 0; i < 2000 && !stop.load(); ++i) {
      try {
        tcp::socket c = test::connect_blocking(cio, port);
        (test::round_trip(c, "x") == "x" ? ok : failed)++;
      } catch (const std::exception&) {
        failed++;
      }
    }
  });
  ASSERT_TRUE(eventually([&] { return ok.load() > 20; }));

  auto new_service = std::make_unique<ProxyService>(one_listener(port, {backend("a", new_backend.port())}),
                                                    old_service.get());
  ListenerHandover handover = old_service->hand_over_listeners();
  EXPECT_EQ(handover.size(), 2u) << "one listening socket per worker";
  new_service->start(&handover);
  EXPECT_EQ(handover.size(), 0u) << "the new service adopted both";
  std::thread drain([&] { old_service->stop(20000ms); });

  ASSERT_TRUE(eventually([&] { return new_backend.connections_accepted() > 20; }))
      << "new sessions follow the new configuration";
  EXPECT_EQ(test::round_trip(old_client, "during the drain"), "during the drain")
      << "a session of the old configuration goes on";
  const int old_backend_connections = old_backend.connections_accepted();
  stop = true;
  clients.join();
  EXPECT_EQ(failed.load(), 0) << ok.load() << " clients served";
  EXPECT_EQ(old_backend.connections_accepted(), old_backend_connections) << "the old service stopped accepting";

  old_client.close();
  drain.join();  // returns once the old session ended
  EXPECT_EQ(old_service->session_count(), 0u);
  tcp::socket after = test::connect_blocking(io, port);
  EXPECT_EQ(test::round_trip(after, "after"), "after");
  new_service->stop(0ms);
}

TEST(ReloadTest, ServersStartInTheStateTheyHadAndKeepTheirAdminState) {
  test::EchoServer backend;
  test::HealthEndpoint healthy(200);
  test::HealthEndpoint failing(503);
  test::SilentServer hanging;  // the new configuration's checks never answer
  ProxyConfig before = one_listener(0, {checked("up", backend.port(), healthy.port()),
                                        checked("down", backend.port(), failing.port()),
                                        checked("maint", backend.port(), healthy.port())});
  ProxyService old_service(before);
  old_service.start();
  ASSERT_TRUE(eventually([&] { return old_service.health().status(0, 0).up && old_service.health().status(0, 2).up; }));
  ASSERT_TRUE(eventually([&] { return old_service.health().status(0, 1).checked; }));
  ASSERT_TRUE(old_service.health().set_admin_state("write", "maint", HealthMonitor::AdminState::kMaint));

  ProxyConfig after = one_listener(0, {checked("up", backend.port(), hanging.port()),
                                       checked("down", backend.port(), hanging.port()),
                                       checked("maint", backend.port(), hanging.port()),
                                       checked("new", backend.port(), hanging.port())});
  ProxyService new_service(after, &old_service);
  new_service.start();
  // No check of the new service can have finished (they hang for 5 s): what shows is inherited.
  EXPECT_TRUE(new_service.health().status(0, 0).up) << "UP before the reload: UP at once";
  EXPECT_FALSE(new_service.health().status(0, 1).up) << "DOWN before the reload: DOWN";
  EXPECT_TRUE(new_service.health().status(0, 2).maintenance) << "admin maint survives a reload";
  EXPECT_FALSE(new_service.health().status(0, 3).up) << "a new server starts as configured (DOWN until checked)";
  asio::io_context io;
  tcp::socket c = test::connect_blocking(io, new_service.listener_endpoint(0).port());
  EXPECT_EQ(test::round_trip(c, "routed"), "routed") << "writes are routed without waiting for a check";
  new_service.stop(0ms);
  old_service.stop(0ms);
}

// ---------------------------------------------------------------- the binary, with SIGHUP

void write_config(const std::string& path, std::uint16_t port, std::uint16_t admin_port, std::uint16_t backend) {
  std::ofstream(path) << "workers: 1\n"
                      << "admin: { listen: 127.0.0.1:" << admin_port << " }\n"
                      << "listeners:\n"
                      << "  - name: write\n"
                      << "    bind: 127.0.0.1:" << port << "\n"
                      << "    servers: [{ name: pg, address: 127.0.0.1:" << backend << " }]\n";
}

std::string admin_status(asio::io_context& io, std::uint16_t admin_port) {
  try {
    tcp::socket s = test::connect_blocking(io, admin_port);
    const std::string request = "GET /status HTTP/1.0\r\n\r\n";
    asio::write(s, asio::buffer(request));
    return test::read_exactly(s, 1 << 16, 2000ms);  // until EOF
  } catch (const std::exception&) {
    return "";
  }
}

TEST(ReloadTest, SighupReloadsTheFileAndABrokenFileChangesNothing) {
  test::EchoServer first;
  test::EchoServer second;
  const auto dir = std::filesystem::temp_directory_path() / ("pgha-reload-" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  const std::string config = (dir / "proxy.yaml").string();
  const std::string log = (dir / "proxy.log").string();
  const std::uint16_t port = free_port();
  const std::uint16_t admin_port = free_port();
  write_config(config, port, admin_port, first.port());
  ProxyProcess proxy(config, log);
  ASSERT_GT(proxy.pid(), 0);
  asio::io_context io;
  auto served_by = [&](test::EchoServer& backend) {
    const int before = backend.connections_accepted();
    try {
      tcp::socket c = test::connect_blocking(io, port);
      return test::round_trip(c, "ping") == "ping" && backend.connections_accepted() > before;
    } catch (const std::exception&) {
      return false;
    }
  };
  ASSERT_TRUE(eventually([&] { return served_by(first); })) << read_file(log);
  tcp::socket old_client = test::connect_blocking(io, port);
  ASSERT_EQ(test::round_trip(old_client, "old"), "old");

  write_config(config, port, admin_port, second.port());
  ASSERT_EQ(::kill(proxy.pid(), SIGHUP), 0);
  EXPECT_TRUE(eventually([&] { return served_by(second); })) << read_file(log);
  EXPECT_EQ(test::round_trip(old_client, "still"), "still") << "the old session goes on";
  EXPECT_NE(admin_status(io, admin_port).find("200 OK"), std::string::npos) << "the admin API moved to the new service";

  std::ofstream(config) << "listeners:\n  - name: write\n    bind: 127.0.0.1:" << port << "\n    severs: []\n";
  ASSERT_EQ(::kill(proxy.pid(), SIGHUP), 0);
  EXPECT_TRUE(eventually([&] { return read_file(log).find("config error") != std::string::npos; })) << read_file(log);
  EXPECT_NE(read_file(log).find(config + ":4: listeners[0].severs"), std::string::npos)
      << "the error names file, line and key:\n" << read_file(log);
  EXPECT_TRUE(proxy.alive());
  EXPECT_TRUE(served_by(second)) << "the running configuration stays";

  EXPECT_EQ(proxy.terminate(), 0) << read_file(log);
  std::filesystem::remove_all(dir);
}

int open_fds_of(pid_t pid) {
  std::error_code ec;
  int n = 0;
  for (std::filesystem::directory_iterator it("/proc/" + std::to_string(pid) + "/fd", ec), end; !ec && it != end;
       it.increment(ec)) {
    ++n;
  }
  return n;
}

std::size_t count_of(const std::string& text, const std::string& what) {
  std::size_t n = 0;
  for (auto at = text.find(what); at != std::string::npos; at = text.find(what, at + what.size())) ++n;
  return n;
}

// 50 reloads, each while the previous service's check is in flight; `check_extra` adds to the
// listener's check mapping.
void expect_fifty_reloads_leak_no_descriptors(const std::string& check_extra) {
  test::EchoServer backend;
  test::SilentServer hung_health;  // accepts each check and never answers: checks are always in flight
  const auto dir = std::filesystem::temp_directory_path() / ("pgha-reload-fds-" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  const std::string config = (dir / "proxy.yaml").string();
  const std::string log = (dir / "proxy.log").string();
  const std::uint16_t port = free_port();
  std::ofstream(config) << "workers: 2\n"
                        << "admin: { listen: 127.0.0.1:" << free_port() << " }\n"
                        << "listeners:\n"
                        << "  - name: write\n"
                        << "    bind: 127.0.0.1:" << port << "\n"
                        << "    check: { type: http, path: /primary, port: " << hung_health.port()
                        << ", inter: 50ms, timeout: 10s" << check_extra << " }\n"
                        << "    servers: [{ name: pg, address: 127.0.0.1:" << backend.port() << " }]\n";
  ProxyProcess proxy(config, log);
  ASSERT_GT(proxy.pid(), 0);
  auto reload = [&](std::size_t done) {
    const int checks = hung_health.connections_accepted();
    if (::kill(proxy.pid(), SIGHUP) != 0) return false;
    // Reloaded, and the new service's check is in flight too.
    return eventually([&] { return count_of(read_file(log), "SIGHUP: reloaded") == done + 1; }) &&
           eventually([&] { return hung_health.connections_accepted() > checks; });
  };
  ASSERT_TRUE(eventually([&] { return hung_health.connections_accepted() >= 1; })) << read_file(log);
  const int baseline = open_fds_of(proxy.pid());  // one service, its check in flight
  for (std::size_t i = 0; i < 50; ++i) ASSERT_TRUE(reload(i)) << "reload " << i << "\n" << read_file(log);
  // Each retired service is freed within a second of the end of its drain.
  EXPECT_TRUE(eventually([&] { return open_fds_of(proxy.pid()) <= baseline + 4; }, 10000ms))
      << open_fds_of(proxy.pid()) << " descriptors after 50 reloads, " << baseline << " before";
  EXPECT_TRUE(proxy.alive());
  EXPECT_EQ(proxy.terminate(), 0) << read_file(log);
  std::filesystem::remove_all(dir);
}

TEST(ReloadTest, FiftyReloadsWithChecksInFlightLeakNoDescriptors) { expect_fifty_reloads_leak_no_descriptors(""); }

// Checks over TLS, each stuck in its handshake, and a TLS context built by each load.
TEST(ReloadTest, FiftyReloadsWithTlsChecksInFlightLeakNoDescriptors) {
  expect_fifty_reloads_leak_no_descriptors(", tls: { verify: none }");
}

}  // namespace
}  // namespace pgha::proxy
