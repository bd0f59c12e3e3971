// See http_client_factory.h.
#include "election/http_client_factory.h"

#include <signal.h>

#include <optional>
#include <string_view>

#include <httplib.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509_vfy.h>

#include "election/http_url.h"
#include "tls_context/tls_context.h"

namespace pgha::election {
namespace {

// An https client that remembers why OpenSSL refused the server's certificate (the handshake
// itself only says "certificate verify failed").
class VerifyingClient : public httplib::SSLClient {
 public:
  using httplib::SSLClient::SSLClient;
  long verify_error() const { return verify_error_; }

  // OpenSSL's verify callback: the first refusal of the chain is kept in the client whose
  // context made the connection (the context's app data).
  static int remember_refusal(int preverify_ok, X509_STORE_CTX* store) {
    if (preverify_ok != 1) {
      auto* ssl = static_cast<SSL*>(::X509_STORE_CTX_get_ex_data(store, ::SSL_get_ex_data_X509_STORE_CTX_idx()));
      auto* self = ssl == nullptr ? nullptr : static_cast<VerifyingClient*>(SSL_CTX_get_app_data(::SSL_get_SSL_CTX(ssl)));
      if (self != nullptr && self->verify_error_ == X509_V_OK) self->verify_error_ = ::X509_STORE_CTX_get_error(store);
    }
    return preverify_ok;
  }

 private:
  long verify_error_ = X509_V_OK;
};

// Gives `client`'s own context what the shared one holds: the trusted CAs, the client certificate
// with its chain and key, the verification mode, TLS 1.2 at least, and the name to check.
bool configure(VerifyingClient& client, SSL_CTX* shared, const std::string& host) {
  SSL_CTX* ctx = client.ssl_context();
  if (ctx == nullptr) return false;
  X509_STORE* store = ::SSL_CTX_get_cert_store(shared);
  if (::X509_STORE_up_ref(store) != 1) return false;
  ::SSL_CTX_set_cert_store(ctx, store);
  STACK_OF(X509)* chain = nullptr;
  if (SSL_CTX_get0_chain_certs(shared, &chain) == 1 && chain != nullptr && SSL_CTX_set1_chain(ctx, chain) != 1) {
    return false;
  }
  if (SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION) != 1) return false;
  SSL_CTX_set_app_data(ctx, &client);
  const int mode = ::SSL_CTX_get_verify_mode(shared);
  ::SSL_CTX_set_verify(ctx, mode, mode == SSL_VERIFY_NONE ? nullptr : &VerifyingClient::remember_refusal);
  // cpp-httplib's own check would load the system's CAs into the shared store; the context's
  // verification (above) does the whole job, during the handshake.
  client.enable_server_certificate_verification(false);
  return mode == SSL_VERIFY_NONE || tls::expect_server_name(ctx, host);
}

}  // namespace

HttpClientFactory::HttpClientFactory(const tls::TlsFiles& files)
    : tls_(std::make_unique<boost::asio::ssl::context>(tls::make_client_context(files))) {
  // OpenSSL writes to the socket without MSG_NOSIGNAL: the close_notify sent to a server that has
  // already closed would kill the process. A handler someone installed is left alone.
  struct sigaction current {};
  if (::sigaction(SIGPIPE, nullptr, &current) == 0 && current.sa_handler == SIG_DFL) ::signal(SIGPIPE, SIG_IGN);
}

HttpClientFactory::~HttpClientFactory() = default;

std::unique_ptr<httplib::ClientImpl> HttpClientFactory::make(const std::string& url) const {
  const std::optional<HttpUrl> parsed = parse_http_url(url, UrlKind::kEtcdEndpoint);
  if (!parsed) return nullptr;
  std::unique_ptr<httplib::ClientImpl> made;
  if (!parsed->https) {
    made = std::make_unique<httplib::ClientImpl>(parsed->host, parsed->port);
  } else {
    SSL_CTX* shared = tls_->native_handle();
    auto client = std::make_unique<VerifyingClient>(parsed->host, parsed->port, ::SSL_CTX_get0_certificate(shared),
                                                    ::SSL_CTX_get0_privatekey(shared));
    if (configure(*client, shared, parsed->host)) made = std::move(client);
  }
  ::ERR_clear_error();
  return made;
}

std::string HttpClientFactory::describe_failure(const httplib::ClientImpl& client, httplib::Error error) {
  std::string text = httplib::to_string(error);
  if (const auto* tls = dynamic_cast<const VerifyingClient*>(&client)) {
    if (tls->verify_error() != X509_V_OK) {
      text = std::string("TLS: the server's certificate is not trusted: ") +
             ::X509_verify_cert_error_string(tls->verify_error());
    } else {
      if (const unsigned long code = ::ERR_peek_error(); code != 0) {
        const char* reason = ::ERR_reason_error_string(code);
        text += std::string(" (TLS: ") + (reason != nullptr ? std::string(reason) : "error " + std::to_string(code)) + ")";
      }
      // With TLS 1.3 a server judges the client's certificate once the handshake has completed on
      // the client's side: its refusal ends the first read or write (an alert, or a reset).
      if ((error == httplib::Error::Read || error == httplib::Error::Write) &&
          ::SSL_CTX_get0_certificate(tls->ssl_context()) == nullptr) {
        text += " (no client certificate was presented: does the server require one?)";
      }
    }
  }
  ::ERR_clear_error();
  return text;
}

}  // namespace pgha::election
