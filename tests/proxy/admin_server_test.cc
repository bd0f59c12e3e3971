// The admin API's guard, through real sockets: server commands need a Host header that names the
// server, no foreign Origin, the token when one is set and a loopback bind when none is; requests
// are bounded before they are read (header size, declared body size). Reads stay open. Every
// refusal leaves the server's state unchanged.
#include "proxy/admin_server.h"

#include <sys/socket.h>

#include <gtest/gtest.h>
#include <spdlog/sinks/ringbuffer_sink.h>

#include "proxy/log.h"
#include "proxy/proxy_service.h"
#include "tests/proxy/service_test_configs.h"
#include "tests/support/test_servers.h"

namespace pgha::proxy {
namespace {

using namespace std::chrono_literals;
namespace asio = boost::asio;
using asio::ip::tcp;
using testing::backend;
using testing::config_with;

constexpr const char* kToken = "t0ken-for-the-admin-api-tests";

class AdminServerTest : public ::testing::Test {
 protected:
  void start(AdminConfig admin) {
    auto config = config_with({backend("a", echo_.port())});
    config.admin = std::move(admin);
    config.admin.enabled = true;
    config.admin.bind_port = 0;
    service_ = std::make_unique<ProxyService>(std::move(config));
    service_->start();
  }
  void TearDown() override {
    if (service_) service_->stop(0ms);
    if (sink_) log().sinks().pop_back();  // no thread logs any more
  }
  void capture_log() {
    sink_ = std::make_shared<spdlog::sinks::ringbuffer_sink_mt>(64);
    log().sinks().push_back(sink_);
  }
  std::uint16_t admin_port() const { return static_cast<std::uint16_t>(service_->admin_port()); }
  std::string host() const { return "127.0.0.1:" + std::to_string(admin_port()); }
  // Sends `text` and returns the whole reply (until the server closes).
  std::string exchange(const std::string& text) {
    tcp::socket s = test::connect_blocking(io_, admin_port());
    asio::write(s, asio::buffer(text));
    return test::read_exactly(s, 1 << 20, 3000ms);
  }
  std::string command(const std::string& action, const std::string& headers) {
    return exchange("POST /servers/write/a/" + action + " HTTP/1.1\r\n" + headers + "Content-Length: 0\r\n\r\n");
  }
  std::string get(const std::string& path) {
    return exchange("GET " + path + " HTTP/1.1\r\nHost: " + host() + "\r\n\r\n");
  }
  static int status_of(const std::string& reply) {
    return reply.size() >= 12 && reply.rfind("HTTP/1.1 ", 0) == 0 ? std::stoi(reply.substr(9, 3)) : -1;
  }
  bool in_maint() const { return service_->health().status(0, 0).maintenance; }

