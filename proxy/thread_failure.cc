// See thread_failure.h.
#include "proxy/thread_failure.h"

#include <cstdlib>
#include <string>

#include <spdlog/spdlog.h>

#include "proxy/log.h"

namespace pgha::proxy {

void exit_on_thread_failure(std::string_view thread, std::exception_ptr error) noexcept {
  std::string reason = "unknown exception";
  try {
    if (error) std::rethrow_exception(error);
  } catch (const std::exception& e) {
    reason = e.what();
  } catch (...) {
  }
  try {
    log().critical("{} failed: {}; exiting with status {} so that the service manager restarts pgha-proxy",
                   thread, reason, kThreadFailureExitStatus);
    log().flush();
    spdlog::default_logger()->flush();
  } catch (...) {
    // Logging must not keep a failed process alive.
  }
  std::_Exit(kThreadFailureExitStatus);
}

}  // namespace pgha::proxy
