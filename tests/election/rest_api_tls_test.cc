// The REST API over TLS, and the clients that reach it: health endpoints over HTTPS with the test
// CA, plain HTTP to the TLS port refused, a client trusting another CA refusing the server,
// verify_client required (refused at the handshake without a certificate from cafile) and optional
// (a certificate needed for POST and PATCH only, basic auth on top), stalled handshakes that do
// not starve /liveness, a broken certificate failing start(), and HttpPeerClient / RestClient
// reaching an https api_url with the ctl settings.
#include <chrono>
#include <filesystem>
#include <mutex>
#include <string>
#include <vector>

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <httplib.h>

#include "election/peer_client.h"
#include "election/rest_api.h"
#include "election/rest_client.h"
#include "tests/support/slow_clients.h"
#include "tests/support/test_certs.h"
#include "tests/support/test_servers.h"

namespace pgha::election {
namespace {

using namespace std::chrono_literals;
using ::testing::HasSubstr;
using tls::PeerVerification;
using Clock = std::chrono::steady_clock;
namespace asio = boost::asio;
using asio::ip::tcp;

const test::TestCerts& certs() {
  static const test::TestCerts made =
      test::make_test_certs(std::filesystem::path(::testing::TempDir()) / "rest_api_tls_test");
  return made;
}

NodeStatus primary() {
  NodeStatus s;
  s.scope = "batman";
  s.name = "node1";
  s.postgres_running = true;
  s.state = "running";
  s.dcs_reachable = true;
  s.leader = "node1";
  s.holds_lock = true;
  s.lock_valid_until = Clock::now() + 1h;
  s.loop_heartbeat = Clock::now();
  return s;
}

// A RestApi over TLS on 127.0.0.1 that answers as a primary and records the POSTs it is given.
class TlsHarness {
 public:
  explicit TlsHarness(PeerVerification verify = PeerVerification::kNone, RestApiOptions options = {}) {
    options.listen = "127.0.0.1:0";
    options.tls = {certs().server_cert, certs().server_key, "", certs().ca_cert, verify};
    api_ = std::make_unique<RestApi>(
        options, [] { return std::make_shared<const NodeStatus>(primary()); },
        [this](const SwitchoverRequest& r) { return record(r); }, [this](const SwitchoverRequest& r) { return record(r); });
    api_->start();
  }
  std::uint16_t port() const { return static_cast<std::uint16_t>(api_->port()); }
  std::string api_url() const { return "https://127.0.0.1:" + std::to_string(port()) + "/patroni"; }
  std::size_t posts() {
    std::lock_guard lock(mutex_);
    return posts_;
  }

