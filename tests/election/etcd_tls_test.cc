// EtcdClient over https against a real etcd 3.4 that requires client certificates (the test PKI
// of tests/support/test_certs.h): calls, leases and watches with the right CA and certificate;
// a wrong CA, a missing client certificate and an address the certificate does not name are
// refused with an error that says so; a listener that accepts and never completes the handshake
// costs a call no more than the connect timeout; username and password over https.
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "election/etcd_client.h"
#include "tests/election/etcd_process.h"
#include "tests/election/tcp_forwarder.h"
#include "tests/support/test_certs.h"
#include "tests/support/test_servers.h"
#include "tls_context/tls_context.h"

namespace pgha::election {
namespace {

namespace fs = std::filesystem;
using ::testing::HasSubstr;
using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;
using Code = EtcdStatus::Code;
using pgha::test::elapsed_since;
using pgha::test::eventually;

class EtcdTlsTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    char pattern[] = "/tmp/pgha-etcd-tls-test-XXXXXX";
    ASSERT_NE(::mkdtemp(pattern), nullptr);
    dir_ = pattern;
    certs_ = test::make_test_certs(dir_);
    etcd_ = std::make_unique<test::EtcdProcess>(
        test::EtcdServerTls{certs_.server_cert, certs_.server_key, certs_.ca_cert});
  }
  static void TearDownTestSuite() {
    etcd_.reset();
    std::error_code ignored;
    fs::remove_all(dir_, ignored);
  }

  // The right CA and a client certificate that CA signed.
  static EtcdClientOptions options(std::vector<std::string> endpoints = {}) {
    EtcdClientOptions o;
    o.endpoints = endpoints.empty() ? std::vector<std::string>{etcd_->endpoint()} : std::move(endpoints);
    o.call_timeout = 2000ms;
    o.tls.cafile = certs_.ca_cert;
    o.tls.certfile = certs_.client_cert;
    o.tls.keyfile = certs_.client_key;
    return o;
  }
  static std::string prefix() {
    return std::string("/pgha-tls-test/") + ::testing::UnitTest::GetInstance()->current_test_info()->name() + "/";
  }
  static std::string https_port(std::uint16_t port) { return "https://127.0.0.1:" + std::to_string(port); }

  static fs::path dir_;
  static test::TestCerts certs_;
  static std::unique_ptr<test::EtcdProcess> etcd_;
};

fs::path EtcdTlsTest::dir_;
test::TestCerts EtcdTlsTest::certs_;
std::unique_ptr<test::EtcdProcess> EtcdTlsTest::etcd_;

TEST_F(EtcdTlsTest, CallsLeasesAndWatchesWorkWithTheRightCaAndClientCertificate) {
  EtcdClient client(options());
  ASSERT_TRUE(client.put(prefix() + "k", "v").ok());
  auto got = client.range(prefix() + "k");
  ASSERT_TRUE(got) << got.status().to_string();
  EXPECT_EQ(got->kvs.at(0).value, "v");

  auto lease = client.lease_grant(10s);
  ASSERT_TRUE(lease) << lease.status().to_string();
  ASSERT_TRUE(client.put(prefix() + "leased", "x", lease->id).ok());
  auto ttl = client.lease_keepalive(lease->id);
  ASSERT_TRUE(ttl) << ttl.status().to_string();
  EXPECT_GT(*ttl, 0);
  ASSERT_TRUE(client.lease_revoke(lease->id).ok());
  auto gone = client.range(prefix() + "leased");
  ASSERT_TRUE(gone);
  EXPECT_TRUE(gone->kvs.empty());

  std::atomic<std::size_t> events{0};
  auto watch = client.watch(prefix(), 0, [&events](const WatchResponse& r) { events += r.events.size(); });
  ASSERT_TRUE(eventually([&] { return watch->connected(); }));
  ASSERT_TRUE(client.put(prefix() + "k", "w").ok());
  ASSERT_TRUE(eventually([&] { return events.load() == 1; }));

  // The DNS name the certificate lists works as well as its IP address.
  EtcdClient by_name(options({"https://localhost:" + std::to_string(etcd_->client_port())}));
  auto named = by_name.range(prefix() + "k");
  ASSERT_TRUE(named) << named.status().to_string();
  EXPECT_EQ(named->kvs.at(0).value, "w");
}

TEST_F(EtcdTlsTest, AnEncryptedClientKeyIsReadWithItsPassword) {
  // The server's certificate is also good for client authentication.
  EtcdClientOptions o = options();
  o.tls.certfile = certs_.server_cert;
  o.tls.keyfile = certs_.encrypted_server_key;
  o.tls.keyfile_password = "secret";
  EtcdClient client(o);
  auto put = client.put(prefix() + "k", "v");
  EXPECT_TRUE(put.ok()) << put.status().to_string();

  o.tls.keyfile_password = "wrong";
  EXPECT_THROW(EtcdClient{o}, tls::TlsConfigError);
}

TEST_F(EtcdTlsTest, AServerCertificateFromAnotherCaIsRefusedAtOnce) {
  EtcdClientOptions o = options();
  o.tls.cafile = certs_.other_ca_cert;
  EtcdClient client(o);
  const auto start = Clock::now();
  auto put = client.put(prefix() + "k", "v");
  ASSERT_FALSE(put);
  EXPECT_EQ(put.status().code(), Code::kUnreachable);
  EXPECT_THAT(put.status().message(), HasSubstr("the server's certificate is not trusted"));
  EXPECT_THAT(put.status().message(), HasSubstr("unable to get local issuer certificate"));
  EXPECT_LT(elapsed_since(start), 1000ms);

  // A watch never confirms, and keeps trying.
  auto watch = client.watch(prefix(), 0, [](const WatchResponse&) {});
  ASSERT_TRUE(eventually([&] { return watch->streams_opened() >= 2; }));
  EXPECT_FALSE(watch->connected());
}

