// CheckSpec: the plain, validated description of one health check of one server.
// Produced by proxy's config loaders, consumed by the checkers and CheckState.
// A value type: copy it freely, share it across threads read-only.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>

namespace boost::asio::ssl {
class context;
}

namespace pgha::health {

using Millis = std::chrono::milliseconds;

enum class CheckType {
  kNone,   // no "check": the server is always considered UP
  kTcp,    // "check" with no option: connect succeeds → healthy
  kHttp,   // option httpchk
  kPgsql,  // option pgsql-check user U
};

// HAProxy's check timing: inter/fastinter/downinter and the rise/fall thresholds.
struct CheckTiming {
  Millis inter{2000};
  Millis fastinter{0};  // 0 → same as inter (HAProxy's rule)
  Millis downinter{0};  // 0 → same as inter
  int rise = 2;
  int fall = 3;
  // Deadline for one whole check (connect + send + read). 0 → inter (HAProxy's rule
  // when "timeout check" is not set).
  Millis timeout{0};
  // Connect part of the deadline ("timeout connect"); 0 → timeout.
  Millis connect_timeout{0};
};

// How a server starts before its first check result. HAProxy starts every server UP;
// pgha starts DOWN and fires the first check at once, so that the first result decides.
// In HAProxy 3.1's "init-state" terms:
//  - kDownUntilFirstCheck ~ "down": DOWN, health rise-1, the first success brings it UP;
//    and pgha fires the first check at once (next_interval() is 0 before it).
//  - kUp   = "fully-up":   UP with full health (rise+fall-1): `fall` failures to go DOWN.
//  - kDown = "fully-down": DOWN with health 0: `rise` successes to go UP.
//  - kUpUntilFirstFailure = "up", HAProxy's default (health = rise, "up, but will fall down
//    at first failure"): UP, and DOWN at the first failed check.
enum class InitialState { kDownUntilFirstCheck, kUp, kDown, kUpUntilFirstFailure };

struct HttpCheckSpec {
  std::string method = "OPTIONS";  // HAProxy's default "option httpchk" → OPTIONS / HTTP/1.0
  std::string path = "/";
  std::string version = "HTTP/1.0";
  std::string host_header;         // empty → no Host header (HTTP/1.0)
  int expect_status = 0;           // 0 → any 2xx or 3xx passes (HAProxy's default)
};

struct PgsqlCheckSpec {
  std::string user;                // "option pgsql-check user U"
  bool ssl_request = false;        // send SSLRequest first; 'S' or 'N' → healthy
};

// HAProxy's "check-ssl" and the server keywords that go with it: the check runs inside TLS (the
// handshake is part of the check's deadline), then sends the protocol's probe as usual.
struct CheckTlsSpec {
  bool enabled = false;    // check-ssl
  bool verify = true;      // verify required|none (HAProxy's default, from ssl-server-verify: required)
  std::string ca_file;     // ca-file; "@system-ca": the system's CAs
  std::string cert_file;   // crt: client certificate, presented when the server asks for one
  std::string key_file;    // its key; empty → in cert_file (HAProxy's crt)
  std::string sni;         // check-sni: sent as SNI, and the name verified
  std::string verify_host; // verifyhost: the name verified when no check-sni is given
  // Built once when the config is loaded, one per distinct (verify, ca_file, cert_file,
  // key_file), shared read-only by the checkers that use those settings (each check makes its
  // own stream from it). Set whenever `enabled` is.
  std::shared_ptr<boost::asio::ssl::context> context;
};

// The name a TLS check sends as SNI and/or verifies in the server's certificate, HAProxy's way:
// check-sni when given, else verifyhost; and, safer than HAProxy (which then checks no name),
// the address checked when neither is given and the certificate is verified. Empty: no name.
inline const std::string& check_tls_server_name(const CheckTlsSpec& tls, const std::string& checked_host) {
  static const std::string kNone;
  if (!tls.sni.empty()) return tls.sni;
  if (!tls.verify) return kNone;
  return tls.verify_host.empty() ? checked_host : tls.verify_host;
}

// What a failed client connect to the server does (HAProxy's "observe layer4" with "on-error"):
// after `error_limit` consecutive failed connects (refused, reset, unreachable, timed out),
//  - kFastinter: check the server at once, and at fastinter until its state is settled;
//  - kFailCheck: count a failed check, then check at once (HAProxy's default action);
//  - kSuddenDeath: leave the server one failed check from DOWN, then check at once;
//  - kMarkDown: mark the server DOWN now, then check at once (a passing check brings it back
//    after `rise` successes).
enum class OnError { kFastinter, kFailCheck, kSuddenDeath, kMarkDown };

struct ObserveSpec {
  bool layer4 = false;             // "observe layer4": failed connects are evidence
  int error_limit = 10;            // HAProxy's default
  OnError on_error = OnError::kFailCheck;
};

struct CheckSpec {
  CheckType type = CheckType::kNone;
  std::string host;                // address to check (the server's address)
  uint16_t port = 0;               // "port N" on the server line, else the server's port
  CheckTiming timing;
  InitialState initial_state = InitialState::kDownUntilFirstCheck;
  HttpCheckSpec http;
  PgsqlCheckSpec pgsql;
  CheckTlsSpec tls;
  ObserveSpec observe;
};

// Effective deadline of one check run, per HAProxy's rules above.
inline Millis check_deadline(const CheckTiming& t) {
  return t.timeout.count() > 0 ? t.timeout : t.inter;
}

}  // namespace pgha::health
