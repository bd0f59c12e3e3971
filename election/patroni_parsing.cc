// See patroni_parsing.h.
#include "election/patroni_parsing.h"

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <limits>
#include <regex>
#include <string>

namespace pgha::election {
namespace {

// ---- ?lag= parsing, after Patroni's utils.strtol/strtod/parse_int ----

struct Parsed {
  std::optional<long double> value;
  std::string rest;
};

Parsed strtol_like(const std::string& text) {
  static const std::regex hex(R"(^[-+]?0x[0-9a-fA-F]+)");
  static const std::regex oct(R"(^[-+]?0[0-7]*)");
  static const std::regex dec(R"(^[-+]?(0|[1-9][0-9]*))");
  const std::pair<const std::regex*, int> forms[] = {{&hex, 16}, {&oct, 8}, {&dec, 10}};
  for (const auto& [re, base] : forms) {
    std::smatch m;
    if (std::regex_search(text, m, *re)) {
      const std::string number = m.str(0);
      long double v = static_cast<long double>(std::strtoll(number.c_str(), nullptr, base));
      return {v, text.substr(number.size())};
    }
  }
  return {std::nullopt, text};
}

Parsed strtod_like(const std::string& text) {
  static const std::regex dbl(R"(^[-+]?[0-9]*\.?[0-9]+([eE][-+]?[0-9]+)?)");
  std::smatch m;
  if (!std::regex_search(text, m, dbl)) return {std::nullopt, text};
  return {std::strtold(m.str(0).c_str(), nullptr), text.substr(m.length(0))};
}

std::string strip(std::string_view s) {
  const auto* ws = " \t\r\n\f\v";
  const auto first = s.find_first_not_of(ws);
  if (first == std::string_view::npos) return {};
  return std::string(s.substr(first, s.find_last_not_of(ws) - first + 1));
}

// Python's round(): half to even, which is nearbyint under the default rounding mode.
long double rint_even(long double v) { return std::nearbyint(v); }

std::optional<std::int64_t> to_int64(long double v) {
  if (!std::isfinite(v)) return std::nullopt;
  if (v >= static_cast<long double>(std::numeric_limits<std::int64_t>::max()))
    return std::numeric_limits<std::int64_t>::max();
  if (v <= static_cast<long double>(std::numeric_limits<std::int64_t>::min()))
    return std::numeric_limits<std::int64_t>::min();
  return static_cast<std::int64_t>(v);
}

}  // namespace

std::optional<std::int64_t> parse_patroni_lag(std::string_view text) {
  const std::string value = strip(text);
  Parsed parsed = strtol_like(value);
  if ((!parsed.value && parsed.rest.starts_with('.')) ||
      (!parsed.rest.empty() && (parsed.rest[0] == '.' || parsed.rest[0] == 'e' || parsed.rest[0] == 'E'))) {
    parsed = strtod_like(value);
  }
  if (!parsed.value) return std::nullopt;
  const std::string unit = strip(parsed.rest);
  if (unit.empty()) return to_int64(rint_even(*parsed.value));
  // convert_to_base_unit(value, unit, 'B'), with its rounding to the next smaller unit.
  constexpr long double kKiB = 1024.0L;
  struct Unit {
    const char* name;
    long double bytes;
    long double round_to;  // the next smaller unit, in bytes (0: none)
  };
  static constexpr Unit kUnits[] = {{"B", 1, 0},
                                    {"kB", kKiB, 1},
                                    {"MB", kKiB * kKiB, kKiB},
                                    {"GB", kKiB * kKiB * kKiB, kKiB * kKiB},
                                    {"TB", kKiB * kKiB * kKiB * kKiB, kKiB * kKiB * kKiB}};
  for (const Unit& u : kUnits) {
    if (unit != u.name) continue;
    long double bytes = *parsed.value * u.bytes;
    if (u.round_to != 0) bytes = rint_even(bytes / u.round_to) * u.round_to;
    return to_int64(rint_even(bytes));
  }
  return std::nullopt;
}

std::optional<double> parse_postgres_timestamp(std::string_view text) {
  const std::string s = strip(text);
  int year = 0, month = 0, day = 0, hour = 0, minute = 0, consumed = 0;
  if (std::sscanf(s.c_str(), "%4d-%2d-%2d%*1[ T]%2d:%2d:%n", &year, &month, &day, &hour, &minute, &consumed) != 5 ||
      consumed == 0) {
    return std::nullopt;
  }
  std::string_view rest = std::string_view(s).substr(static_cast<std::size_t>(consumed));
  const auto tz_at = rest.find_first_of("+-Z");
  const std::string seconds_text(rest.substr(0, tz_at));
  char* end = nullptr;
  const double seconds = std::strtod(seconds_text.c_str(), &end);
  if (seconds_text.empty() || end != seconds_text.c_str() + seconds_text.size()) return std::nullopt;
  long offset_seconds = 0;
  if (tz_at != std::string_view::npos && rest[tz_at] != 'Z') {
    const int sign = rest[tz_at] == '-' ? -1 : 1;
    int tz_hours = 0, tz_minutes = 0;
    const std::string tz(rest.substr(tz_at + 1));
    if (std::sscanf(tz.c_str(), "%2d:%2d", &tz_hours, &tz_minutes) < 1 &&
        std::sscanf(tz.c_str(), "%2d%2d", &tz_hours, &tz_minutes) < 1) {
      return std::nullopt;
    }
    offset_seconds = sign * (tz_hours * 3600L + tz_minutes * 60L);
  }
  std::tm tm{};
  tm.tm_year = year - 1900;
  tm.tm_mon = month - 1;
  tm.tm_mday = day;
  tm.tm_hour = hour;
  tm.tm_min = minute;
  const std::time_t utc = timegm(&tm);
  return static_cast<double>(utc - offset_seconds) + seconds;
}

}  // namespace pgha::election
