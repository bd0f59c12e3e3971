// See logger.h.
#include "health/logger.h"

#include <spdlog/spdlog.h>

namespace pgha::health {

std::shared_ptr<spdlog::logger> health_logger() {
  if (auto logger = spdlog::get("health")) return logger;
  return spdlog::default_logger();
}

}  // namespace pgha::health
