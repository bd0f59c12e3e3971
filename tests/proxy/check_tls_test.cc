// TLS health checks in pgha-proxy's configs: HAProxy's server keywords (check-ssl, ca-file, crt,
// verify, check-sni, verifyhost, no-check-ssl, global ssl-server-verify, ca-base, crt-base) and
// the YAML check.tls mapping, their inheritance, one client context per distinct settings built
// at load, an error naming file, line and key for each bad setting or file, and a service whose
// routing follows checks over TLS, with the handshake's failure shown in /status.
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>

#include <boost/asio/ssl/context.hpp>
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "proxy/admin_server.h"
#include "proxy/config.h"
#include "proxy/proxy_service.h"
#include "tests/proxy/config_test_util.h"
#include "tests/support/test_certs.h"
#include "tests/support/test_servers.h"
#include "tls_context/tls_context.h"

namespace pgha::proxy {
namespace {

using namespace std::chrono_literals;
using health::CheckType;
using testing::expect_config_error;
using testing::TempDir;

class CheckTlsConfigTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    certs_dir_ = std::make_unique<TempDir>();
    certs_ = test::make_test_certs(certs_dir_->path());
    // HAProxy's crt: certificate and key in one file.
    client_pem_ = certs_.client_pem;
  }
  static void TearDownTestSuite() { certs_dir_.reset(); }

  LoadedConfig cfg(const std::string& text) { return load_haproxy_config(path_ = dir_.write("case.cfg", text)); }
  LoadedConfig yaml(const std::string& text) { return load_yaml_config(path_ = dir_.write("case.yaml", text)); }
  void cfg_error(const std::string& text, int line, const std::string& key, const std::string& part) {
    const std::string path = dir_.write("case.cfg", text);
    expect_config_error([&] { load_haproxy_config(path); }, path, line, key, part);
  }
  void yaml_error(const std::string& text, int line, const std::string& key, const std::string& part) {
    const std::string path = dir_.write("case.yaml", text);
    expect_config_error([&] { load_yaml_config(path); }, path, line, key, part);
  }
  // A listen section around server lines (line 1: global; the first server line is line 7).
  static std::string listen(const std::string& global, const std::string& servers) {
    return "global\n" + global + "\nlisten write\n  bind 127.0.0.1:6000\n  option httpchk GET /primary\n" +
           "  timeout connect 1s\n" + servers;
  }

  static std::unique_ptr<TempDir> certs_dir_;
  static test::TestCerts certs_;
  static std::string client_pem_;
  TempDir dir_;
  std::string path_;
};

std::unique_ptr<TempDir> CheckTlsConfigTest::certs_dir_;
test::TestCerts CheckTlsConfigTest::certs_;
std::string CheckTlsConfigTest::client_pem_;

TEST_F(CheckTlsConfigTest, ServerLineKeywords) {
  const LoadedConfig loaded = cfg(listen("",
      "  server s1 127.0.0.1:5432 check port 8008 check-ssl ca-file " + certs_.ca_cert + " crt " +
      client_pem_ + " verify required check-sni db1.example.com verifyhost db1.internal\n"));
  const health::CheckSpec& check = loaded.config.listeners[0].servers[0].check;
  EXPECT_EQ(check.type, CheckType::kHttp);
  EXPECT_TRUE(check.tls.enabled);
  EXPECT_TRUE(check.tls.verify);
  EXPECT_EQ(check.tls.ca_file, certs_.ca_cert);
  EXPECT_EQ(check.tls.cert_file, client_pem_);
  EXPECT_EQ(check.tls.key_file, "");
  EXPECT_EQ(check.tls.sni, "db1.example.com");
  EXPECT_EQ(check.tls.verify_host, "db1.internal");
  EXPECT_NE(check.tls.context, nullptr);
}

