// make_test_certs(): a throwaway PKI for TLS tests, written by the openssl command into a
// directory of this process's own under `dir`:
// a CA, a server certificate for 127.0.0.1 / ::1 / localhost and a client certificate
// (CN pgha-client), both signed by that CA, and a second, unrelated CA with its own server
// certificate for "wrong CA" cases. Keys are unencrypted except encrypted_server_key (password
// "secret"). Blocking (a few openssl runs); throws std::runtime_error with openssl's output when
// a step fails. Thread-safe for distinct directories.
#pragma once

#include <filesystem>
#include <string>

namespace pgha::test {

struct TestCerts {
  std::string ca_cert;
  std::string server_cert;
  std::string server_key;
  std::string encrypted_server_key;  // server_key under the password "secret"
  std::string client_cert;
  std::string client_key;
  std::string client_pem;  // client_cert and client_key in one file, as HAProxy's `crt` takes them
  std::string other_ca_cert;      // a CA that signed nothing above
  std::string other_server_cert;  // for 127.0.0.1, signed by other_ca_cert
  std::string other_server_key;
};

TestCerts make_test_certs(const std::filesystem::path& dir);

}  // namespace pgha::test
