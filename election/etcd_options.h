// EtcdClientOptions: how to reach etcd. Plain validated-elsewhere values (the agent's config
// loader fills them from its etcd3 section and the timing settings, see etcd_client_options()
// in agent_config.h); copied into the client.
#pragma once

#include <chrono>
#include <string>
#include <vector>

#include "tls_context/tls_files.h"

namespace pgha::election {

struct EtcdClientOptions {
  // "http://127.0.0.1:2379", "https://etcd1:2379", "127.0.0.1:2379" (http assumed); tried in
  // order, starting from the last one that answered. An https member's certificate must chain to
  // tls.cacert and name the host as written here (DNS name or IP address).
  std::vector<std::string> endpoints;
  // For https members (etcd3.cacert, cert, key, key_password): cafile is the CA bundle etcd's
  // certificate must chain to (empty: the system's CAs), certfile/keyfile the client certificate
  // shown to etcd (optional). Read when the client is made: a missing or broken file makes that
  // throw pgha::tls::TlsConfigError. Verification is on unless `verify` says kNone.
  tls::TlsFiles tls{.verify = tls::PeerVerification::kRequired};
  // Deadline of a call that does not name its own: all endpoint attempts fit inside it.
  std::chrono::milliseconds call_timeout{2000};
  // Upper bound for one TCP connect, and for each wait of an https member's TLS handshake, so a
  // black-holed member (or one that accepts and never answers) leaves time for the next one.
  std::chrono::milliseconds connect_timeout{500};
  // Empty username = no authentication; otherwise a token from /v3/auth/authenticate is sent in
  // the "Authorization" header and renewed when etcd rejects it.
  std::string username;
  std::string password;
  // A watch stream silent for this long is reopened (from its next revision), which also
  // catches a half-open connection to a member that vanished.
  std::chrono::milliseconds watch_idle_timeout{std::chrono::seconds{60}};
  // Pause before reopening a broken watch stream; doubles up to 8x while endpoints keep failing.
  std::chrono::milliseconds watch_retry_delay{100};
};

}  // namespace pgha::election