TEST_F(CheckTlsConfigTest, DefaultServerIsInheritedAndServerLinesOverrideIt) {
  const LoadedConfig loaded = cfg(listen("",
      "  default-server check check-ssl verify none verifyhost db.internal inter 1s\n"
      "  server s1 127.0.0.1:5432\n"
      "  server s2 127.0.0.1:5433 no-check-ssl\n"
      "  server s3 127.0.0.1:5434 verify required ca-file " + certs_.ca_cert + "\n"
      "  server s4 127.0.0.1:5435 verify required ca-file " + certs_.ca_cert + " no-verifyhost\n"
      "  default-server no-check-ssl\n"
      "  server s5 127.0.0.1:5436\n"));
  const auto& servers = loaded.config.listeners[0].servers;
  ASSERT_EQ(servers.size(), 5u);
  EXPECT_TRUE(servers[0].check.tls.enabled);
  EXPECT_FALSE(servers[0].check.tls.verify);
  EXPECT_EQ(servers[0].check.tls.verify_host, "db.internal");
  EXPECT_EQ(servers[0].check.timing.inter, Millis(1000));
  EXPECT_FALSE(servers[1].check.tls.enabled);
  EXPECT_EQ(servers[1].check.tls.context, nullptr) << "no TLS, no context";
  EXPECT_TRUE(servers[2].check.tls.verify);
  EXPECT_EQ(servers[2].check.tls.ca_file, certs_.ca_cert);
  EXPECT_EQ(servers[2].check.tls.verify_host, "db.internal");
  EXPECT_EQ(servers[3].check.tls.verify_host, "");
  EXPECT_FALSE(servers[4].check.tls.enabled);
}

TEST_F(CheckTlsConfigTest, OneContextPerDistinctSettings) {
  const LoadedConfig loaded = cfg(listen("",
      "  default-server check check-ssl ca-file " + certs_.ca_cert + "\n"
      "  server s1 127.0.0.1:5432 check-sni a.example\n"
      "  server s2 127.0.0.1:5433 verifyhost b.example\n"
      "  server s3 127.0.0.1:5434 crt " + client_pem_ + "\n"
      "  server s4 127.0.0.1:5435 verify none\n"
      "  server s5 127.0.0.1:5436 verify none ca-file " + certs_.other_ca_cert + "\n"
      "listen read\n  bind 127.0.0.1:6001\n  server s1 127.0.0.1:5432 check check-ssl ca-file " + certs_.ca_cert +
      "\n"));
  const auto& w = loaded.config.listeners[0].servers;
  const auto& r = loaded.config.listeners[1].servers;
  EXPECT_EQ(w[0].check.tls.context, w[1].check.tls.context) << "names are per connection, not per context";
  EXPECT_EQ(w[0].check.tls.context, r[0].check.tls.context) << "shared across listeners (and check types)";
  EXPECT_NE(w[0].check.tls.context, w[2].check.tls.context) << "a client certificate is another context";
  EXPECT_NE(w[0].check.tls.context, w[3].check.tls.context);
  EXPECT_EQ(w[3].check.tls.context, w[4].check.tls.context) << "verify none reads no CA file";
  EXPECT_EQ(r[0].check.type, CheckType::kTcp);
}

TEST_F(CheckTlsConfigTest, GlobalSslServerVerifyIsTheDefaultOfVerify) {
  LoadedConfig loaded = cfg(listen("  ssl-server-verify none",
      "  server s1 127.0.0.1:5432 check check-ssl\n"
      "  server s2 127.0.0.1:5433 check check-ssl verify required ca-file " + certs_.ca_cert + "\n"));
  EXPECT_FALSE(loaded.config.listeners[0].servers[0].check.tls.verify);
  EXPECT_TRUE(loaded.config.listeners[0].servers[1].check.tls.verify);
  // HAProxy's default is required, and a verifying check needs a CA file, as HAProxy says too.
  cfg_error(listen("", "  server s1 127.0.0.1:5432 check check-ssl\n"), 7, "server s1", "no CA file");
  cfg_error(listen("  ssl-server-verify none", "  server s1 127.0.0.1:5432 check check-ssl verify required\n"),
            7, "server s1", "ssl-server-verify none");
  cfg_error(listen("  ssl-server-verify optional", ""), 2, "ssl-server-verify", "none or required");
  loaded = cfg(listen("", "  server s1 127.0.0.1:5432 check check-ssl ca-file @system-ca\n"));
  EXPECT_EQ(loaded.config.listeners[0].servers[0].check.tls.ca_file, "@system-ca");
  EXPECT_NE(loaded.config.listeners[0].servers[0].check.tls.context, nullptr);
}

