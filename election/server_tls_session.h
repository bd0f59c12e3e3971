// ServerTlsSession: the server side of one TLS connection of the REST API, an OpenSSL SSL over the
// connection's non-blocking descriptor, stepped without ever blocking: each call does what it can
// and says whether it needs the socket readable or writable before it can go on. The caller waits
// (the gate's io thread with Asio, a worker with poll()) and calls again.
//
// Bytes go through a BIO of its own that sends with MSG_NOSIGNAL, so a client gone mid-reply is an
// error, never a SIGPIPE, whatever the process does with signals, and never blocks (MSG_DONTWAIT),
// whatever mode the descriptor is in. Read and write buffers are
// released while idle (SSL_MODE_RELEASE_BUFFERS): a connection waiting for its client holds little.
//
// Owned by HttpRequestGate's connection, then by the GatedRequest a worker answers: one thread at
// a time, handed over with the request. Does not own the descriptor.
#pragma once

#include <cstddef>
#include <string>

#include <openssl/ssl.h>

namespace pgha::election {

class ServerTlsSession {
 public:
  enum class Want { kNothing, kRead, kWrite };
  struct Step {
    std::size_t bytes = 0;    // read or written
    Want want = Want::kNothing;
    bool failed = false;      // TLS failed or the client closed; `error` says why
    bool plain_http = false;  // the handshake met a plain HTTP request
    std::string error;
    bool done() const { return !failed && want == Want::kNothing; }
  };

  // Throws std::runtime_error when OpenSSL cannot make the session (out of memory).
  ServerTlsSession(SSL_CTX* context, int fd);
  ~ServerTlsSession();
  ServerTlsSession(const ServerTlsSession&) = delete;
  ServerTlsSession& operator=(const ServerTlsSession&) = delete;

  Step handshake();
  Step read(char* data, std::size_t size);
  Step write(const char* data, std::size_t size);
  // Decrypted or received bytes OpenSSL holds: read() may return data without the socket being readable.
  bool has_buffered_input() const;
  // Sends close_notify if the socket takes it now; never waits.
  void send_close_notify();
  // For cpp-httplib's Request::ssl and the client certificate check.
  const SSL* ssl() const { return ssl_; }

 private:
  Step step(int result, std::size_t bytes);

  SSL* ssl_;
};

}  // namespace pgha::election
