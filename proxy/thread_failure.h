// The one policy for a pgha-proxy thread whose loop fails with an exception (a relay worker or
// its accept loop, the health monitor or one of its check loops, the admin server): log it as
// critical and end the whole process at once with kThreadFailureExitStatus, so that the service
// manager restarts it. A proxy that half runs is worse than a restart: a worker that stopped
// still owns an SO_REUSEPORT acceptor to which the kernel keeps sending clients that then wait
// forever, and a check loop that stopped freezes its server's state.
// The exit skips static destructors and atexit handlers (other threads are still using what they
// would destroy); the logs are flushed first. Thread-safe; never returns.
#pragma once

#include <exception>
#include <string_view>

namespace pgha::proxy {

inline constexpr int kThreadFailureExitStatus = 70;  // EX_SOFTWARE

[[noreturn]] void exit_on_thread_failure(std::string_view thread, std::exception_ptr error) noexcept;

}  // namespace pgha::proxy
