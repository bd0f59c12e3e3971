// The REST API's text parsers, after Patroni's: the ?lag= value of the health endpoints (which any
// client sends) and PostgreSQL's timestamptz output (the postmaster start time in /metrics).
// Pure functions; thread-safe.
#pragma once

#include <cstdint>
#include <optional>
#include <string_view>

namespace pgha::election {

// Patroni's parse_int(value, 'B'): decimal, 0x hex or 0 octal, optionally fractional, with an
// optional unit B, kB, MB, GB or TB (powers of 1024, case-sensitive), rounded to a byte.
// nullopt when it cannot be parsed (Patroni then treats the lag as unlimited, and so do we).
std::optional<std::int64_t> parse_patroni_lag(std::string_view text);

// "2024-05-01 10:00:00.123+00" (PostgreSQL's timestamptz output) → seconds since the epoch.
std::optional<double> parse_postgres_timestamp(std::string_view text);

}  // namespace pgha::election
