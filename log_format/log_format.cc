// See log_format.h.
#include "log_format/log_format.h"

#include <memory>

#include <spdlog/spdlog.h>

#include "log_format/json_log_formatter.h"

namespace pgha::log_format {

bool is_log_format(std::string_view name) { return name == "text" || name == "json"; }

bool apply(std::string_view name) {
  if (name == "text") {
    spdlog::set_pattern("%Y-%m-%d %H:%M:%S.%e [%n] %^%l%$ %v");
    return true;
  }
  if (name == "json") {
    spdlog::set_formatter(std::make_unique<JsonLogFormatter>());
    return true;
  }
  return false;
}

}  // namespace pgha::log_format
