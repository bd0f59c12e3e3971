// HttpClientFactory: makes the cpp-httplib client for one URL, plain for http:// and TLS for
// https://, where the server's certificate is verified against the CA file (or the system's
// CAs) and must name the host as the URL writes it (DNS name or IP address), and a client
// certificate is presented when one is configured. The files are read and checked once, when the
// factory is made; every client then shares that material (an https client still costs one
// SSL_CTX of its own, since cpp-httplib 0.11 makes one per client).
// Making one sets SIGPIPE to be ignored in the whole process unless a handler is installed
// (OpenSSL writes to sockets without MSG_NOSIGNAL).
// Owned by its user (the etcd transport). Const and thread-safe once made; a client it makes
// belongs to the thread that sends with it (describe_failure() reads that thread's OpenSSL errors).
#pragma once

#include <memory>
#include <string>

namespace boost::asio::ssl {
class context;
}
namespace httplib {
class ClientImpl;
enum class Error;
}  // namespace httplib

namespace pgha::tls {
struct TlsFiles;
}

namespace pgha::election {

class HttpClientFactory {
 public:
  // Reads the files for https (see pgha::tls::make_client_context(); `files.verify` kNone skips
  // the server's check). Throws pgha::tls::TlsConfigError naming the file that failed.
  explicit HttpClientFactory(const tls::TlsFiles& files);
  ~HttpClientFactory();
  HttpClientFactory(const HttpClientFactory&) = delete;
  HttpClientFactory& operator=(const HttpClientFactory&) = delete;

  // A client for "http://HOST:PORT", "https://HOST:PORT" or "HOST:PORT" (http); HOST may be a
  // bracketed IPv6 literal. nullptr when `url` is none of these. Also clears the calling thread's
  // OpenSSL error queue, so that describe_failure() after this client's send() speaks of it only.
  std::unique_ptr<httplib::ClientImpl> make(const std::string& url) const;

  // Why `client`'s send() failed with `error`, for a log line: cpp-httplib's words, and for a TLS
  // client which certificate check failed ("the server's certificate is not trusted: certificate
  // has expired"), what OpenSSL reported ("tlsv13 alert certificate required"), or that a server
  // closed the connection of a client without certificate.
  static std::string describe_failure(const httplib::ClientImpl& client, httplib::Error error);

 private:
  std::unique_ptr<boost::asio::ssl::context> tls_;
};

}  // namespace pgha::election
