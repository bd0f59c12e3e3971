#include "tests/support/test_certs.h"

#include <unistd.h>

#include <fstream>
#include <stdexcept>
#include <vector>

#include "tests/support/run_program.h"

namespace pgha::test {

namespace {

void openssl(const std::vector<std::string>& args) {
  std::vector<std::string> argv{"/usr/bin/openssl"};
  argv.insert(argv.end(), args.begin(), args.end());
  const ProgramResult result = run_program(argv, std::chrono::seconds(60));
  if (result.exit_code != 0) {
    std::string command;
    for (const std::string& arg : argv) command += arg + " ";
    throw std::runtime_error("test certificates: " + command + "failed:\n" + result.output);
  }
}

void make_ca(const std::filesystem::path& dir, const std::string& name) {
  openssl({"req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-days", "30",
           "-subj", "/CN=" + name, "-keyout", (dir / (name + ".key")).string(), "-out", (dir / (name + ".crt")).string()});
}

// A certificate for `cn` signed by `ca`, with the given subjectAltName and extended key usage.
void make_leaf(const std::filesystem::path& dir, const std::string& ca, const std::string& name, const std::string& cn,
               const std::string& extensions) {
  const std::string key = (dir / (name + ".key")).string();
  const std::string csr = (dir / (name + ".csr")).string();
  const std::string ext = (dir / (name + ".ext")).string();
  std::ofstream(ext) << extensions;
  openssl({"req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-subj", "/CN=" + cn,
           "-keyout", key, "-out", csr});
  openssl({"x509", "-req", "-in", csr, "-CA", (dir / (ca + ".crt")).string(), "-CAkey", (dir / (ca + ".key")).string(),
           "-CAcreateserial", "-days", "30", "-extfile", ext, "-out", (dir / (name + ".crt")).string()});
}

}  // namespace

TestCerts make_test_certs(const std::filesystem::path& parent) {
  // ctest runs each test of an executable as its own process, several at once: each writes its
  // own set, or one would read a key another is rewriting.
  const std::filesystem::path dir = parent / ("certs-" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  const std::string server_ext =
      "subjectAltName=IP:127.0.0.1,IP:::1,DNS:localhost\nextendedKeyUsage=serverAuth,clientAuth\n";
  make_ca(dir, "ca");
  make_leaf(dir, "ca", "server", "localhost", server_ext);
  make_leaf(dir, "ca", "client", "pgha-client", "extendedKeyUsage=clientAuth\n");
  make_ca(dir, "other-ca");
  make_leaf(dir, "other-ca", "other-server", "localhost", server_ext);
  const std::string encrypted = (dir / "server-encrypted.key").string();
  openssl({"pkey", "-in", (dir / "server.key").string(), "-aes256", "-passout", "pass:secret", "-out", encrypted});
  auto path = [&](const char* name) { return (dir / name).string(); };
  {
    std::ofstream pem(path("client.pem"));
    pem << std::ifstream(path("client.crt")).rdbuf() << std::ifstream(path("client.key")).rdbuf();
    if (!pem) throw std::runtime_error("test certificates: cannot write " + path("client.pem"));
  }
  return TestCerts{path("ca.crt"),     path("server.crt"),   path("server.key"),       encrypted,
                   path("client.crt"), path("client.key"),   path("client.pem"),       path("other-ca.crt"),
                   path("other-server.crt"), path("other-server.key")};
}

}  // namespace pgha::test
