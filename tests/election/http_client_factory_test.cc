// HttpClientFactory: which URLs make a client (plain or TLS) and which do not, and that broken
// TLS files are refused when the factory is made, naming the file.
#include "election/http_client_factory.h"

#include <unistd.h>

#include <filesystem>
#include <fstream>

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <httplib.h>

#include "tls_context/tls_context.h"

namespace pgha::election {
namespace {

using ::testing::HasSubstr;

tls::TlsFiles verified() { return tls::TlsFiles{.verify = tls::PeerVerification::kRequired}; }

bool is_tls(const std::unique_ptr<httplib::ClientImpl>& client) {
  return dynamic_cast<httplib::SSLClient*>(client.get()) != nullptr;
}

TEST(HttpClientFactory, MakesPlainAndTlsClientsForTheirUrls) {
  const HttpClientFactory factory(verified());
  for (const char* url : {"http://127.0.0.1:2379", "127.0.0.1:2379", "etcd-1:2379", "http://[::1]:2379/", "host"}) {
    auto client = factory.make(url);
    ASSERT_NE(client, nullptr) << url;
    EXPECT_FALSE(is_tls(client)) << url;
    EXPECT_TRUE(client->is_valid()) << url;
  }
  for (const char* url : {"https://127.0.0.1:2379", "https://etcd-1:2379", "https://[::1]:2379", "https://h"}) {
    auto client = factory.make(url);
    ASSERT_NE(client, nullptr) << url;
    EXPECT_TRUE(is_tls(client)) << url;
    EXPECT_TRUE(client->is_valid()) << url;
  }
  for (const char* url : {"", "http://", "https://:2379", "127.0.0.1:", "127.0.0.1:99999", "127.0.0.1:x",
                          "[::1", "[::1]x", "h/path", "user@h:1", "ftp://h:1"}) {
    EXPECT_EQ(factory.make(url), nullptr) << url;
  }
}

TEST(HttpClientFactory, BrokenFilesAreRefusedWhenItIsMade) {
  char pattern[] = "/tmp/pgha-client-factory-XXXXXX";
  ASSERT_NE(::mkdtemp(pattern), nullptr);
  const std::filesystem::path dir = pattern;
  const std::string garbage = (dir / "garbage.pem").string();
  std::ofstream(garbage) << "not a certificate\n";

  tls::TlsFiles files = verified();
  files.cafile = (dir / "absent.crt").string();
  try {
    HttpClientFactory factory(files);
    ADD_FAILURE() << "an absent CA file was accepted";
  } catch (const tls::TlsConfigError& e) {
    EXPECT_THAT(e.what(), HasSubstr("CA file " + files.cafile + ": cannot open"));
  }
  files = verified();
  files.certfile = garbage;
  EXPECT_THROW(HttpClientFactory{files}, tls::TlsConfigError);
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace pgha::election
