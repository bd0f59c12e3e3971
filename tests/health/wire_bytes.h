// Reply bytes as real servers send them, shared by the verdict and checker tests.
#pragma once

#include <string>

namespace pgha::health::testing {

using namespace std::string_literals;

// AuthenticationOk ("trust"), as the first of PostgreSQL 15's post-auth messages.
inline const std::string kPgTrustR0 = "R\0\0\0\x08\0\0\0\0"s;
// ParameterStatus "application_name" "", ..., ReadyForQuery 'I': what follows R0.
inline const std::string kPgAfterAuthOk =
    "S\0\0\0\x1a" "application_name\0\0"s + "S\0\0\0\x19" "client_encoding\0UTF8\0"s +
    "K\0\0\0\x0c\0\0\x30\x39\x12\x34\x56\x78"s + "Z\0\0\0\x05I"s;
// AuthenticationMD5Password with its 4-byte salt.
inline const std::string kPgMd5R5 = "R\0\0\0\x0c\0\0\0\x05\x9a\x3c\x01\xf7"s;
// AuthenticationCleartextPassword.
inline const std::string kPgCleartextR3 = "R\0\0\0\x08\0\0\0\x03"s;
// AuthenticationSASL offering SCRAM-SHA-256 (length 23).
inline const std::string kPgSaslR10 = "R\0\0\0\x17\0\0\0\x0aSCRAM-SHA-256\0\0"s;
// ErrorResponse of a server in recovery start-up (PostgreSQL 15's fields, length 104).
inline const std::string kPgStartingUpE =
    "E\0\0\0\x68"s + "SFATAL\0"s + "VFATAL\0"s + "C57P03\0"s + "Mthe database system is starting up\0"s +
    "Fpostmaster.c\0"s + "L2376\0"s + "RProcessStartupPacket\0"s + "\0"s;
// ErrorResponse for a user pg_hba rejects.
inline const std::string kPgNoHbaE =
    "E\0\0\0\x79"s + "SFATAL\0"s + "VFATAL\0"s + "C28000\0"s +
    "Mno pg_hba.conf entry for host \"127.0.0.1\", user \"x\", database \"x\", no encryption\0"s +
    "Fauth.c\0"s + "L543\0"s + "\0"s;
// HAProxy's regtest reply (450000000B53464154414C00): a severity, no message, and no final
// terminator.
inline const std::string kPgBareFatalE = "E\0\0\0\x0bSFATAL\0"s;

inline const std::string kHttp200 =
    "HTTP/1.0 200 OK\r\nServer: BaseHTTP/0.6 Python/3.11.2\r\nContent-Type: application/json\r\n\r\n"
    "{\"state\": \"running\", \"role\": \"master\"}";
inline const std::string kHttp503 =
    "HTTP/1.0 503 Service Unavailable\r\nServer: BaseHTTP/0.6 Python/3.11.2\r\n"
    "Content-Type: application/json\r\n\r\n{\"state\": \"running\", \"role\": \"replica\"}";

}  // namespace pgha::health::testing
