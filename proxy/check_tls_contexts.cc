// See check_tls_contexts.h.
#include "proxy/check_tls_contexts.h"

#include <boost/asio/ssl/context.hpp>

#include "tls_context/tls_context.h"

namespace pgha::proxy::config_detail {

void CheckTlsContexts::attach(health::CheckSpec& check, const CheckTlsSource& where, const std::string& refusal) {
  health::CheckTlsSpec& tls = check.tls;
  if (!tls.enabled) return;
  if (check.type == health::CheckType::kPgsql) {
    fail(where.server, "a pgsql check cannot run over TLS: PostgreSQL starts TLS only after an SSLRequest "
                       "(HAProxy's check would fail too)");
  }
  if (tls.verify && tls.ca_file.empty()) {
    fail(where.server, "the check verifies the server's certificate but has no CA file: " + refusal);
  }
  const bool system_ca = tls.ca_file == kSystemCa;
  tls::TlsFiles files{tls.cert_file, tls.key_file, "", system_ca ? "" : tls.ca_file,
                      tls.verify ? tls::PeerVerification::kRequired : tls::PeerVerification::kNone};
  if (!tls.verify) files.cafile.clear();  // not read, as HAProxy does not read it either
  Key key{tls.verify, files.cafile, files.certfile, files.keyfile};
  auto found = built_.find(key);
  if (found == built_.end()) {
    try {
      auto context = std::make_shared<boost::asio::ssl::context>(tls::make_client_context(files));
      found = built_.emplace(std::move(key), std::move(context)).first;
    } catch (const tls::TlsConfigError& e) {
      // The message names the file; the location is where that file was written.
      const std::string message = e.what();
      const bool ca = message.rfind("CA file", 0) == 0;
      const bool key_file = message.rfind("key ", 0) == 0 && !tls.key_file.empty();
      fail(ca ? where.ca_file : key_file ? where.key_file : where.cert_file, message);
    }
  }
  tls.context = found->second;
}

void check_tls_name(const std::string& name, const Location& at) {
  if (!is_valid_host(name)) fail(at, "'" + name + "' is neither a DNS name nor an IP address");
}

}  // namespace pgha::proxy::config_detail
