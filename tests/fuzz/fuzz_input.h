// What every fuzz target shares: the input as text, the check that turns a broken invariant into
// a crash libFuzzer records (with the input that caused it), and silence for the modules' loggers
// (a target calls its parser millions of times; the warnings it logs are expected, not findings).
// Header only; each target is one process with one thread.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include <spdlog/spdlog.h>

namespace pgha::fuzz {

// A config that asks for certificate checks without naming a CA file makes its loader read the
// system's CA bundle: over a second per input in this instrumented build (libFuzzer's timeout
// fired on it) and nothing of the parser is tested there. OpenSSL's default paths point at
// nothing in every target, before the first input.
inline const bool kNoSystemCaBundle = [] {
  ::setenv("SSL_CERT_FILE", "/nonexistent/pgha-fuzz", 1);
  ::setenv("SSL_CERT_DIR", "/nonexistent/pgha-fuzz", 1);
  return true;
}();

inline std::string_view as_text(const std::uint8_t* data, std::size_t size) {
  return {reinterpret_cast<const char*>(data), size};
}

// A broken invariant: stop here, so that libFuzzer keeps the input and the stack names the check.
inline void require(bool holds) {
  if (!holds) __builtin_trap();
}

// True when every byte is printable ASCII: what a detail or an error message may show of outside
// bytes (log lines, /status JSON).
inline bool printable_ascii(std::string_view text) {
  for (char c : text) {
    if (c < 0x20 || c > 0x7e) return false;
  }
  return true;
}

// True when no byte is a control character (NUL, ESC, CR, LF, DEL...): what a message built from
// outside bytes must hold before it reaches a log line (UTF-8 text may pass).
inline bool free_of_control_bytes(std::string_view text) {
  for (char c : text) {
    const auto byte = static_cast<unsigned char>(c);
    if (byte < 0x20 || byte == 0x7f) return false;
  }
  return true;
}

// The number of lines of `text` as an editor counts them (a last line without '\n' counts).
inline int line_count(std::string_view text) {
  int lines = 1;
  for (char c : text) lines += c == '\n' ? 1 : 0;
  return lines;
}

// Set when the target starts, before the first log() of any module: they clone spdlog's default
// logger, level included.
inline const bool kLogsOff = [] {
  spdlog::set_level(spdlog::level::off);
  return true;
}();

}  // namespace pgha::fuzz
