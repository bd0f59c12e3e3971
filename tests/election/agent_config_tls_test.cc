// The TLS keys of an agent config: restapi.certfile, keyfile, keyfile_password, cafile,
// verify_client, ciphers for the API's HTTPS, and Patroni's ctl section (insecure, cacert,
// certfile, keyfile, keyfile_password, authentication) for the agent's and pghactl's requests to
// REST APIs, each falling back to its restapi counterpart. Files are proven when the config loads:
// a broken one is an error at its own key and line.
#include "election/agent_config.h"

#include <filesystem>
#include <fstream>
#include <string>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "tests/support/test_certs.h"

namespace pgha::election {
namespace {

using ::testing::HasSubstr;
using ::testing::StartsWith;
using tls::PeerVerification;

class AgentConfigTls : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    certs_ = new test::TestCerts(test::make_test_certs(std::filesystem::path(::testing::TempDir()) /
                                                       "agent_config_tls_test"));
  }
  static void TearDownTestSuite() {
    delete certs_;
    certs_ = nullptr;
  }

  // restapi keys from line 5 on, then `tail` (a ctl section, say) after postgresql.
  static std::string config(const std::string& restapi, const std::string& tail = "") {
    return "scope: demo\nname: n1\nrestapi:\n  connect_address: 127.0.0.1:8008\n" + restapi +
           "etcd3:\n  hosts: 127.0.0.1:2379\npostgresql:\n  data_dir: /d\n" + tail;
  }
  static std::string error_of(const std::string& text) {
    try {
      parse_agent_config(text, "agent.yml");
    } catch (const AgentConfigError& e) {
      return e.what();
    }
    return "";
  }
  static const test::TestCerts& certs() { return *certs_; }

 private:
  static test::TestCerts* certs_;
};

test::TestCerts* AgentConfigTls::certs_ = nullptr;

TEST_F(AgentConfigTls, WithoutCertfileTheApiIsPlainAndCtlVerifiesAgainstTheSystemCas) {
  const AgentConfig c = parse_agent_config(config(""), "agent.yml");
  EXPECT_EQ(c.rest_tls.certfile, "");
  EXPECT_EQ(c.ctl_tls.certfile, "");
  EXPECT_EQ(c.ctl_tls.cafile, "");
  EXPECT_EQ(c.ctl_tls.verify, PeerVerification::kRequired);
}

TEST_F(AgentConfigTls, RestapiKeysLoadAndCtlFallsBackToThem) {
  const AgentConfig c = parse_agent_config(
      config("  certfile: " + certs().server_cert + "\n  keyfile: " + certs().encrypted_server_key +
             "\n  keyfile_password: secret\n  cafile: " + certs().ca_cert +
             "\n  verify_client: Required\n  ciphers: ECDHE+AESGCM\n"
             "  authentication:\n    username: admin\n    password: pw\n"),
      "agent.yml");
  EXPECT_EQ(c.rest_tls.certfile, certs().server_cert);
  EXPECT_EQ(c.rest_tls.keyfile, certs().encrypted_server_key);
  EXPECT_EQ(c.rest_tls.keyfile_password, "secret");
  EXPECT_EQ(c.rest_tls.cafile, certs().ca_cert);
  EXPECT_EQ(c.rest_tls.verify, PeerVerification::kRequired);  // case-insensitive, as Patroni reads it
  EXPECT_EQ(c.rest_tls.ciphers, "ECDHE+AESGCM");
  // As Patroni does, the agent's own requests present restapi's certificate and trust its CA.
  EXPECT_EQ(c.ctl_tls.certfile, certs().server_cert);
  EXPECT_EQ(c.ctl_tls.keyfile, certs().encrypted_server_key);
  EXPECT_EQ(c.ctl_tls.keyfile_password, "secret");
  EXPECT_EQ(c.ctl_tls.cafile, certs().ca_cert);
  EXPECT_EQ(c.ctl_tls.verify, PeerVerification::kRequired);
  EXPECT_EQ(c.ctl_username, "admin");
  EXPECT_EQ(c.ctl_password, "pw");
  EXPECT_TRUE(c.warnings.empty());
}