TEST_F(CheckTlsConfigTest, CaBaseAndCrtBaseApplyToRelativePaths) {
  const std::string dir = std::filesystem::path(certs_.ca_cert).parent_path().string();
  const std::string ca = std::filesystem::path(certs_.ca_cert).filename().string();
  const std::string crt = std::filesystem::path(client_pem_).filename().string();
  const LoadedConfig loaded = cfg(listen("  ca-base " + dir + "\n  crt-base " + dir,
      "  server s1 127.0.0.1:5432 check check-ssl ca-file " + ca + " crt " + crt + "\n"
      "  server s2 127.0.0.1:5433 check check-ssl ca-file " + certs_.ca_cert + "\n"));
  EXPECT_EQ(loaded.config.listeners[0].servers[0].check.tls.ca_file, dir + "/" + ca);
  EXPECT_EQ(loaded.config.listeners[0].servers[0].check.tls.cert_file, dir + "/" + crt);
  EXPECT_EQ(loaded.config.listeners[0].servers[1].check.tls.ca_file, certs_.ca_cert) << "absolute: kept";
}

TEST_F(CheckTlsConfigTest, BadFilesAreErrorsAtTheLineThatNamesThem) {
  const std::string not_pem = dir_.write("not.pem", "not a certificate\n");
  const std::string missing = (dir_.path() / "missing.pem").string();
  cfg_error(listen("", "  server s1 127.0.0.1:5432 check check-ssl ca-file " + missing + "\n"), 7, "ca-file",
            "CA file " + missing + ": cannot open");
  cfg_error(listen("", "  server s1 127.0.0.1:5432 check check-ssl ca-file " + not_pem + "\n"), 7, "ca-file",
            "CA file " + not_pem);
  // From default-server: the error is on the default-server line.
  cfg_error(listen("", "  default-server ca-file " + missing + "\n  server s1 127.0.0.1:5432 check check-ssl\n"), 7,
            "ca-file", "cannot open");
  cfg_error(listen("", "  server s1 127.0.0.1:5432 check check-ssl verify none crt " + missing + "\n"), 7, "crt",
            "certificate " + missing + ": cannot open");
  // A certificate without its key.
  cfg_error(listen("", "  server s1 127.0.0.1:5432 check check-ssl verify none crt " + certs_.client_cert + "\n"), 7,
            "crt", "key " + certs_.client_cert);
  // Not read while nothing uses them: no check-ssl, or no check (HAProxy reads no file either).
  EXPECT_NO_THROW(cfg(listen("", "  server s1 127.0.0.1:5432 check ca-file " + missing + "\n")));
  EXPECT_NO_THROW(cfg(listen("", "  server s1 127.0.0.1:5432 check-ssl ca-file " + missing + "\n")));
}

TEST_F(CheckTlsConfigTest, BadValuesAreErrors) {
  cfg_error(listen("", "  server s1 127.0.0.1:5432 check check-ssl verify optional\n"), 7, "verify",
            "none or required");
  cfg_error(listen("", "  server s1 127.0.0.1:5432 check check-ssl ca-file\n"), 7, "ca-file", "needs a value");
  cfg_error(listen("", "  server s1 127.0.0.1:5432 check check-ssl ca-file @bundle\n"), 7, "ca-file", "@system-ca");
  cfg_error(listen("", "  server s1 127.0.0.1:5432 check check-sni 'db 1'\n"), 7, "check-sni", "DNS name");
  cfg_error(listen("", "  server s1 127.0.0.1:5432 check verifyhost a..b\n"), 7, "verifyhost", "DNS name");
  cfg_error(listen("", "  server s1 127.0.0.1:5432 check ssl verify none\n"), 7, "ssl", "use 'check-ssl'");
  cfg_error(listen("", "  default-server ssl\n"), 7, "ssl", "not supported");
  cfg_error(listen("  ca-base /a\n  ca-base /b", ""), 3, "ca-base", "already set");
  cfg_error("global\nlisten read\n  bind 127.0.0.1:6000\n  option pgsql-check user admin\n"
            "  server s1 127.0.0.1:5432 check check-ssl verify none\n",
            5, "server s1", "SSLRequest");
  cfg_error(listen("", "  server s1 check-ssl\n"), 7, "server", "has no address");
}

