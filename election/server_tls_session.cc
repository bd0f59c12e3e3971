// See server_tls_session.h.
#include "election/server_tls_session.h"

#include <sys/socket.h>

#include <cerrno>
#include <cstdint>
#include <cstring>
#include <limits>
#include <stdexcept>

#include <openssl/err.h>

namespace pgha::election {
namespace {

int fd_of(BIO* bio) { return static_cast<int>(reinterpret_cast<std::intptr_t>(BIO_get_data(bio))); }

bool again(int error) { return error == EAGAIN || error == EWOULDBLOCK || error == EINTR; }

int bio_write(BIO* bio, const char* data, int size) {
  BIO_clear_retry_flags(bio);
  const ssize_t sent = ::send(fd_of(bio), data, static_cast<std::size_t>(size), MSG_NOSIGNAL | MSG_DONTWAIT);
  if (sent < 0 && again(errno)) BIO_set_retry_write(bio);
  return static_cast<int>(sent);
}

int bio_read(BIO* bio, char* data, int size) {
  BIO_clear_retry_flags(bio);
  const ssize_t got = ::recv(fd_of(bio), data, static_cast<std::size_t>(size), MSG_DONTWAIT);
  if (got < 0 && again(errno)) BIO_set_retry_read(bio);
  return static_cast<int>(got);
}

long bio_ctrl(BIO*, int command, long, void*) { return command == BIO_CTRL_FLUSH ? 1 : 0; }

int bio_create(BIO* bio) {
  BIO_set_init(bio, 1);
  return 1;
}

// Made once, kept for the life of the process.
BIO_METHOD* socket_method() {
  static BIO_METHOD* const method = [] {
    BIO_METHOD* m = BIO_meth_new(BIO_get_new_index() | BIO_TYPE_SOURCE_SINK, "pgha REST socket");
    if (m == nullptr || BIO_meth_set_write(m, bio_write) != 1 || BIO_meth_set_read(m, bio_read) != 1 ||
        BIO_meth_set_ctrl(m, bio_ctrl) != 1 || BIO_meth_set_create(m, bio_create) != 1) {
      throw std::runtime_error("REST API: OpenSSL cannot make a BIO method");
    }
    return m;
  }();
  return method;
}

int clamp(std::size_t size) { return static_cast<int>(std::min<std::size_t>(size, std::numeric_limits<int>::max())); }

}  // namespace

ServerTlsSession::ServerTlsSession(SSL_CTX* context, int fd) : ssl_(SSL_new(context)) {
  BIO* bio = ssl_ != nullptr ? BIO_new(socket_method()) : nullptr;
  if (bio == nullptr) {
    SSL_free(ssl_);
    ERR_clear_error();
    throw std::runtime_error("REST API: OpenSSL cannot make a TLS session");
  }
  BIO_set_data(bio, reinterpret_cast<void*>(static_cast<std::intptr_t>(fd)));
  SSL_set_bio(ssl_, bio, bio);
  SSL_set_mode(ssl_, SSL_MODE_RELEASE_BUFFERS | SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
  SSL_set_accept_state(ssl_);
}

ServerTlsSession::~ServerTlsSession() { SSL_free(ssl_); }

ServerTlsSession::Step ServerTlsSession::handshake() {
  ERR_clear_error();  // SSL_get_error() reads this thread's queue
  return step(SSL_do_handshake(ssl_) == 1 ? 1 : 0, 0);
}

ServerTlsSession::Step ServerTlsSession::read(char* data, std::size_t size) {
  ERR_clear_error();
  std::size_t got = 0;
  const int result = SSL_read_ex(ssl_, data, static_cast<std::size_t>(clamp(size)), &got);
  return step(result, got);
}

ServerTlsSession::Step ServerTlsSession::write(const char* data, std::size_t size) {
  ERR_clear_error();
  std::size_t sent = 0;
  const int result = SSL_write_ex(ssl_, data, static_cast<std::size_t>(clamp(size)), &sent);
  return step(result, sent);
}

bool ServerTlsSession::has_buffered_input() const { return SSL_has_pending(ssl_) == 1; }

void ServerTlsSession::send_close_notify() {
  ERR_clear_error();
  if (SSL_is_init_finished(ssl_)) (void)SSL_shutdown(ssl_);
  ERR_clear_error();
}

ServerTlsSession::Step ServerTlsSession::step(int result, std::size_t bytes) {
  Step s;
  if (result == 1) {
    s.bytes = bytes;
    return s;
  }
  const int code = SSL_get_error(ssl_, result);
  if (code == SSL_ERROR_WANT_READ) {
    s.want = Want::kRead;
    return s;
  }
  if (code == SSL_ERROR_WANT_WRITE) {
    s.want = Want::kWrite;
    return s;
  }
  s.failed = true;
  if (const unsigned long error = ERR_peek_error(); error != 0) {
    s.plain_http = ERR_GET_LIB(error) == ERR_LIB_SSL && ERR_GET_REASON(error) == SSL_R_HTTP_REQUEST;
    char text[256];
    ERR_error_string_n(error, text, sizeof text);
    s.error = text;
  } else if (code == SSL_ERROR_ZERO_RETURN) {
    s.error = "closed by the client";
  } else {
    s.error = code == SSL_ERROR_SYSCALL && errno != 0 ? std::strerror(errno) : "connection closed";
  }
  ERR_clear_error();
  return s;
}

}  // namespace pgha::election