TEST_F(AgentConfigTls, CtlKeysWinOverRestapis) {
  const AgentConfig c = parse_agent_config(
      config("  certfile: " + certs().server_cert + "\n  keyfile: " + certs().server_key +
                 "\n  cafile: " + certs().ca_cert + "\n  authentication:\n    username: admin\n    password: pw\n",
             "ctl:\n  insecure: true\n  cacert: " + certs().other_ca_cert + "\n  certfile: " + certs().client_cert +
                 "\n  keyfile: " + certs().client_key + "\n  authentication:\n    username: ops\n    password: x\n"),
      "agent.yml");
  EXPECT_EQ(c.ctl_tls.cafile, certs().other_ca_cert);
  EXPECT_EQ(c.ctl_tls.certfile, certs().client_cert);
  EXPECT_EQ(c.ctl_tls.keyfile, certs().client_key);
  EXPECT_EQ(c.ctl_tls.verify, PeerVerification::kNone);
  EXPECT_EQ(c.ctl_username, "ops");
  EXPECT_EQ(c.ctl_password, "x");
  EXPECT_EQ(c.rest_username, "admin");  // the server's own credentials are unchanged
  // A ctl section alone (pghactl's config for an HTTPS cluster).
  const AgentConfig ctl_only = parse_agent_config(config("", "ctl:\n  cacert: " + certs().ca_cert + "\n"), "agent.yml");
  EXPECT_EQ(ctl_only.ctl_tls.cafile, certs().ca_cert);
  EXPECT_EQ(ctl_only.rest_tls.certfile, "");
}

TEST_F(AgentConfigTls, BrokenSettingsAreErrorsAtTheirKey) {
  const std::string& server = certs().server_cert;
  struct Row {
    std::string text;
    std::string prefix;
    std::string message;
  };
  const std::vector<Row> rows = {
      {config("  certfile: /nonexistent/server.crt\n"), "agent.yml:5: restapi.certfile: ",
       "certificate /nonexistent/server.crt: cannot open"},
      {config("  certfile: " + certs().ca_cert + "\n  keyfile: " + certs().client_key + "\n"),
       "agent.yml:6: restapi.keyfile: ", "key " + certs().client_key},
      {config("  certfile: " + server + "\n  keyfile: " + certs().encrypted_server_key + "\n  keyfile_password: wrong\n"),
       "agent.yml:6: restapi.keyfile: ", "key " + certs().encrypted_server_key},
      // No password for an encrypted key: an error, never a prompt on the terminal.
      {config("  certfile: " + server + "\n  keyfile: " + certs().encrypted_server_key + "\n"),
       "agent.yml:6: restapi.keyfile: ", "key " + certs().encrypted_server_key},
      {config("  certfile: " + server + "\n  keyfile: " + certs().server_key + "\n  verify_client: sometimes\n"),
       "agent.yml:7: restapi.verify_client: ", "unknown verification 'sometimes'"},
      {config("  certfile: " + server + "\n  keyfile: " + certs().server_key + "\n  verify_client: required\n"),
       "agent.yml:7: restapi.verify_client: ", "needs a CA file"},
      {config("  certfile: " + server + "\n  keyfile: " + certs().server_key + "\n  cafile: /nonexistent/ca.crt\n"),
       "agent.yml:7: restapi.cafile: ", "CA file /nonexistent/ca.crt: cannot open"},
      {config("  certfile: " + server + "\n  keyfile: " + certs().server_key + "\n  ciphers: NO-SUCH-CIPHER\n"),
       "agent.yml:7: restapi.ciphers: ", "ciphers 'NO-SUCH-CIPHER'"},
      {config("  verify_client: required\n"), "agent.yml:5: restapi.verify_client: ", "needs restapi.certfile"},
      {config("  keyfile_password: secret\n"), "agent.yml:5: restapi.keyfile_password: ", "needs restapi.certfile"},
      {config("", "ctl:\n  cacert: /nonexistent/ca.crt\n"), "agent.yml:10: ctl.cacert: ",
       "CA file /nonexistent/ca.crt: cannot open"},
      {config("", "ctl:\n  certfile: " + certs().client_cert + "\n  keyfile: " + certs().server_key + "\n"),
       "agent.yml:11: ctl.keyfile: ", "key " + certs().server_key},
      {config("", "ctl:\n  keyfile: " + certs().client_key + "\n"), "agent.yml:10: ctl.keyfile: ",
       "needs ctl.certfile"},
      {config("", "ctl:\n  insecure: maybe\n"), "agent.yml:10: ctl.insecure: ", "not a boolean"},
      {config("", "ctl:\n  authentication:\n    username: ops\n"), "agent.yml:11: ctl.authentication: ",
       "needs both username and password"},
      {config("", "ctl:\n  cert: x\n"), "agent.yml:10: ctl.cert: ", "unknown key 'cert'"},
  };
  for (const Row& row : rows) {
    const std::string what = error_of(row.text);
    EXPECT_THAT(what, StartsWith(row.prefix)) << row.text;
    EXPECT_THAT(what, HasSubstr(row.message)) << row.text;
  }
}

}  // namespace
}  // namespace pgha::election
