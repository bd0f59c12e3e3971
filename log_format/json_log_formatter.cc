// See json_log_formatter.h.
#include "log_format/json_log_formatter.h"

#include <chrono>
#include <ctime>
#include <string>

#include <nlohmann/json.hpp>

namespace pgha::log_format {
namespace {

std::string utc_time(spdlog::log_clock::time_point when) {
  const auto since_epoch = when.time_since_epoch();
  const auto seconds = std::chrono::duration_cast<std::chrono::seconds>(since_epoch);
  const auto millis = std::chrono::duration_cast<std::chrono::milliseconds>(since_epoch - seconds).count();
  const std::time_t t = static_cast<std::time_t>(seconds.count());
  std::tm tm{};
  ::gmtime_r(&t, &tm);
  char buf[40];
  const std::size_t n = std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%S", &tm);
  char frac[8];
  std::snprintf(frac, sizeof frac, ".%03dZ", static_cast<int>(millis));
  return std::string(buf, n) + frac;
}

}  // namespace

void JsonLogFormatter::format(const spdlog::details::log_msg& msg, spdlog::memory_buf_t& dest) {
  nlohmann::ordered_json record;
  record["time"] = utc_time(msg.time);
  const auto level = spdlog::level::to_string_view(msg.level);
  record["level"] = std::string(level.data(), level.size());
  record["logger"] = std::string(msg.logger_name.data(), msg.logger_name.size());
  record["message"] = std::string(msg.payload.data(), msg.payload.size());
  const std::string line = record.dump(-1, ' ', false, nlohmann::ordered_json::error_handler_t::replace) + "\n";
  dest.append(line.data(), line.data() + line.size());
}

std::unique_ptr<spdlog::formatter> JsonLogFormatter::clone() const { return std::make_unique<JsonLogFormatter>(); }

}  // namespace pgha::log_format
