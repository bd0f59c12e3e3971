// pgsql check packets and reply verdicts; see pgsql_reply.h. Message formats:
// https://www.postgresql.org/docs/15/protocol-message-formats.html
#include "health/pgsql_reply.h"

#include <cstdint>

#include "printable/printable_excerpt.h"

namespace pgha::health {
namespace {

constexpr std::uint32_t kProtocol30 = 196608;          // 3 << 16
constexpr std::uint32_t kSslRequestCode = 80877103;    // 1234 << 16 | 5679
// No real authentication request or error needs more; a larger length means the bytes are
// not the version-3 protocol (e.g. a pre-7.4 server's text error).
constexpr std::uint32_t kMaxMessageLength = 1 << 16;

void put_u32(std::string& out, std::uint32_t v) {
  out += static_cast<char>((v >> 24) & 0xff);
  out += static_cast<char>((v >> 16) & 0xff);
  out += static_cast<char>((v >> 8) & 0xff);
  out += static_cast<char>(v & 0xff);
}

std::uint32_t get_u32(std::string_view bytes, std::size_t at) {
  std::uint32_t v = 0;
  for (std::size_t i = 0; i < 4; ++i) v = (v << 8) | static_cast<unsigned char>(bytes[at + i]);
  return v;
}

ReplyVerdict short_reply(std::string_view received) {
  if (received.empty()) return ReplyVerdict::unhealthy_because("pgsql: connection closed without a reply");
  return ReplyVerdict::unhealthy_because("pgsql: short reply, closed after " +
                                         std::to_string(received.size()) + " bytes");
}

ReplyVerdict judge_authentication_request(std::string_view received, bool complete) {
  // 'R', Int32 length (>= 8), Int32 request code, [method-specific data]
  if (received.size() < 9) return complete ? short_reply(received) : ReplyVerdict::need_more();
  const std::uint32_t length = get_u32(received, 1);
  if (length < 8 || length > kMaxMessageLength) {
    return ReplyVerdict::unhealthy_because("pgsql: malformed authentication request (length " +
                                           std::to_string(length) + ")");
  }
  const int code = static_cast<int>(get_u32(received, 5));
  return ReplyVerdict::healthy_because("pgsql: auth request R" + std::to_string(code) + " (" +
                                           std::string(pgsql_auth_method_name(code)) + ")",
                                       code);
}

ReplyVerdict judge_error_response(std::string_view received, bool complete) {
  // 'E', Int32 length, then fields (Byte1 type, String value) ended by a zero byte.
  if (received.size() < 5) return complete ? short_reply(received) : ReplyVerdict::need_more();
  const std::uint32_t length = get_u32(received, 1);
  if (length < 4 || length > kMaxMessageLength) {
    // Not a version-3 ErrorResponse: a pre-7.4 server sends 'E' and a NUL-terminated text.
    std::string_view text = received.substr(1);
    text = text.substr(0, text.find('\0'));
    return ReplyVerdict::unhealthy_because("pgsql: E " + printable_excerpt(text, 200));
  }
  if (received.size() < 1 + std::size_t{length} && !complete) return ReplyVerdict::need_more();

  std::string_view fields = received.substr(5, std::size_t{length} - 4);  // may be truncated
  std::string_view message, severity, sqlstate;
  while (!fields.empty() && fields.front() != '\0') {
    const char type = fields.front();
    fields.remove_prefix(1);
    const std::size_t end = fields.find('\0');
    const std::string_view value = fields.substr(0, end);
    if (type == 'M') message = value;
    if (type == 'V' || (type == 'S' && severity.empty())) severity = value;
    if (type == 'C') sqlstate = value;
    if (end == std::string_view::npos) break;
    fields.remove_prefix(end + 1);
  }
  std::string why = "pgsql: E ";
  why += message.empty() ? std::string("(no message)") : printable_excerpt(message, 200);
  if (!severity.empty() || !sqlstate.empty()) {
    why += " (";
    why += printable_excerpt(severity, 16);
    if (!severity.empty() && !sqlstate.empty()) why += ' ';
    why += printable_excerpt(sqlstate, 5);
    why += ')';
  }
  return ReplyVerdict::unhealthy_because(std::move(why));
}

ReplyVerdict garbage(std::string_view received) {
  return ReplyVerdict::unhealthy_because("pgsql: garbage reply \"" + printable_excerpt(received) +
                                         "\" (not a PostgreSQL server?)");
}

}  // namespace

std::string build_pgsql_startup_packet(std::string_view user) {
  std::string body;
  put_u32(body, kProtocol30);
  body += "user";
  body += '\0';
  body += user;
  body += '\0';
  body += '\0';
  std::string packet;
  put_u32(packet, static_cast<std::uint32_t>(body.size() + 4));
  return packet + body;
}

std::string build_pgsql_ssl_request() {
  std::string packet;
  put_u32(packet, 8);
  put_u32(packet, kSslRequestCode);
  return packet;
}

std::string build_pgsql_terminate() {
  std::string packet = "X";
  put_u32(packet, 4);
  return packet;
}

ReplyVerdict judge_pgsql_startup_reply(std::string_view received, bool complete) {
  if (received.empty()) return complete ? short_reply(received) : ReplyVerdict::need_more();
  switch (received.front()) {
    case 'R':
      return judge_authentication_request(received, complete);
    case 'E':
      return judge_error_response(received, complete);
    default:
      return garbage(received);
  }
}

ReplyVerdict judge_pgsql_ssl_reply(std::string_view received, bool complete) {
  if (received.empty()) return complete ? short_reply(received) : ReplyVerdict::need_more();
  switch (received.front()) {
    case 'S':
      return ReplyVerdict::healthy_because("pgsql: SSLRequest accepted (S)", 'S');
    case 'N':
      return ReplyVerdict::healthy_because("pgsql: SSLRequest declined (N)", 'N');
    case 'E':
      return judge_error_response(received, complete);
    default:
      return garbage(received);
  }
}

std::string_view pgsql_auth_method_name(int code) {
  switch (code) {
    case 0: return "ok";
    case 2: return "Kerberos V5";
    case 3: return "cleartext";
    case 5: return "md5";
    case 7: return "GSS";
    case 8: return "GSS continue";
    case 9: return "SSPI";
    case 10: return "SASL";
    case 11: return "SASL continue";
    case 12: return "SASL final";
    default: return "unknown";
  }
}

}  // namespace pgha::health
