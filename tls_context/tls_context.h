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

#include "tls_context/tls_files.h"

namespace pgha::tls {

class TlsConfigError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// OpenSSL's reason for its last failure ("" when it recorded none); its error queue is cleared.
std::string take_openssl_error();

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
// The same check for every connection made from `ctx` (no SNI: that is set per connection), for a
// client library that creates the SSL itself from a context of its own per connection.
[[nodiscard]] bool expect_server_name(SSL_CTX* ctx, const std::string& host);

}  // namespace pgha::tls
