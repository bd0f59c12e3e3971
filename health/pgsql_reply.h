// The pgsql check's wire format: the packets PgsqlChecker sends (HAProxy's "option pgsql-check"
// StartupMessage, SSLRequest, Terminate) and the pure verdicts over the server's reply bytes.
// No I/O, no state: callable from any thread.
//
// HAProxy's probe is a protocol 3.0 StartupMessage carrying only "user", so the server
// answers with an authentication request 'R' (any method: 0 ok/trust, 3 cleartext, 5 md5,
// 10 SASL) when it accepts connections, or an ErrorResponse 'E' (e.g. 57P03 "the database
// system is starting up") when it does not.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

#include "health/reply_verdict.h"

namespace pgha::health {

// The checker reads at most this many reply bytes; a longer ErrorResponse is judged truncated.
inline constexpr std::size_t kMaxPgsqlReply = 8192;

// Int32 length, Int32 196608 (3.0), "user" NUL user NUL, NUL: HAProxy's bytes exactly.
std::string build_pgsql_startup_packet(std::string_view user);
// Int32 8, Int32 80877103.
std::string build_pgsql_ssl_request();
// 'X', Int32 4: ends a session that reached AuthenticationOk without a server-side log line.
std::string build_pgsql_terminate();

// Judges the reply to the StartupMessage. `complete` means no more bytes will come (EOF or a
// full buffer). Healthy on 'R' (verdict.code = the authentication request code); unhealthy on
// 'E' (detail carries the M field and SQLSTATE), on any other first byte and on a short reply.
ReplyVerdict judge_pgsql_startup_reply(std::string_view received, bool complete);

// Judges the one-byte reply to an SSLRequest: 'S' or 'N' → healthy ('S'/'N' in verdict.code);
// 'E' → as for the startup reply; anything else unhealthy.
ReplyVerdict judge_pgsql_ssl_reply(std::string_view received, bool complete);

// Human name of an authentication request code: 0 → "ok", 3 → "cleartext", 5 → "md5",
// 10 → "SASL", ...; "unknown" otherwise.
std::string_view pgsql_auth_method_name(int code);

}  // namespace pgha::health
