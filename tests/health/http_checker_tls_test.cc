// Checks over TLS (HAProxy's check-ssl) against TLS health endpoints: the HTTP verdict through
// TLS, the server's certificate checked against the CA, its name (check-sni, verifyhost, else the
// checked address), "verify none", client certificates, and servers that do not speak TLS.
#include <filesystem>
#include <functional>
#include <memory>
#include <string>

#include <gtest/gtest.h>

#include "health/http_checker.h"
#include "health/tcp_checker.h"
#include "tests/health/scripted_server.h"
#include "tests/support/test_certs.h"
#include "tests/support/test_servers.h"
#include "tls_context/tls_context.h"

namespace pgha::health {
namespace {

using namespace std::chrono_literals;
using namespace testing;
using pgha::test::HealthEndpoint;
using pgha::test::TestCerts;
using tls::PeerVerification;
using tls::TlsFiles;

constexpr auto kDeadline = 2000ms;  // a handshake under TSan takes a while

class HttpCheckerTls : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = std::filesystem::temp_directory_path() / ("pgha-check-tls-" + std::to_string(::getpid()));
    certs_ = test::make_test_certs(dir_);
  }
  static void TearDownTestSuite() { std::filesystem::remove_all(dir_); }

  // A TLS endpoint with the CA's server certificate (or another's), requiring a client
  // certificate from the CA when asked.
  static std::unique_ptr<HealthEndpoint> endpoint(int status, bool other_ca = false, bool require_client = false,
                                                  const std::string& address = "127.0.0.1") {
    TlsFiles files{other_ca ? certs_.other_server_cert : certs_.server_cert,
                   other_ca ? certs_.other_server_key : certs_.server_key, "", certs_.ca_cert,
                   require_client ? PeerVerification::kRequired : PeerVerification::kNone};
    return std::make_unique<HealthEndpoint>(status, tls::make_server_context(files), address);
  }

  // An HTTP check spec with check-ssl, verifying against the CA unless changed.
  static CheckSpec tls_spec(std::uint16_t port, CheckType type = CheckType::kHttp) {
    CheckSpec spec = spec_for(type, port, kDeadline);
    spec.tls.enabled = true;
    spec.tls.ca_file = certs_.ca_cert;
    return spec;
  }

  // What the config loaders do: the client context from the spec's files.
  static void build_context(CheckSpec& spec) {
    const TlsFiles files{spec.tls.cert_file, spec.tls.key_file, "", spec.tls.ca_file,
                         spec.tls.verify ? PeerVerification::kRequired : PeerVerification::kNone};
    spec.tls.context = std::make_shared<boost::asio::ssl::context>(tls::make_client_context(files));
  }

  static CheckResult check(CheckSpec spec) {
    build_context(spec);
    asio::io_context io;
    HttpChecker checker(io.get_executor(), spec);
    return run_check(io, checker);
  }

  // The check fails with `detail`, and passes once `fix` has changed the spec.
  static void expect_fails_then_passes(CheckSpec spec, const std::string& detail,
                                       const std::function<void(CheckSpec&)>& fix) {
    const CheckResult failed = check(spec);
    EXPECT_FALSE(failed.healthy);
    EXPECT_EQ(failed.detail, detail);
    fix(spec);
    const CheckResult passed = check(spec);
    EXPECT_TRUE(passed.healthy) << passed.detail;
  }

  static std::filesystem::path dir_;
  static TestCerts certs_;
};

std::filesystem::path HttpCheckerTls::dir_;
TestCerts HttpCheckerTls::certs_;

TEST_F(HttpCheckerTls, JudgesTheStatusThroughTlsWithTheRightCa) {
  auto up = endpoint(200);
  CheckResult result = check(tls_spec(up->port()));
  EXPECT_TRUE(result.healthy) << result.detail;
  EXPECT_EQ(result.detail, "HTTP 200");
  EXPECT_EQ(up->requests(), 1);

  auto down = endpoint(503);
  result = check(tls_spec(down->port()));
  EXPECT_FALSE(result.healthy);
  EXPECT_EQ(result.detail, "HTTP 503");
  EXPECT_TRUE(result.declined) << "the server answered: it is alive and says no";
}

TEST_F(HttpCheckerTls, FailsWhenTheCertificateIsFromAnotherCa) {
  auto server = endpoint(200, /*other_ca=*/true);
  const CheckResult result = check(tls_spec(server->port()));
  EXPECT_FALSE(result.healthy);
  EXPECT_FALSE(result.declined);
  EXPECT_EQ(result.detail.rfind("TLS handshake: certificate verify failed (", 0), 0u) << result.detail;
  EXPECT_NE(result.detail.find("issuer"), std::string::npos) << result.detail;
  EXPECT_EQ(server->requests(), 0) << "no request is sent to a server that is not trusted";
}

TEST_F(HttpCheckerTls, VerifyNoneAcceptsAnyCertificate) {
  auto server = endpoint(200, /*other_ca=*/true);
  CheckSpec spec = tls_spec(server->port());
  spec.tls.verify = false;
  spec.tls.ca_file.clear();
  spec.tls.verify_host = "db.example.com";  // HAProxy: verifyhost needs verify required
  const CheckResult result = check(spec);
  EXPECT_TRUE(result.healthy) << result.detail;
  EXPECT_EQ(result.detail, "HTTP 200");
}

