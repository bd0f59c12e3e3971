// See printable_excerpt.h.
#include "printable/printable_excerpt.h"

#include <algorithm>
#include <cctype>

namespace pgha {

std::string printable_excerpt(std::string_view bytes, std::size_t max_bytes) {
  std::string out;
  out.reserve(std::min(bytes.size(), max_bytes) + 3);
  for (char c : bytes.substr(0, max_bytes)) {
    out += std::isprint(static_cast<unsigned char>(c)) ? c : '.';
  }
  if (bytes.size() > max_bytes) out += "...";
  return out;
}

}  // namespace pgha
