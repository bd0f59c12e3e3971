// JsonLogFormatter: an spdlog formatter that writes each log record as one JSON object on one
// line: {"time":"2026-01-31T12:00:00.123Z","level":"info","logger":"proxy","message":"..."}.
// The message is escaped as JSON asks (quotes, backslashes, line feeds and other control bytes),
// and bytes that are not UTF-8 become U+FFFD, so every line parses. spdlog calls it under the
// sink's lock; clone() gives each sink its own.
#pragma once

#include <memory>

#include <spdlog/formatter.h>

namespace pgha::log_format {

class JsonLogFormatter final : public spdlog::formatter {
 public:
  void format(const spdlog::details::log_msg& msg, spdlog::memory_buf_t& dest) override;
  std::unique_ptr<spdlog::formatter> clone() const override;
};

}  // namespace pgha::log_format
