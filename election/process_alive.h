// process_alive(): whether a process runs, for the agent and its fencing watchdog. A zombie counts
// as gone: a killed postmaster stays a zombie until its parent (often init) reaps it, which can
// take seconds in a container. When /proc does not tell (no permission), a process that exists
// counts as alive. Thread-safe; no state.
#pragma once

#include <sys/types.h>

namespace pgha::election {

bool process_alive(pid_t pid);

}  // namespace pgha::election
