// TLS contexts for pgha's endpoints: make_server_context() for a listener (the agent's REST API)
// and make_client_context() for a client (HTTP health checks), both from the files a config
// names. Built once at start-up or reload; a file that is missing, unreadable, not PEM, a key
// that does not match its certificate, or a wrong key password throws TlsConfigError naming the
// file and OpenSSL's reason, so a broken config is refused before anything listens or checks.
// The contexts allow TLS 1.2 and later only.
// Pure construction; thread-safe. An asio::ssl::context may then be shared by the streams of
// one io_context (OpenSSL's SSL_CTX is reference counted and read-only once built).
#pragma once

#include <stdexcept>
#include <string>

#include <boost/asio/ssl/context.hpp>
#include <openssl/ssl.h>

namespace pgha::tls {

class TlsConfigError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// How the other side's certificate is checked.
enum class PeerVerification {
  kNone,      // not asked for (server) / not checked (client): encryption without authentication
  kOptional,  // server only: asked for, checked against cafile when sent, not required
  kRequired,  // checked against cafile; a peer without a valid certificate is refused
};

struct TlsFiles {
  std::string certfile;          // PEM certificate (chain); required for a server, optional for a client
  std::string keyfile;           // PEM private key; empty = the key is in certfile
  std::string keyfile_password;  // for an encrypted key; empty = none
  std::string cafile;            // PEM CA bundle the peer's certificate must chain to
  PeerVerification verify = PeerVerification::kNone;
  std::string ciphers;           // server only: OpenSSL's cipher list for TLS 1.2; empty = its defaults
};

// "none", "optional", "required" (Patroni's restapi.verify_client) → the mode; throws
// TlsConfigError otherwise.
PeerVerification parse_peer_verification(const std::string& text);

// A listener's context: certfile (and keyfile) required; cafile required unless verify is kNone.
boost::asio::ssl::context make_server_context(const TlsFiles& files);

// A client's context: with kRequired the server's certificate must chain to cafile (or, with no
// cafile, to the system's default CAs); with kNone it is not checked. A client certificate is
// presented when certfile is set. kOptional is refused (it means nothing for a client). The
// server's name is checked per connection: see expect_server_name().
boost::asio::ssl::context make_client_context(const TlsFiles& files);

// Before a client handshake on `ssl` (a stream's native_handle()): sends `host` as SNI when it
// is a DNS name, and makes the verification (when the context verifies) also require that the
// certificate names `host` (DNS name or IP address in subjectAltName). Returns false when
// OpenSSL refuses the name.
[[nodiscard]] bool expect_server_name(SSL* ssl, const std::string& host);

}  // namespace pgha::tls
