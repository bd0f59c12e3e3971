// The log line formats pgha-proxy and pgha-agent offer (--log-format): "text", the readable
// default, and "json", one JSON object per line (JsonLogFormatter) for log collectors. Call
// from main() before other threads log.
#pragma once

#include <string_view>

namespace pgha::log_format {

// True for a name apply() takes.
bool is_log_format(std::string_view name);

// Sets the format of every spdlog logger, present and future (they share the default logger's
// sinks). Returns false, changing nothing, for an unknown name.
[[nodiscard]] bool apply(std::string_view name);

}  // namespace pgha::log_format
