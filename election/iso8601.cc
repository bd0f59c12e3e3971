#include "election/iso8601.h"

#include <ctime>

namespace pgha::election {

namespace {

// Reads `width` digits at `pos`; advances it.
std::optional<int> digits(std::string_view text, std::size_t& pos, std::size_t width) {
  if (pos + width > text.size()) return std::nullopt;
  const std::string_view field = text.substr(pos, width);
  if (field.find_first_not_of("0123456789") != std::string_view::npos) return std::nullopt;
  int value = 0;
  for (std::size_t i = 0; i < width; ++i) value = value * 10 + (text[pos + i] - '0');
  pos += width;
  return value;
}

}  // namespace

std::optional<std::chrono::system_clock::time_point> parse_iso8601(std::string_view text, bool* has_zone) {
  *has_zone = false;
  std::size_t pos = 0;
  std::tm tm{};
  const auto year = digits(text, pos, 4);
  if (!year || pos >= text.size() || text[pos++] != '-') return std::nullopt;
  const auto month = digits(text, pos, 2);
  if (!month || pos >= text.size() || text[pos++] != '-') return std::nullopt;
  const auto day = digits(text, pos, 2);
  if (!day || pos >= text.size() || (text[pos] != 'T' && text[pos] != 't' && text[pos] != ' ')) return std::nullopt;
  ++pos;
  const auto hour = digits(text, pos, 2);
  if (!hour || pos >= text.size() || text[pos++] != ':') return std::nullopt;
  const auto minute = digits(text, pos, 2);
  if (!minute) return std::nullopt;
  int second = 0;
  if (pos < text.size() && text[pos] == ':') {
    ++pos;
    const auto s = digits(text, pos, 2);
    if (!s) return std::nullopt;
    second = *s;
    if (pos < text.size() && (text[pos] == '.' || text[pos] == ',')) {
      ++pos;
      const std::size_t from = pos;
      while (pos < text.size() && text[pos] >= '0' && text[pos] <= '9') ++pos;
      if (pos == from) return std::nullopt;  // fractions are read and dropped: whole seconds suffice
    }
  }
  // system_clock counts nanoseconds in 64 bits: years 1678 to 2262 only. A schedule needs no more
  // than 1970 to 2200.
  if (*year < 1970 || *year > 2200) return std::nullopt;
  if (*month < 1 || *month > 12 || *day < 1 || *day > 31 || *hour > 23 || *minute > 59 || second > 60) {
    return std::nullopt;
  }
  int offset_minutes = 0;
  if (pos < text.size()) {
    const char sign = text[pos];
    if ((sign == 'Z' || sign == 'z') && pos + 1 == text.size()) {
      *has_zone = true;
    } else if (sign == '+' || sign == '-') {
      ++pos;
      const auto zone_hours = digits(text, pos, 2);
      if (!zone_hours) return std::nullopt;
      int zone_minutes = 0;
      if (pos < text.size() && text[pos] == ':') ++pos;
      if (pos < text.size()) {
        const auto m = digits(text, pos, 2);
        if (!m) return std::nullopt;
        zone_minutes = *m;
      }
      if (pos != text.size() || *zone_hours > 23 || zone_minutes > 59) return std::nullopt;
      offset_minutes = (sign == '+' ? 1 : -1) * (*zone_hours * 60 + zone_minutes);
      *has_zone = true;
    } else {
      return std::nullopt;
    }
  }
  tm.tm_year = *year - 1900;
  tm.tm_mon = *month - 1;
  tm.tm_mday = *day;
  tm.tm_hour = *hour;
  tm.tm_min = *minute;
  tm.tm_sec = second;
  const std::time_t utc = ::timegm(&tm) - static_cast<std::time_t>(offset_minutes) * 60;
  if (tm.tm_mday != *day) return std::nullopt;  // 2026-02-30 was normalised to March
  return std::chrono::system_clock::from_time_t(utc);
}

std::string format_iso8601(std::chrono::system_clock::time_point at) {
  const std::time_t t = std::chrono::system_clock::to_time_t(at);
  std::tm tm{};
  ::gmtime_r(&t, &tm);
  char text[40];
  std::strftime(text, sizeof text, "%Y-%m-%dT%H:%M:%S+00:00", &tm);
  return text;
}

ScheduleCheck check_schedule(std::string_view text, std::string_view action, std::chrono::system_clock::time_point now) {
  ScheduleCheck out;
  bool has_zone = false;
  const auto at = parse_iso8601(text, &has_zone);
  if (!at) {
    out.http_status = 422;
    out.error = "Unable to parse scheduled timestamp. It should be in an unambiguous format, e.g. ISO 8601";
  } else if (!has_zone) {
    out.http_status = 400;
    out.error = "Timezone information is mandatory for the scheduled " + std::string(action);
  } else if (*at < now) {
    out.http_status = 422;
    out.error = "Cannot schedule " + std::string(action) + " in the past";
  } else {
    out.at = at;
  }
  return out;
}

}  // namespace pgha::election
