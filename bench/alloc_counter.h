// AllocCounter: counts heap allocations made by any thread of the benchmark binary while
// counting is on, through a replaced global operator new (alloc_counter.cc). Used to prove
// (or disprove) that the steady-state forwarding path allocates nothing.
// With PGHA_BENCH_ALLOC_TRACE=N in the environment, the first N counted allocations print a
// raw backtrace to stderr (backtrace_symbols_fd: no allocation); resolve the addresses with
// addr2line -e pgha_bench, or break on pgha::bench::alloc_counted in gdb.
// Thread-safety: all functions may be called from any thread.
#pragma once

#include <cstddef>
#include <cstdint>

namespace pgha::bench {

class AllocCounter {
 public:
  // Starts counting from zero.
  static void start();
  // Stops counting and returns the allocations seen since start().
  static std::uint64_t stop();
  // Frees seen since start() (of any block, also ones allocated before start()).
  static std::uint64_t frees();
};

// Called once per counted allocation (an out-of-line hook for a gdb breakpoint).
void alloc_counted(std::size_t size);

}  // namespace pgha::bench
