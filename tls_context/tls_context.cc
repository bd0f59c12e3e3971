#include "tls_context/tls_context.h"

#include <openssl/err.h>
#include <openssl/x509v3.h>
#include <sys/stat.h>

#include <boost/asio/ip/address.hpp>
#include <boost/system/error_code.hpp>

namespace pgha::tls {

namespace ssl = boost::asio::ssl;

namespace {

// OpenSSL's reason for the last failure, or the error code's message; the queue is cleared.
std::string reason_of(const boost::system::error_code& ec) {
  std::string reason = take_openssl_error();
  return reason.empty() ? ec.message() : reason;
}

// A file that is not there or not a regular file gets a plain message before OpenSSL's.
void require_regular_file(const std::string& path, const char* what) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) throw TlsConfigError(std::string(what) + " " + path + ": cannot open");
  if (!S_ISREG(st.st_mode)) throw TlsConfigError(std::string(what) + " " + path + ": not a regular file");
}

void check(const boost::system::error_code& ec, const char* what, const std::string& path) {
  if (ec) throw TlsConfigError(std::string(what) + " " + path + ": " + reason_of(ec));
}

ssl::context new_context(ssl::context::method method) {
  ssl::context context(method);
  context.set_options(ssl::context::default_workarounds | ssl::context::no_sslv2 | ssl::context::no_sslv3 |
                      ssl::context::no_tlsv1 | ssl::context::no_tlsv1_1 | ssl::context::single_dh_use);
  return context;
}

void load_own_certificate(ssl::context& context, const TlsFiles& files) {
  boost::system::error_code ec;
  require_regular_file(files.certfile, "certificate");
  context.use_certificate_chain_file(files.certfile, ec);
  check(ec, "certificate", files.certfile);
  const std::string& keyfile = files.keyfile.empty() ? files.certfile : files.keyfile;
  require_regular_file(keyfile, "key");
  // Always a callback, an empty password included: OpenSSL's default one would prompt on the
  // terminal for an encrypted key, and a service must fail instead.
  const std::string password = files.keyfile_password;
  context.set_password_callback([password](std::size_t, ssl::context::password_purpose) { return password; });
  context.use_private_key_file(keyfile, ssl::context::pem, ec);
  check(ec, "key", keyfile);
  if (::SSL_CTX_check_private_key(context.native_handle()) != 1) {
    throw TlsConfigError("key " + keyfile + ": does not match certificate " + files.certfile + ": " +
                         reason_of(boost::system::error_code{}));
  }
}

void load_cafile(ssl::context& context, const std::string& cafile) {
  boost::system::error_code ec;
  require_regular_file(cafile, "CA file");
  context.load_verify_file(cafile, ec);
  check(ec, "CA file", cafile);
}

}  // namespace

std::string take_openssl_error() {
  std::string reason;
  if (unsigned long code = ::ERR_peek_last_error(); code != 0) {
    char buffer[256];
    ::ERR_error_string_n(code, buffer, sizeof buffer);
    reason = buffer;
  }
  ::ERR_clear_error();
  return reason;
}

PeerVerification parse_peer_verification(const std::string& text) {
  if (text == "none") return PeerVerification::kNone;
  if (text == "optional") return PeerVerification::kOptional;
  if (text == "required") return PeerVerification::kRequired;
  throw TlsConfigError("unknown verification '" + text + "' (none, optional, required)");
}

ssl::context make_server_context(const TlsFiles& files) {
  if (files.certfile.empty()) throw TlsConfigError("a TLS listener needs a certificate file");
  ssl::context context = new_context(ssl::context::tls_server);
  load_own_certificate(context, files);
  if (!files.ciphers.empty() && ::SSL_CTX_set_cipher_list(context.native_handle(), files.ciphers.c_str()) != 1) {
    throw TlsConfigError("ciphers '" + files.ciphers + "': " + reason_of(boost::system::error_code{}));
  }
  if (files.verify == PeerVerification::kNone) {
    context.set_verify_mode(ssl::verify_none);
    if (!files.cafile.empty()) load_cafile(context, files.cafile);
    return context;
  }
  if (files.cafile.empty()) throw TlsConfigError("verifying client certificates needs a CA file");
  load_cafile(context, files.cafile);
  // The CAs named to the client, so it knows which certificate to present.
  if (STACK_OF(X509_NAME)* names = ::SSL_load_client_CA_file(files.cafile.c_str())) {
    ::SSL_CTX_set_client_CA_list(context.native_handle(), names);
  }
  ::ERR_clear_error();
  context.set_verify_mode(files.verify == PeerVerification::kRequired
                              ? ssl::verify_peer | ssl::verify_fail_if_no_peer_cert
                              : ssl::verify_peer);
  return context;
}

ssl::context make_client_context(const TlsFiles& files) {
  if (files.verify == PeerVerification::kOptional) {
    throw TlsConfigError("'optional' verification is for listeners; a client verifies (required) or not (none)");
  }
  ssl::context context = new_context(ssl::context::tls_client);
  if (!files.certfile.empty()) load_own_certificate(context, files);
  if (files.verify == PeerVerification::kNone) {
    context.set_verify_mode(ssl::verify_none);
    return context;
  }
  if (files.cafile.empty()) {
    boost::system::error_code ec;
    context.set_default_verify_paths(ec);
    check(ec, "CA file", "(system default)");
  } else {
    load_cafile(context, files.cafile);
  }
  context.set_verify_mode(ssl::verify_peer);
  return context;
}

namespace {

// Makes verification with `param` require that the certificate names `host`; false when OpenSSL
// refuses the name. `is_ip` tells whether host is an IP address (which is never sent as SNI).
bool require_name(X509_VERIFY_PARAM* param, const std::string& host, bool& is_ip) {
  boost::system::error_code ec;
  const auto address = boost::asio::ip::make_address(host, ec);
  is_ip = !ec;
  if (is_ip) return ::X509_VERIFY_PARAM_set1_ip_asc(param, address.to_string().c_str()) == 1;
  ::X509_VERIFY_PARAM_set_hostflags(param, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
  return ::X509_VERIFY_PARAM_set1_host(param, host.c_str(), 0) == 1;
}

}  // namespace

bool expect_server_name(SSL* ssl, const std::string& host) {
  bool is_ip = false;
  bool ok = require_name(::SSL_get0_param(ssl), host, is_ip);
  if (ok && !is_ip) ok = ::SSL_set_tlsext_host_name(ssl, host.c_str()) == 1;
  if (!ok) ::ERR_clear_error();
  return ok;
}

bool expect_server_name(SSL_CTX* ctx, const std::string& host) {
  bool is_ip = false;
  const bool ok = require_name(::SSL_CTX_get0_param(ctx), host, is_ip);
  if (!ok) ::ERR_clear_error();
  return ok;
}

}  // namespace pgha::tls
