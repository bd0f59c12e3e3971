// EtcdClientOptions: how to reach etcd. Plain validated-elsewhere values (the agent's config
// loader fills them from `etcd3.hosts` and the timing settings); copied into the client.
#pragma once

#include <chrono>
#include <string>
#include <vector>

namespace pgha::election {

struct EtcdClientOptions {
  // "http://127.0.0.1:2379", "127.0.0.1:2379" (http assumed); tried in order, starting from the
  // last one that answered.
  std::vector<std::string> endpoints;
  // Deadline of a call that does not name its own: all endpoint attempts fit inside it.
  std::chrono::milliseconds call_timeout{2000};
  // Upper bound for one TCP connect, so a black-holed member leaves time for the next one.
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
