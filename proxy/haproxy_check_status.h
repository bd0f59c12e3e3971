// The words HAProxy 2.6's Prometheus exporter uses for a health check's outcome (the `state`
// label of haproxy_server_check_status), and the one that fits pgha's latest check of a server.
// Pure functions, callable from any thread.
#pragma once

#include <array>
#include <string_view>

#include "health/check_spec.h"
#include "proxy/health_monitor.h"

namespace pgha::proxy {

// Every state HAProxy 2.6 writes for a server with checks, in its order (the check outcomes that
// can fail or pass; the internal ones such as INI are never written).
inline constexpr std::array<std::string_view, 16> kHaproxyCheckStates = {
    "HANA", "SOCKERR", "L4OK", "L4TOUT", "L4CON", "L6OK", "L6TOUT", "L6RSP",
    "L7TOUT", "L7RSP", "L7OK", "L7OKC", "L7STS", "PROCERR", "PROCTOUT", "PROCOK"};

// HAProxy's word for the latest check of a server checked with `type` (TLS when `tls`), or ""
// before the first check has a result (HAProxy then writes 0 for every state). Follows HAProxy's
// rules: a refused or failed connect is L4CON, its timeout L4TOUT, a TLS handshake failure L6RSP
// (timeout L6TOUT), a passed TCP connect L4OK (L6OK over TLS), a passed HTTP or pgsql check
// L7OK, an HTTP status other than the expected one L7STS, a PostgreSQL error reply L7RSP, other
// replies HAProxy's pgsql-check rejects L7STS, a reply timeout L7TOUT, garbled or missing HTTP
// replies L7RSP, and a check that could not get a socket SOCKERR.
std::string_view haproxy_check_status(health::CheckType type, bool tls, const ServerHealth& health);

}  // namespace pgha::proxy
