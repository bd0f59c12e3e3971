// TlsFiles: the files and the verification mode of one TLS endpoint as a config names them, a
// plain value that config structs hold without OpenSSL's or Asio's headers. tls_context.h turns
// it into a context. Value type.
#pragma once

#include <string>

namespace pgha::tls {

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

  bool operator==(const TlsFiles&) const = default;
};

}  // namespace pgha::tls
