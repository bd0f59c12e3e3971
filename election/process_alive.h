// process_alive(): whether a process runs, for the agent and its fencing watchdog. A zombie counts
// as gone: a killed postmaster stays a zombie until its parent (often init) reaps it, which can
// take seconds in a container. When /proc does not tell (no permission), a process that exists
// counts as alive. postmaster_of(): the postmaster running in a data directory, for the agent and
// its fencing watchdog. Thread-safe; no state.
#pragma once

#include <sys/types.h>

#include <string>

namespace pgha::election {

bool process_alive(pid_t pid);

// The PID in DATA_DIR/postmaster.pid if that process is alive and runs in DATA_DIR (after a crash
// the PID may belong to another process by now; when /proc does not tell, the PID is trusted);
// 0 when no postmaster runs there.
pid_t postmaster_of(const std::string& data_dir);

}  // namespace pgha::election
