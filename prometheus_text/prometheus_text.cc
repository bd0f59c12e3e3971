// See prometheus_text.h.
#include "prometheus_text/prometheus_text.h"

namespace pgha::prometheus_text {
namespace {

void append_escaped(std::string& out, std::string_view text, bool quote_too) {
  for (const char c : text) {
    if (c == '\n') {
      out += "\\n";
      continue;
    }
    if (c == '\\' || (quote_too && c == '"')) out += '\\';
    out += c;
  }
}

}  // namespace

std::string label_value(std::string_view value) {
  std::string out;
  out.reserve(value.size());
  append_escaped(out, value, /*quote_too=*/true);
  return out;
}

void append_family(std::string& out, std::string_view name, std::string_view type, std::string_view help) {
  out += "# HELP ";
  out += name;
  out += ' ';
  append_escaped(out, help, /*quote_too=*/false);
  out += "\n# TYPE ";
  out += name;
  out += ' ';
  out += type;
  out += '\n';
}

}  // namespace pgha::prometheus_text