TEST_F(EtcdTlsTest, AnAddressTheCertificateDoesNotNameIsRefused) {
  // 127.0.0.2 reaches the same etcd through a forwarder; the certificate names 127.0.0.1 only.
  test::TcpForwarder forwarder(etcd_->client_port(), boost::asio::ip::make_address_v4("127.0.0.2"));
  EtcdClient client(options({"https://127.0.0.2:" + std::to_string(forwarder.port())}));
  auto put = client.put(prefix() + "k", "v");
  ASSERT_FALSE(put);
  EXPECT_EQ(put.status().code(), Code::kUnreachable);
  EXPECT_THAT(put.status().message(), HasSubstr("the server's certificate is not trusted: IP address mismatch"));
  EXPECT_EQ(forwarder.connections_accepted(), 1);
}

TEST_F(EtcdTlsTest, EtcdRefusesAClientWithoutCertificate) {
  EtcdClientOptions o = options();
  o.tls.certfile.clear();
  o.tls.keyfile.clear();
  EtcdClient client(o);
  auto put = client.put(prefix() + "k", "v");
  ASSERT_FALSE(put);
  EXPECT_EQ(put.status().code(), Code::kUnreachable);
  EXPECT_THAT(put.status().message(), HasSubstr("no client certificate was presented"));

  EtcdClient with_certificate(options());
  auto range = with_certificate.range(prefix() + "k");
  ASSERT_TRUE(range) << range.status().to_string();
  EXPECT_TRUE(range->kvs.empty());
}

TEST_F(EtcdTlsTest, AListenerThatNeverCompletesTheHandshakeCostsTheConnectTimeout) {
  test::SilentServer silent;
  EtcdClientOptions o = options({https_port(silent.port())});
  o.connect_timeout = 300ms;
  o.call_timeout = 2000ms;
  EtcdClient client(o);
  auto start = Clock::now();
  auto got = client.range(prefix() + "k");
  auto elapsed = elapsed_since(start);
  ASSERT_FALSE(got);
  EXPECT_EQ(got.status().code(), Code::kTimeout) << got.status().to_string();
  EXPECT_THAT(got.status().message(), HasSubstr("TLS handshake"));
  EXPECT_GE(elapsed, 250ms);
  EXPECT_LT(elapsed, 300ms + 250ms);

  // A call's own deadline wins over a longer connect timeout.
  o.connect_timeout = 5000ms;
  EtcdClient patient(o);
  start = Clock::now();
  got = patient.range(prefix() + "k", 400ms);
  ASSERT_FALSE(got);
  EXPECT_EQ(got.status().code(), Code::kTimeout) << got.status().to_string();
  EXPECT_LT(elapsed_since(start), 400ms + 250ms);

  // Which leaves time for the next member.
  o = options({https_port(silent.port()), etcd_->endpoint()});
  o.connect_timeout = 300ms;
  EtcdClient failover(o);
  start = Clock::now();
  auto put = failover.put(prefix() + "k", "v");
  ASSERT_TRUE(put.ok()) << put.status().to_string();
  EXPECT_LT(elapsed_since(start), 300ms + 500ms);

  // A watch stuck in the handshake stops within about the connect timeout.
  o = options({https_port(silent.port())});
  o.connect_timeout = 300ms;
  EtcdClient watching(o);
  const int accepted = silent.connections_accepted();
  auto watch = watching.watch(prefix(), 0, [](const WatchResponse&) {});
  ASSERT_TRUE(eventually([&] { return silent.connections_accepted() > accepted; }));
  start = Clock::now();
  watch.reset();
  EXPECT_LT(elapsed_since(start), 300ms + 250ms);
}

// A dedicated etcd: enabling auth would disturb the shared one. It asks for no client
// certificate: with client certificates required and auth on, etcd's JSON gateway refuses every
// certificate that has a CommonName (it cannot map it to a user), as it would refuse Patroni.
TEST_F(EtcdTlsTest, UsernameAndPasswordOverHttps) {
  test::EtcdProcess etcd(test::EtcdServerTls{certs_.server_cert, certs_.server_key, /*client_ca=*/""});
  ASSERT_TRUE(etcd.enable_root_auth("secret"));  // through the plain side listener

  EtcdClientOptions o = options({etcd.endpoint()});
  o.tls.certfile.clear();
  o.tls.keyfile.clear();
  o.username = "root";
  o.password = "wrong";
  auto refused = EtcdClient(o).put("/auth/k", "v");
  ASSERT_FALSE(refused);
  EXPECT_EQ(refused.status().code(), Code::kAuthFailed) << refused.status().to_string();
  EXPECT_THAT(refused.status().message(), HasSubstr("invalid user ID or password"));

  o.password = "secret";
  EtcdClient client(o);
  ASSERT_TRUE(client.put("/auth/k", "v").ok());
  std::atomic<std::size_t> events{0};
  auto watch = client.watch("/auth/", 0, [&events](const WatchResponse& r) { events += r.events.size(); });
  ASSERT_TRUE(eventually([&] { return watch->connected(); }));
  ASSERT_TRUE(client.put("/auth/k", "w").ok());
  ASSERT_TRUE(eventually([&] { return events.load() == 1; }));
}

}  // namespace
}  // namespace pgha::election
