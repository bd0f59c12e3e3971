// See rest_client.h.
#include "election/rest_client.h"

#include <cstring>
#include <optional>
#include <string_view>

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include "election/http_url.h"
#include "tls_context/tls_context.h"

namespace pgha::election {
namespace {

int give_password(char* buffer, int size, int, void* password) {
  const std::size_t length = std::min(std::strlen(static_cast<const char*>(password)), static_cast<std::size_t>(size));
  std::memcpy(buffer, password, length);
  return static_cast<int>(length);
}

std::string openssl_reason() {
  const std::string reason = tls::take_openssl_error();
  return reason.empty() ? "unknown OpenSSL error" : reason;
}

// The client certificate (chain) and its key into cpp-httplib's context; "" or why not. The files
// were proven when the config loaded; this says which one went wrong since.
std::string use_client_certificate(SSL_CTX* context, const tls::TlsFiles& files) {
  ERR_clear_error();
  if (SSL_CTX_use_certificate_chain_file(context, files.certfile.c_str()) != 1) {
    return "certificate " + files.certfile + ": " + openssl_reason();
  }
  const std::string& keyfile = files.keyfile.empty() ? files.certfile : files.keyfile;
  // Always a callback: OpenSSL's default one would prompt on the terminal for a password.
  SSL_CTX_set_default_passwd_cb(context, give_password);
  SSL_CTX_set_default_passwd_cb_userdata(context, const_cast<char*>(files.keyfile_password.c_str()));
  const bool loaded = SSL_CTX_use_PrivateKey_file(context, keyfile.c_str(), SSL_FILETYPE_PEM) == 1 &&
                      SSL_CTX_check_private_key(context) == 1;
  SSL_CTX_set_default_passwd_cb_userdata(context, nullptr);
  return loaded ? "" : "key " + keyfile + ": " + openssl_reason();
}

void set_timeout(std::chrono::milliseconds timeout, const auto& setter) {
  setter(static_cast<time_t>(timeout.count() / 1000), static_cast<time_t>((timeout.count() % 1000) * 1000));
}

}  // namespace

RestClient::RestClient(const std::string& api_url, const AgentConfig& config,
                       std::chrono::milliseconds connect_timeout, std::chrono::milliseconds read_timeout) {
  const std::optional<HttpUrl> address = parse_http_url(api_url, UrlKind::kApiUrl);
  if (!address) {
    error_ = "no REST API address in '" + api_url + "'";
    return;
  }
  const bool v6 = address->host.find(':') != std::string::npos;
  base_ = (address->https ? "https://" : "http://") + (v6 ? "[" + address->host + "]" : address->host) + ":" +
          std::to_string(address->port);
  std::unique_ptr<httplib::ClientImpl> client;
  if (address->https) {
    auto https = std::make_unique<httplib::SSLClient>(address->host, address->port);
    const tls::TlsFiles& files = config.ctl_tls;
    if (!https->is_valid()) {
      error_ = "cannot make a TLS client: " + openssl_reason();
      return;
    }
    // cpp-httplib then checks the chain (SSL_get_verify_result) and the host name or address.
    https->enable_server_certificate_verification(files.verify == tls::PeerVerification::kRequired);
    if (!files.cafile.empty()) https->set_ca_cert_path(files.cafile);
    if (!files.certfile.empty()) {
      if (error_ = use_client_certificate(https->ssl_context(), files); !error_.empty()) return;
    }
    tls_ = https.get();
    client = std::move(https);
  } else {
    client = std::make_unique<httplib::ClientImpl>(address->host, address->port);
  }
  set_timeout(connect_timeout, [&client](time_t s, time_t us) { client->set_connection_timeout(s, us); });
  set_timeout(read_timeout, [&client](time_t s, time_t us) { client->set_read_timeout(s, us); });
  set_timeout(read_timeout, [&client](time_t s, time_t us) { client->set_write_timeout(s, us); });
  if (!config.ctl_username.empty()) client->set_basic_auth(config.ctl_username, config.ctl_password);
  client_ = std::move(client);
}

httplib::Result RestClient::get(const std::string& path) { return client_->Get(path); }

httplib::Result RestClient::post(const std::string& path, const std::string& json_body) {
  return client_->Post(path, json_body, "application/json");
}

httplib::Result RestClient::del(const std::string& path) { return client_->Delete(path); }

std::string RestClient::describe_failure(const httplib::Result& result) const {
  switch (result.error()) {
    case httplib::Error::SSLServerVerification: {
      const long verify = tls_ != nullptr ? tls_->get_openssl_verify_result() : X509_V_OK;
      return std::string("its TLS certificate was refused (") +
             (verify == X509_V_OK ? "it does not name the host" : X509_verify_cert_error_string(verify)) + ")";
    }
    case httplib::Error::SSLConnection:
      return "the TLS handshake failed (does it require a client certificate?)";
    case httplib::Error::SSLLoadingCerts:
      return "cannot load the CA file to check its certificate";
    default:
      return httplib::to_string(result.error());
  }
}

}  // namespace pgha::election