  asio::io_context io_;
  test::EchoServer echo_;
  std::unique_ptr<ProxyService> service_;
  std::shared_ptr<spdlog::sinks::ringbuffer_sink_mt> sink_;
};

TEST_F(AdminServerTest, OnLoopbackWithoutATokenCommandsAreTaken) {
  start(AdminConfig{});
  EXPECT_EQ(status_of(command("maint", "Host: " + host() + "\r\n")), 200);
  EXPECT_TRUE(in_maint());
  EXPECT_EQ(status_of(command("ready", "Host: localhost:" + std::to_string(admin_port()) + "\r\n")), 200);
  EXPECT_FALSE(in_maint());
  EXPECT_EQ(status_of(command("maint", "")), 200) << "HTTP/1.0-style clients send no Host";
  EXPECT_EQ(status_of(get("/status")), 200);
}

TEST_F(AdminServerTest, AForeignOriginIsRefusedAndChangesNothing) {
  start(AdminConfig{});
  for (const std::string& origin : {std::string("http://evil.example"), "http://evil.example:" + std::to_string(admin_port()),
                                   std::string("null"), std::string("http://127.0.0.1:1"), "https://" + host()}) {
    const std::string reply = command("maint", "Host: " + host() + "\r\nOrigin: " + origin + "\r\n");
    EXPECT_EQ(status_of(reply), 403) << origin << "\n" << reply;
    EXPECT_FALSE(in_maint()) << origin;
  }
  EXPECT_EQ(status_of(command("maint", "Host: " + host() + "\r\nOrigin: http://" + host() + "\r\n")), 200)
      << "a page served by the admin address itself is not foreign";
  EXPECT_TRUE(in_maint());
}

TEST_F(AdminServerTest, AHostHeaderThatDoesNotNameTheServerIsRefused) {
  start(AdminConfig{});
  // DNS rebinding: a page of evil.example whose name now resolves to 127.0.0.1.
  for (const std::string& h : {"evil.example:" + std::to_string(admin_port()), std::string("evil.example"),
                              std::string("127.0.0.1:1"), std::string("[::1")}) {
    EXPECT_EQ(status_of(command("maint", "Host: " + h + "\r\n")), 403) << h;
    EXPECT_FALSE(in_maint()) << h;
  }
}

TEST_F(AdminServerTest, WithATokenCommandsNeedItAndReadsDoNot) {
  AdminConfig admin;
  admin.token = kToken;
  start(admin);
  const std::string h = "Host: " + host() + "\r\n";
  const std::string missing = command("maint", h);
  EXPECT_EQ(status_of(missing), 401) << missing;
  EXPECT_NE(missing.find("WWW-Authenticate: Bearer"), std::string::npos) << missing;
  EXPECT_EQ(status_of(command("maint", h + "Authorization: Bearer wrong-token-of-some-length\r\n")), 401);
  EXPECT_EQ(status_of(command("maint", h + "Authorization: Basic " + std::string(kToken) + "\r\n")), 401);
  EXPECT_EQ(status_of(command("maint", h + "Authorization: Bearer " + std::string(kToken) + "x\r\n")), 401);
  EXPECT_FALSE(in_maint());
  EXPECT_EQ(status_of(command("maint", h + "Authorization: Bearer " + std::string(kToken) + "\r\n")), 200);
  EXPECT_TRUE(in_maint());
  EXPECT_EQ(status_of(get("/status")), 200);
  EXPECT_EQ(status_of(get("/metrics")), 200) << "Prometheus scrapes without credentials";
}

TEST_F(AdminServerTest, WithoutATokenANonLoopbackBindRefusesCommandsAndWarns) {
  AdminConfig admin;
  admin.bind_host = "0.0.0.0";
  capture_log();
  start(admin);
  std::string logged;
  for (const auto& line : sink_->last_formatted()) logged += line;
  EXPECT_NE(logged.find("is not a loopback address"), std::string::npos) << logged;
  const std::string reply = command("maint", "Host: " + host() + "\r\n");
  EXPECT_EQ(status_of(reply), 403) << reply;
  EXPECT_FALSE(in_maint());
  EXPECT_EQ(status_of(get("/metrics")), 200);
}

TEST_F(AdminServerTest, AHugeDeclaredBodyIsRefusedFromTheHeadersAlone) {
  AdminConfig admin;
  admin.token = kToken;
  start(admin);
  tcp::socket s = test::connect_blocking(io_, admin_port());
  asio::write(s, asio::buffer("POST /servers/write/a/maint HTTP/1.1\r\nHost: " + host() +
                              "\r\nAuthorization: Bearer " + kToken + "\r\nContent-Length: 200000000\r\n\r\n"));
  // Not one byte of the body is sent: the answer must come from the headers alone.
  const std::string reply = test::read_exactly(s, 1 << 16, 3000ms);
  EXPECT_EQ(status_of(reply), 413) << reply;
  EXPECT_FALSE(in_maint());
  // The server stops reading: a client that sends the body anyway is cut off long before 200 MB.
  timeval send_timeout{5, 0};
  ::setsockopt(s.native_handle(), SOL_SOCKET, SO_SNDTIMEO, &send_timeout, sizeof send_timeout);
  const std::string chunk(1 << 20, 'x');
  std::size_t sent = 0;
  boost::system::error_code ec;
  while (!ec && sent < 200'000'000) sent += asio::write(s, asio::buffer(chunk), ec);
  EXPECT_TRUE(ec) << "the whole body was accepted";
  EXPECT_LT(sent, 64u << 20) << "bytes the server took before closing";

  const std::string chunked = exchange("POST /servers/write/a/maint HTTP/1.1\r\nHost: " + host() +
                                       "\r\nAuthorization: Bearer " + kToken +
                                       "\r\nTransfer-Encoding: chunked\r\n\r\n");
  EXPECT_EQ(status_of(chunked), 411) << chunked;
  EXPECT_FALSE(in_maint());
}

TEST_F(AdminServerTest, OversizedHeadersAreRefused) {
  AdminConfig admin;
  admin.token = kToken;
  start(admin);
  const std::string reply = exchange("POST /servers/write/a/maint HTTP/1.1\r\nHost: " + host() +
                                     "\r\nAuthorization: Bearer " + kToken + "\r\nX-Padding: " +
                                     std::string(20 * 1024, 'p') + "\r\nContent-Length: 0\r\n\r\n");
  EXPECT_EQ(status_of(reply), 431) << reply.substr(0, 200);
  EXPECT_FALSE(in_maint());
  EXPECT_EQ(status_of(get("/status")), 200) << "the server still answers";
}

}  // namespace
}  // namespace pgha::proxy
