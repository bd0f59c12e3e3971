// run_program(): runs a program (argv, no shell) to completion for a test, with its stdout and
// stderr captured together, killed (SIGKILL) if it outlives the deadline. For tests that check a
// binary's exit code and messages (bad command lines, --check). Blocking; thread-safe.
#pragma once

#include <chrono>
#include <string>
#include <vector>

namespace pgha::test {

struct ProgramResult {
  int exit_code = -1;      // -1 when it did not exit normally
  bool timed_out = false;  // killed at the deadline
  std::string output;      // stdout and stderr, interleaved as written
};

ProgramResult run_program(const std::vector<std::string>& argv,
                          std::chrono::milliseconds timeout = std::chrono::seconds(30));

}  // namespace pgha::test
