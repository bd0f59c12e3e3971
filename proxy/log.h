// The "proxy" module logger, created once on first use and kept for the life of the process.
// Thread-safe: spdlog loggers are.
#pragma once

#include <memory>

#include <spdlog/spdlog.h>

namespace pgha::proxy {

inline spdlog::logger& log() {
  static const std::shared_ptr<spdlog::logger> logger = [] {
    if (auto existing = spdlog::get("proxy")) return existing;
    auto created = spdlog::default_logger()->clone("proxy");
    spdlog::register_logger(created);
    return created;
  }();
  return *logger;
}

}  // namespace pgha::proxy
