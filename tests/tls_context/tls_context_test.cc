#include "tls_context/tls_context.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <future>
#include <thread>

#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/write.hpp>
#include <boost/asio/ssl/stream.hpp>

#include "tests/support/test_certs.h"

namespace pgha::tls {
namespace {

namespace asio = boost::asio;
namespace ssl = boost::asio::ssl;
using asio::ip::tcp;
using test::TestCerts;

class TlsContextTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = std::filesystem::temp_directory_path() / ("pgha-tls-context-" + std::to_string(::getpid()));
    certs_ = test::make_test_certs(dir_);
  }
  static void TearDownTestSuite() { std::filesystem::remove_all(dir_); }

  static TlsFiles server_files(PeerVerification verify = PeerVerification::kNone) {
    return TlsFiles{certs_.server_cert, certs_.server_key, "", certs_.ca_cert, verify};
  }

  // One handshake over loopback between the two contexts; "" when it succeeds, else the
  // client's error. The server's side runs on a thread of its own.
  static std::string handshake(ssl::context& server_context, ssl::context& client_context, const std::string& host) {
    asio::io_context io;
    tcp::acceptor acceptor(io, tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0));
    auto server = std::async(std::launch::async, [&] {
      asio::io_context server_io;
      ssl::stream<tcp::socket> stream(server_io, server_context);
      boost::system::error_code ec;
      stream.next_layer() = acceptor.accept(server_io, ec);
      if (!ec) stream.handshake(ssl::stream_base::server, ec);
      if (!ec) asio::write(stream, asio::buffer("ok", 2), ec);
      return ec;
    });
    ssl::stream<tcp::socket> client(io, client_context);
    boost::system::error_code ec;
    client.next_layer().connect(acceptor.local_endpoint(), ec);
    if (!ec && !expect_server_name(client.native_handle(), host)) return "name refused";
    if (!ec) client.handshake(ssl::stream_base::client, ec);
    char reply[2] = {};
    if (!ec) asio::read(client, asio::buffer(reply), ec);
    if (ec) client.next_layer().close();
    server.wait();
    return ec ? ec.message() : "";
  }

  static std::filesystem::path dir_;
  static TestCerts certs_;
};

std::filesystem::path TlsContextTest::dir_;
TestCerts TlsContextTest::certs_;

TEST_F(TlsContextTest, VerificationModesParseAndAnythingElseIsRefused) {
  EXPECT_EQ(parse_peer_verification("none"), PeerVerification::kNone);
  EXPECT_EQ(parse_peer_verification("optional"), PeerVerification::kOptional);
  EXPECT_EQ(parse_peer_verification("required"), PeerVerification::kRequired);
  EXPECT_THROW(parse_peer_verification("Required"), TlsConfigError);
  EXPECT_THROW(parse_peer_verification(""), TlsConfigError);
}

TEST_F(TlsContextTest, BrokenFilesAreRefusedWithTheFileAndTheReason) {
  auto message_of = [](const TlsFiles& files) {
    try {
      make_server_context(files);
    } catch (const TlsConfigError& e) {
      return std::string(e.what());
    }
    return std::string("no error");
  };
  TlsFiles missing = server_files();
  missing.certfile = (dir_ / "absent.crt").string();
  EXPECT_EQ(message_of(missing), "certificate " + missing.certfile + ": cannot open");

  TlsFiles directory = server_files();
  directory.keyfile = dir_.string();
  EXPECT_EQ(message_of(directory), "key " + dir_.string() + ": not a regular file");

  const std::string garbage = (dir_ / "garbage.pem").string();
  std::ofstream(garbage) << "not a certificate\n";
  TlsFiles not_pem = server_files();
  not_pem.certfile = garbage;
  EXPECT_NE(message_of(not_pem).find("certificate " + garbage + ": "), std::string::npos) << message_of(not_pem);

  TlsFiles mismatched = server_files();
  mismatched.keyfile = certs_.client_key;
  EXPECT_NE(message_of(mismatched).find("key " + certs_.client_key + ": key values mismatch"), std::string::npos) << message_of(mismatched);

  TlsFiles wrong_password = server_files();
  wrong_password.keyfile = certs_.encrypted_server_key;
  wrong_password.keyfile_password = "not-it";
  EXPECT_NE(message_of(wrong_password).find("key " + certs_.encrypted_server_key + ": "), std::string::npos)
      << message_of(wrong_password);

  TlsFiles no_ca = server_files(PeerVerification::kRequired);
  no_ca.cafile.clear();
  EXPECT_EQ(message_of(no_ca), "verifying client certificates needs a CA file");
  EXPECT_EQ(message_of(TlsFiles{}), "a TLS listener needs a certificate file");
  EXPECT_THROW(make_client_context(TlsFiles{"", "", "", certs_.ca_cert, PeerVerification::kOptional}), TlsConfigError);
}

TEST_F(TlsContextTest, AnEncryptedKeyLoadsWithItsPassword) {
  TlsFiles files = server_files();
  files.keyfile = certs_.encrypted_server_key;
  files.keyfile_password = "secret";
  EXPECT_NO_THROW(make_server_context(files));
}

TEST_F(TlsContextTest, AClientThatVerifiesAcceptsTheRightServerOnly) {
  ssl::context server = make_server_context(server_files());
  ssl::context client = make_client_context(TlsFiles{"", "", "", certs_.ca_cert, PeerVerification::kRequired});
  EXPECT_EQ(handshake(server, client, "127.0.0.1"), "");
  EXPECT_EQ(handshake(server, client, "localhost"), "");
  EXPECT_NE(handshake(server, client, "db.example"), "") << "a certificate for another name was accepted";

  TlsFiles other{certs_.other_server_cert, certs_.other_server_key, "", "", PeerVerification::kNone};
  ssl::context impostor = make_server_context(other);
  EXPECT_NE(handshake(impostor, client, "127.0.0.1"), "") << "a certificate from another CA was accepted";

  ssl::context trusting = make_client_context(TlsFiles{"", "", "", "", PeerVerification::kNone});
  EXPECT_EQ(handshake(impostor, trusting, "127.0.0.1"), "");
}

TEST_F(TlsContextTest, AServerThatRequiresClientCertificatesRefusesClientsWithout) {
  ssl::context server = make_server_context(server_files(PeerVerification::kRequired));
  ssl::context with_cert = make_client_context(
      TlsFiles{certs_.client_cert, certs_.client_key, "", certs_.ca_cert, PeerVerification::kRequired});
  ssl::context without_cert = make_client_context(TlsFiles{"", "", "", certs_.ca_cert, PeerVerification::kRequired});
  ssl::context foreign_cert = make_client_context(
      TlsFiles{certs_.other_server_cert, certs_.other_server_key, "", certs_.ca_cert, PeerVerification::kRequired});
  EXPECT_EQ(handshake(server, with_cert, "127.0.0.1"), "");
  EXPECT_NE(handshake(server, without_cert, "127.0.0.1"), "");
  EXPECT_NE(handshake(server, foreign_cert, "127.0.0.1"), "");

  ssl::context optional = make_server_context(server_files(PeerVerification::kOptional));
  EXPECT_EQ(handshake(optional, without_cert, "127.0.0.1"), "");
  EXPECT_EQ(handshake(optional, with_cert, "127.0.0.1"), "");
  EXPECT_NE(handshake(optional, foreign_cert, "127.0.0.1"), "") << "optional still checks a certificate that is sent";
}

}  // namespace
}  // namespace pgha::tls