TEST_F(HttpCheckerTls, VerifyhostNamesTheCertificateMustCarry) {
  auto server = endpoint(200);
  CheckSpec spec = tls_spec(server->port());
  spec.tls.verify_host = "db.example.com";
  expect_fails_then_passes(spec, "TLS handshake: certificate verify failed (hostname mismatch)",
                           [](CheckSpec& s) { s.tls.verify_host = "localhost"; });
}

TEST_F(HttpCheckerTls, CheckSniIsTheNameVerifiedEvenWithVerifyhost) {
  auto server = endpoint(200);
  CheckSpec spec = tls_spec(server->port());
  spec.tls.sni = "db.example.com";
  spec.tls.verify_host = "localhost";  // HAProxy checks the SNI when one is sent
  expect_fails_then_passes(spec, "TLS handshake: certificate verify failed (hostname mismatch)", [](CheckSpec& s) {
    s.tls.sni = "localhost";
    s.tls.verify_host = "db.example.com";
  });
}

TEST_F(HttpCheckerTls, WithoutANameTheCheckedAddressIsVerified) {
  // The certificate names 127.0.0.1, ::1 and localhost, not 127.0.0.2.
  auto server = endpoint(200, false, false, "127.0.0.2");
  CheckSpec spec = tls_spec(server->port());
  spec.host = "127.0.0.2";
  expect_fails_then_passes(spec, "TLS handshake: certificate verify failed (IP address mismatch)",
                           [](CheckSpec& s) { s.tls.verify_host = "127.0.0.1"; });
}

TEST_F(HttpCheckerTls, AServerThatRequiresAClientCertificatePassesOnlyWithCrt) {
  auto server = endpoint(200, false, /*require_client=*/true);
  CheckSpec spec = tls_spec(server->port());
  CheckResult result = check(spec);
  EXPECT_FALSE(result.healthy);
  EXPECT_NE(result.detail.find("certificate required"), std::string::npos) << result.detail;
  EXPECT_EQ(server->requests(), 0);

  spec.tls.cert_file = certs_.client_cert;
  spec.tls.key_file = certs_.client_key;
  result = check(spec);
  EXPECT_TRUE(result.healthy) << result.detail;
  EXPECT_EQ(server->requests(), 1);
}

TEST_F(HttpCheckerTls, APlainHttpServerFailsWithATlsDetail) {
  // A server that answers the ClientHello with an HTTP error and closes.
  asio::io_context io;
  ScriptedServer plain(io, Script{1, "HTTP/1.0 400 Bad Request\r\n\r\n", true});
  CheckSpec spec = tls_spec(plain.port());
  build_context(spec);
  HttpChecker checker(io.get_executor(), spec);
  const CheckResult result = run_check(io, checker);
  EXPECT_FALSE(result.healthy);
  EXPECT_FALSE(result.declined);
  EXPECT_EQ(result.detail, "TLS handshake: wrong version number (not a TLS server?)");
}

TEST_F(HttpCheckerTls, APlainHttpServerThatWaitsTimesOutInTheHandshake) {
  HealthEndpoint plain(200);  // waits for a blank line that a ClientHello never has
  CheckSpec spec = tls_spec(plain.port());
  spec.timing.timeout = 300ms;
  const CheckResult result = check(spec);
  EXPECT_FALSE(result.healthy);
  EXPECT_EQ(result.detail, "timeout after 300 ms (TLS handshake)");
  EXPECT_LT(result.duration, 300ms + 500ms);
  EXPECT_EQ(plain.requests(), 0);
}

TEST_F(HttpCheckerTls, TcpCheckWithCheckSslIsATlsConnectCheck) {
  auto server = endpoint(200);
  asio::io_context io;
  CheckSpec spec = tls_spec(server->port(), CheckType::kTcp);
  build_context(spec);
  TcpChecker good(io.get_executor(), spec);
  CheckResult result = run_check(io, good);
  EXPECT_TRUE(result.healthy) << result.detail;
  EXPECT_EQ(result.detail, "TLS handshake ok");

  auto other = endpoint(200, /*other_ca=*/true);
  spec.port = other->port();
  TcpChecker bad(io.get_executor(), spec);
  result = run_check(io, bad);
  EXPECT_FALSE(result.healthy);
  EXPECT_EQ(result.detail.rfind("TLS handshake: certificate verify failed", 0), 0u) << result.detail;
}

TEST_F(HttpCheckerTls, OneContextServesManyChecks) {
  auto server = endpoint(200);
  CheckSpec spec = tls_spec(server->port());
  build_context(spec);
  asio::io_context io;
  HttpChecker first(io.get_executor(), spec);
  HttpChecker second(io.get_executor(), spec);
  for (int i = 0; i < 3; ++i) {
    EXPECT_TRUE(run_check(io, first).healthy);
    EXPECT_TRUE(run_check(io, second).healthy);
  }
  EXPECT_EQ(server->requests(), 6);
  EXPECT_EQ(spec.tls.context.use_count(), 3) << "the checkers share the spec's context";
}

}  // namespace
}  // namespace pgha::health
