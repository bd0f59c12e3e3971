// CheckTlsContexts: the TLS client contexts of a config's TLS health checks (check-ssl), built
// while the config loads, so that a missing, unreadable or broken CA file, certificate or key is a
// ConfigError at load, at reload and under `pgha-proxy -c`, never a failing check later. One
// context per distinct (verify, CA file, certificate, key): servers with the same settings share
// it, and no check builds one. Also the checks both loaders make on a TLS check's settings.
// Internal to proxy/'s loaders; one per load, used on the loading thread.
#pragma once

#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <tuple>

#include "health/check_spec.h"
#include "proxy/config_loader.h"

namespace pgha::proxy::config_detail {

// Where a check's TLS settings were written, for errors found when their files are loaded.
struct CheckTlsSource {
  Location server;     // the server that uses them (errors that are about no one file)
  Location ca_file;
  Location cert_file;
  Location key_file;   // YAML's key_file; unused for haproxy.cfg (crt holds the key)
};

class CheckTlsContexts {
 public:
  // Sets check.tls.context when check.tls.enabled, after refusing what HAProxy refuses too: a
  // verifying check without a CA file (`refusal` is the loader's advice, in its own keywords)
  // and TLS on a pgsql check (PostgreSQL starts TLS only after an SSLRequest). A ca_file of
  // "@system-ca" means the system's CAs.
  void attach(health::CheckSpec& check, const CheckTlsSource& where, const std::string& refusal);

 private:
  using Key = std::tuple<bool, std::string, std::string, std::string>;
  std::map<Key, std::shared_ptr<boost::asio::ssl::context>> built_;
};

// A check-sni / verifyhost value: a DNS name or an IP address (it goes into the TLS hello).
void check_tls_name(const std::string& name, const Location& at);

// HAProxy's "@system-ca": the system's CAs in place of a CA file.
inline constexpr std::string_view kSystemCa = "@system-ca";

}  // namespace pgha::proxy::config_detail