TEST_F(CheckTlsConfigTest, YamlTlsMappingIsInheritedKeyByKey) {
  const std::string ca_name = std::filesystem::path(certs_.ca_cert).filename().string();
  std::filesystem::copy_file(certs_.ca_cert, dir_.path() / ca_name);
  const LoadedConfig loaded = yaml(R"(
defaults:
  check: { type: http, tls: { ca_file: )" + ca_name + R"(, verify_host: db.internal } }
listeners:
  - name: write
    bind: 127.0.0.1:6000
    check: { tls: { cert_file: )" + certs_.client_cert + ", key_file: " + certs_.client_key + R"( } }
    servers:
      - { name: s1, address: 127.0.0.1:5432 }
      - { name: s2, address: 127.0.0.1:5433, check: { tls: { sni: localhost, verify: none } } }
      - { name: s3, address: 127.0.0.1:5434, check: { tls: false } }
      - { name: s4, address: 127.0.0.1:5435, check: { type: tcp, tls: { enabled: true } } }
)");
  const auto& servers = loaded.config.listeners[0].servers;
  const health::CheckTlsSpec& s1 = servers[0].check.tls;
  EXPECT_TRUE(s1.enabled) << "a tls mapping turns TLS on";
  EXPECT_TRUE(s1.verify);
  EXPECT_EQ(s1.ca_file, (dir_.path() / ca_name).string()) << "relative: beside the config file";
  EXPECT_EQ(s1.cert_file, certs_.client_cert);
  EXPECT_EQ(s1.key_file, certs_.client_key);
  EXPECT_EQ(s1.verify_host, "db.internal");
  EXPECT_NE(s1.context, nullptr);
  const health::CheckTlsSpec& s2 = servers[1].check.tls;
  EXPECT_FALSE(s2.verify);
  EXPECT_EQ(s2.sni, "localhost");
  EXPECT_EQ(s2.verify_host, "db.internal");
  EXPECT_FALSE(servers[2].check.tls.enabled);
  EXPECT_EQ(servers[2].check.tls.context, nullptr);
  EXPECT_EQ(servers[3].check.type, CheckType::kTcp);
  EXPECT_EQ(servers[3].check.tls.context, s1.context) << "the same files: one context";
}

TEST_F(CheckTlsConfigTest, YamlAndHaproxyCfgLoadTheSameTlsCheck) {
  const LoadedConfig from_cfg = cfg(
      "global\n  ssl-server-verify none\nlisten write\n  bind 127.0.0.1:6000\n  timeout connect 1s\n"
      "  option httpchk GET /primary\n  http-check expect status 200\n"
      "  server s1 127.0.0.1:5432 check port 8008 check-ssl crt " + client_pem_ + " check-sni localhost\n"
      "  server s2 127.0.0.1:5433 check port 8008 check-ssl verify required ca-file " + certs_.ca_cert +
      " verifyhost localhost\n");
  const LoadedConfig from_yaml = yaml(R"(
listeners:
  - name: write
    bind: 127.0.0.1:6000
    timeout: { connect: 1s }
    check: { type: http, method: GET, path: /primary, expect_status: 200, port: 8008, tls: { verify: none } }
    servers:
      - { name: s1, address: 127.0.0.1:5432, check: { tls: { cert_file: )" + client_pem_ + R"(, sni: localhost } } }
      - name: s2
        address: 127.0.0.1:5433
        check: { tls: { verify: required, ca_file: )" + certs_.ca_cert + R"(, verify_host: localhost } }
)");
  EXPECT_EQ(testing::dump(from_yaml.config), testing::dump(from_cfg.config));
}

