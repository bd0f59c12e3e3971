// See http_request_head.h.
#include "election/http_request_head.h"

#include <algorithm>
#include <cctype>

namespace pgha::election {
namespace {

bool iequals(std::string_view a, std::string_view b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
           return std::tolower(static_cast<unsigned char>(x)) == std::tolower(static_cast<unsigned char>(y));
         });
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

}  // namespace

RequestBodyLength request_body_length(std::string_view head) {
  RequestBodyLength out;
  bool seen = false;
  std::size_t pos = head.find("\r\n");
  while (pos != std::string_view::npos && pos + 2 < head.size()) {
    pos += 2;
    const std::size_t eol = head.find("\r\n", pos);
    if (eol == std::string_view::npos || eol == pos) break;
    const std::string_view line = head.substr(pos, eol - pos);
    pos = eol;
    const std::size_t colon = line.find(':');
    if (colon == std::string_view::npos) continue;
    const std::string_view name = line.substr(0, colon);
    const std::string_view value = trim(line.substr(colon + 1));
    if (iequals(name, "Transfer-Encoding")) {
      // Patroni reads Content-Length bytes and nothing else; so do we.
      out.refusal = "411 Length Required";
      return out;
    }
    if (!iequals(name, "Content-Length")) continue;
    if (value.empty() || value.size() > 18 || value.find_first_not_of("0123456789") != std::string_view::npos) {
      out.refusal = "400 Bad Request";
      return out;
    }
    std::size_t length = 0;
    for (char c : value) length = length * 10 + static_cast<std::size_t>(c - '0');
    if (seen && length != out.bytes) {
      out.refusal = "400 Bad Request";
      return out;
    }
    seen = true;
    out.bytes = length;
  }
  return out;
}

}  // namespace pgha::election