 private:
  SwitchoverResult record(const SwitchoverRequest&) {
    std::lock_guard lock(mutex_);
    ++posts_;
    return {200, "Successfully switched over"};
  }
  std::mutex mutex_;
  std::size_t posts_ = 0;
  std::unique_ptr<RestApi> api_;
};

// An HTTPS client trusting `ca`, presenting `cert`/`key` when given; deadlines on every step.
std::unique_ptr<httplib::SSLClient> client(std::uint16_t port, const std::string& ca, const std::string& cert = "",
                                           const std::string& key = "") {
  auto c = cert.empty() ? std::make_unique<httplib::SSLClient>("127.0.0.1", port)
                        : std::make_unique<httplib::SSLClient>("127.0.0.1", port, cert, key);
  c->set_ca_cert_path(ca);
  c->enable_server_certificate_verification(true);
  c->set_connection_timeout(2, 0);
  c->set_read_timeout(2, 0);
  return c;
}

int status_of(const httplib::Result& res) { return res ? res->status : -1; }

const char* const kSwitchover = R"({"leader":"node1","candidate":"node2"})";

TEST(RestApiTls, AnswersHealthChecksOverHttps) {
  TlsHarness h;
  EXPECT_EQ(status_of(client(h.port(), certs().ca_cert)->Get("/liveness")), 200);
  EXPECT_EQ(status_of(client(h.port(), certs().ca_cert)->Get("/primary")), 200);
  EXPECT_EQ(status_of(client(h.port(), certs().ca_cert)->Get("/replica")), 503);
  const httplib::Result patroni = client(h.port(), certs().ca_cert)->Get("/patroni");
  ASSERT_TRUE(patroni) << httplib::to_string(patroni.error());
  EXPECT_THAT(patroni->body, HasSubstr(R"("role":"master")"));
}

TEST(RestApiTls, PlainHttpToTheTlsPortIsRefused) {
  TlsHarness h;
  asio::io_context io;
  tcp::socket socket = test::connect_blocking(io, h.port());
  asio::write(socket, asio::buffer(std::string("GET /primary HTTP/1.0\r\n\r\n")));
  const std::string reply = test::read_exactly(socket, 4096, 3000ms);
  EXPECT_EQ(reply.substr(0, reply.find("\r\n")), "HTTP/1.1 400 Bad Request");
  EXPECT_TRUE(test::closed_by_peer(socket, 3000ms));
}

TEST(RestApiTls, AClientTrustingAnotherCaRefusesTheServer) {
  TlsHarness h;
  const httplib::Result res = client(h.port(), certs().other_ca_cert)->Get("/liveness");
  ASSERT_FALSE(res);
  EXPECT_EQ(res.error(), httplib::Error::SSLServerVerification);
}

TEST(RestApiTls, VerifyClientRequiredRefusesClientsWithoutACertificateFromCafile) {
  TlsHarness h(PeerVerification::kRequired);
  EXPECT_FALSE(client(h.port(), certs().ca_cert)->Get("/liveness")) << "no client certificate";
  EXPECT_FALSE(client(h.port(), certs().ca_cert, certs().other_server_cert, certs().other_server_key)->Get("/liveness"))
      << "a certificate from another CA";
  EXPECT_EQ(status_of(client(h.port(), certs().ca_cert, certs().client_cert, certs().client_key)->Get("/liveness")),
            200);
  EXPECT_EQ(status_of(client(h.port(), certs().ca_cert, certs().client_cert, certs().client_key)
                          ->Post("/switchover", kSwitchover, "application/json")),
            200);
  EXPECT_EQ(h.posts(), 1u);
}

TEST(RestApiTls, VerifyClientOptionalNeedsACertificateForUnsafeMethodsOnlyAndBasicAuthStillApplies) {
  RestApiOptions options;
  options.username = "patroni";
  options.password = "s3cret";
  TlsHarness h(PeerVerification::kOptional, options);
  const auto anonymous = [&h] { return client(h.port(), certs().ca_cert); };
  const auto certified = [&h] { return client(h.port(), certs().ca_cert, certs().client_cert, certs().client_key); };
  EXPECT_EQ(status_of(anonymous()->Get("/liveness")), 200);
  EXPECT_EQ(status_of(anonymous()->Get("/primary")), 200);

  auto without_cert = anonymous();
  without_cert->set_basic_auth("patroni", "s3cret");
  const httplib::Result refused = without_cert->Post("/switchover", kSwitchover, "application/json");
  ASSERT_TRUE(refused);
  EXPECT_EQ(refused->status, 403);
  EXPECT_EQ(refused->body, "client certificate required");
  EXPECT_EQ(status_of(without_cert->Patch("/config", R"({"pause": true})", "application/json")), 403);
  EXPECT_EQ(status_of(certified()->Post("/switchover", kSwitchover, "application/json")), 401) << "no credentials";
  EXPECT_EQ(h.posts(), 0u);

  auto with_both = certified();
  with_both->set_basic_auth("patroni", "s3cret");
  EXPECT_EQ(status_of(with_both->Post("/switchover", kSwitchover, "application/json")), 200);
  EXPECT_EQ(h.posts(), 1u);
  // A certificate from another CA is refused at the handshake even where none is needed.
  EXPECT_FALSE(client(h.port(), certs().ca_cert, certs().other_server_cert, certs().other_server_key)->Get("/liveness"));
}

TEST(RestApiTls, StalledHandshakesDoNotStarveLiveness) {
  RestApiOptions options;
  options.limits.request_timeout = 1s;
  options.limits.workers = 2;
  TlsHarness h(PeerVerification::kNone, options);
  // From the checks' own address: a TLS record header announcing a ClientHello, then a byte of it
  // every 50 ms, never whole before the deadline.
  test::SlowClients stalled(h.port(), 50, std::string("\x16\x03\x01\x02\x00", 5), 50ms);
  ASSERT_EQ(stalled.opened(), 50);
  const auto give_up = Clock::now() + options.limits.request_timeout + 5s;
  int rounds = 0;
  while ((stalled.closed_by_server() < 50 || rounds < 3) && Clock::now() < give_up) {
    const auto asked = Clock::now();
    ASSERT_EQ(status_of(client(h.port(), certs().ca_cert)->Get("/liveness")), 200) << "round " << rounds;
    EXPECT_LT(Clock::now() - asked, 1s) << "round " << rounds;
    ++rounds;
  }
  EXPECT_EQ(stalled.closed_by_server(), 50);
}

TEST(RestApiTls, StartFailsClearlyWithABrokenCertificate) {
  RestApiOptions options;
  options.listen = "127.0.0.1:0";
  options.tls.certfile = "/nonexistent/rest.crt";
  RestApi api(options, [] { return nullptr; }, nullptr, nullptr);
  try {
    api.start();
    FAIL() << "started without its certificate";
  } catch (const std::runtime_error& e) {
    EXPECT_THAT(e.what(), HasSubstr("restapi: certificate /nonexistent/rest.crt: cannot open"));
  }
}

// ---- the clients: an agent asking another member, pghactl ----

AgentConfig client_config(const std::string& cafile, PeerVerification verify = PeerVerification::kRequired) {
  AgentConfig config;
  config.ctl_tls.cafile = cafile;
  config.ctl_tls.verify = verify;
  return config;
}

MemberStatus member(const std::string& api_url) {
  MemberStatus m;
  m.name = "node1";
  m.api_url = api_url;
  return m;
}

TEST(RestApiTls, PeerClientReachesAnHttpsMemberWithTheConfiguredCa) {
  TlsHarness h;
  const AgentConfig config = client_config(certs().ca_cert);
  HttpPeerClient peers(config);
  const PeerApiState state = peers.api_state(member(h.api_url()), 2s);
  EXPECT_TRUE(state.reachable) << state.error;
  EXPECT_EQ(state.role, "master");
  EXPECT_TRUE(peers.answers_primary(member(h.api_url()), 2s));

  // Another CA: refused, and the error says why; ctl.insecure does not check at all.
  const AgentConfig wrong_ca = client_config(certs().other_ca_cert);
  const PeerApiState refused = HttpPeerClient(wrong_ca).api_state(member(h.api_url()), 2s);
  EXPECT_FALSE(refused.reachable);
  EXPECT_THAT(refused.error, HasSubstr("its TLS certificate was refused (self-signed certificate in certificate chain)"));
  EXPECT_FALSE(HttpPeerClient(wrong_ca).answers_primary(member(h.api_url()), 2s));
  const AgentConfig insecure = client_config(certs().other_ca_cert, PeerVerification::kNone);
  EXPECT_TRUE(HttpPeerClient(insecure).api_state(member(h.api_url()), 2s).reachable);
}

TEST(RestApiTls, PeerClientPresentsItsCertificateAndCredentialsWhenForwarding) {
  RestApiOptions options;
  options.username = "patroni";
  options.password = "s3cret";
  TlsHarness h(PeerVerification::kRequired, options);
  AgentConfig config = client_config(certs().ca_cert);
  config.ctl_username = "patroni";
  config.ctl_password = "s3cret";
  // Without a certificate the server ends the handshake (which TLS 1.3 clients see as a failed
  // write or read): 503, nothing forwarded.
  const SwitchoverResult refused =
      HttpPeerClient(config).forward_switchover(member(h.api_url()), {"node1", "node2", {}}, false, 2s);
  EXPECT_EQ(refused.http_status, 503);
  EXPECT_THAT(refused.message, HasSubstr("forwarding to the leader node1 (https://127.0.0.1:"));
  EXPECT_EQ(h.posts(), 0u);
  config.ctl_tls.certfile = certs().client_cert;
  config.ctl_tls.keyfile = certs().client_key;
  const SwitchoverResult forwarded =
      HttpPeerClient(config).forward_switchover(member(h.api_url()), {"node1", "node2", {}}, false, 2s);
  EXPECT_EQ(forwarded.http_status, 200) << forwarded.message;
  EXPECT_EQ(h.posts(), 1u);
  // An encrypted key with its password works the same.
  config.ctl_tls.certfile = certs().server_cert;  // clientAuth too, as Patroni's fallback to restapi's needs
  config.ctl_tls.keyfile = certs().encrypted_server_key;
  config.ctl_tls.keyfile_password = "secret";
  EXPECT_EQ(HttpPeerClient(config).forward_switchover(member(h.api_url()), {"node1", "node2", {}}, false, 2s).http_status,
            200);
  config.ctl_tls.keyfile_password = "wrong";
  const SwitchoverResult bad_key =
      HttpPeerClient(config).forward_switchover(member(h.api_url()), {"node1", "node2", {}}, false, 2s);
  EXPECT_EQ(bad_key.http_status, 503);
  EXPECT_THAT(bad_key.message, HasSubstr("key " + certs().encrypted_server_key));
  EXPECT_EQ(h.posts(), 2u);
}

TEST(RestApiTls, RestClientTakesTheAddressFromTheApiUrl) {
  const AgentConfig config = client_config(certs().ca_cert);
  EXPECT_EQ(RestClient("https://127.0.0.1:8008/patroni", config, 1s, 1s).base(), "https://127.0.0.1:8008");
  EXPECT_EQ(RestClient("http://db1/patroni", config, 1s, 1s).base(), "http://db1:80");
  EXPECT_EQ(RestClient("https://[::1]:8443", config, 1s, 1s).base(), "https://[::1]:8443");
  for (const std::string bad : {"", "db1:8008", "ftp://db1/", "https://:8008/", "https://[::1/", "http://db1:99999/",
                                "http://db1:x/"}) {
    const RestClient c(bad, config, 1s, 1s);
    EXPECT_FALSE(c.ok()) << bad;
    EXPECT_THAT(c.error(), HasSubstr("no REST API address")) << bad;
  }
}

}  // namespace
}  // namespace pgha::election