TEST_F(CheckTlsConfigTest, YamlErrors) {
  const std::string missing = (dir_.path() / "missing.pem").string();
  const std::string head = "listeners:\n  - name: w\n    bind: 127.0.0.1:6000\n    servers:\n";
  yaml_error(head + "      - { name: s1, address: 127.0.0.1:5432, check: { type: http, tls: true } }\n", 5,
             "listeners[0].servers[0].check.tls", "check.tls.verify: none");
  yaml_error(head + "      - name: s1\n        address: 127.0.0.1:5432\n"
                    "        check: { type: http, tls: { ca_file: " + missing + " } }\n",
             7, "listeners[0].servers[0].check.tls.ca_file", "cannot open");
  yaml_error(head + "      - name: s1\n        address: 127.0.0.1:5432\n"
                    "        check: { type: http, tls: { verify: none, cert_file: " + certs_.client_cert +
                    ", key_file: " + missing + " } }\n",
             7, "listeners[0].servers[0].check.tls.key_file", "cannot open");
  yaml_error(head + "      - { name: s1, address: 127.0.0.1:5432, check: { type: http, tls: { verify: maybe } } }\n", 5,
             "listeners[0].servers[0].check.tls.verify", "none or required");
  yaml_error(head + "      - { name: s1, address: 127.0.0.1:5432, check: { type: http, tls: { ssl: true } } }\n", 5,
             "listeners[0].servers[0].check.tls.ssl", "unknown key");
  yaml_error(head + "      - { name: s1, address: 127.0.0.1:5432, check: { type: http, tls: { sni: 'a b' } } }\n", 5,
             "listeners[0].servers[0].check.tls.sni", "DNS name");
  yaml_error(head + "      - name: s1\n        address: 127.0.0.1:5432\n"
                    "        check: { type: pgsql, user: admin, tls: { verify: none } }\n",
             5, "listeners[0].servers[0].check.tls", "SSLRequest");
}

// A service loaded from haproxy.cfg: the server whose REST API passes a check over TLS takes the
// sessions; the one with a certificate from another CA stays DOWN, and /status says why.
TEST_F(CheckTlsConfigTest, ChecksOverTlsDriveRoutingAndShowTheirDetail) {
  auto server_context = [](const std::string& cert, const std::string& key) {
    return tls::make_server_context(tls::TlsFiles{cert, key, "", "", tls::PeerVerification::kNone});
  };
  test::EchoServer a, b;
  test::HealthEndpoint health_a(200, server_context(certs_.server_cert, certs_.server_key));
  test::HealthEndpoint health_b(200, server_context(certs_.other_server_cert, certs_.other_server_key));
  LoadedConfig loaded = cfg(
      "listen write\n  bind 127.0.0.1:6000\n  balance first\n  timeout connect 1s\n  timeout check 2s\n"
      "  option httpchk GET /primary\n  default-server check inter 50ms rise 1 fall 1 check-ssl ca-file " +
      certs_.ca_cert + "\n" +
      "  server b 127.0.0.1:" + std::to_string(b.port()) + " port " + std::to_string(health_b.port()) + "\n" +
      "  server a 127.0.0.1:" + std::to_string(a.port()) + " port " + std::to_string(health_a.port()) + "\n");
  loaded.config.admin.enabled = false;
  loaded.config.workers = 1;
  loaded.config.listeners[0].bind_port = 0;
  ProxyService service(std::move(loaded.config));
  service.start();
  EXPECT_TRUE(test::eventually([&] {
    return service.health().status(0, 1).up && service.health().status(0, 0).checks >= 2;
  }));
  EXPECT_FALSE(service.health().status(0, 0).up);
  EXPECT_EQ(health_b.requests(), 0);
  EXPECT_GE(health_a.requests(), 1);
  {
    boost::asio::io_context io;
    auto client = test::connect_blocking(io, service.listener_endpoint(0).port());
    EXPECT_EQ(test::round_trip(client, "x"), "x");
  }
  EXPECT_EQ(a.connections_accepted(), 1);
  EXPECT_EQ(b.connections_accepted(), 0);
  const auto status = nlohmann::json::parse(render_status_json(service));
  const auto& servers = status["listeners"][0]["servers"];
  EXPECT_EQ(servers[0]["state"], "DOWN");
  EXPECT_EQ(servers[0]["check"]["detail"].get<std::string>().rfind("TLS handshake: certificate verify failed", 0),
            0u)
      << servers[0]["check"];
  EXPECT_EQ(servers[1]["check"]["detail"], "HTTP 200");
  EXPECT_EQ(servers[1]["check"]["tls"], true);
  service.stop(0ms);
}

}  // namespace
}  // namespace pgha::proxy
