// The bounds of the PostgreSQL operations HaLoop makes (the HA thread waits for them; the REST
// API keeps answering from the last snapshot meanwhile), and how its messages write a duration.
// Shared by ha_loop.cc and ha_loop_planned_work.cc; HA thread.
#pragma once

#include <chrono>
#include <cstdio>
#include <string>

namespace pgha::election::ha_loop_bounds {

using namespace std::chrono_literals;

inline constexpr std::chrono::milliseconds kProbeTimeout = 3s;
inline constexpr std::chrono::milliseconds kStartTimeout = 120s;
inline constexpr std::chrono::milliseconds kStopTimeout = 60s;
inline constexpr std::chrono::milliseconds kCheckpointTimeout = 60s;
inline constexpr std::chrono::milliseconds kPromoteTimeout = 60s;
inline constexpr std::chrono::milliseconds kCloneTimeout = 900s;
inline constexpr std::chrono::milliseconds kBootstrapTimeout = 300s;

// "1.5 s", "0.12 s" (decimals 2).
inline std::string seconds_text(std::chrono::milliseconds value, int decimals = 1) {
  char text[32];
  std::snprintf(text, sizeof text, "%.*f s", decimals, static_cast<double>(value.count()) / 1000.0);
  return text;
}

}  // namespace pgha::election::ha_loop_bounds
