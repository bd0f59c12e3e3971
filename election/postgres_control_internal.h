// Helpers shared by the .cc files that define PostgresControl (see postgres_control.h) and
// private to them: the shorthands they use, deadline arithmetic, the libpq conninfo quoting and
// whole-file reading. Nothing else includes this header. Pure functions; thread-safe.
#pragma once

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

namespace pgha::election::postgres_control_internal {

namespace fs = std::filesystem;
using std::chrono::milliseconds;
using Clock = std::chrono::steady_clock;

inline std::int64_t ms_left(Clock::time_point deadline) {
  return std::chrono::duration_cast<milliseconds>(deadline - Clock::now()).count();
}

inline Clock::time_point min_deadline(Clock::time_point a, Clock::time_point b) { return a < b ? a : b; }

// A libpq conninfo value.
inline std::string conninfo_quote(const std::string& value) {
  std::string out = "'";
  for (char c : value) {
    if (c == '\'' || c == '\\') out += '\\';
    out += c;
  }
  return out + "'";
}

inline std::string read_text(const fs::path& path) {
  std::ifstream in(path);
  std::stringstream buffer;
  buffer << in.rdbuf();
  return buffer.str();
}

}  // namespace pgha::election::postgres_control_internal
