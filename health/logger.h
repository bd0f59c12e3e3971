// The health module's logger: spdlog's "health" logger when the program registered one, else
// spdlog's default logger. Internal to health/ (pgha_health links spdlog privately).
#pragma once

#include <memory>

#include <spdlog/logger.h>

namespace pgha::health {

std::shared_ptr<spdlog::logger> health_logger();

}  // namespace pgha::health
