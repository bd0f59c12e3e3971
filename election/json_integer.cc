// See json_integer.h.
#include "election/json_integer.h"

#include <limits>

#include "election/etcd_codec.h"

namespace pgha::election {

std::optional<std::int64_t> integer_in_range(const nlohmann::json& value, std::int64_t min, std::int64_t max,
                                             bool strings_too) {
  std::optional<std::int64_t> integer;
  if (strings_too && value.is_string()) {
    integer = etcd_codec::parse_int64(value.get_ref<const std::string&>());
  } else if (value.is_number_unsigned()) {
    const auto unsigned_value = value.get<std::uint64_t>();
    if (unsigned_value <= static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max())) {
      integer = static_cast<std::int64_t>(unsigned_value);
    }
  } else if (value.is_number_integer()) {
    integer = value.get<std::int64_t>();
  }
  if (integer && *integer >= min && *integer <= max) return integer;
  return std::nullopt;
}

std::string integer_refusal(const char* key, const nlohmann::json& value, std::int64_t min, std::int64_t max) {
  std::string why = "'";
  why += key;
  why += "' is ";
  why += value.dump().substr(0, 40);
  why += ", not an integer in ";
  why += std::to_string(min);
  why += "..";
  why += std::to_string(max);
  return why;
}

}  // namespace pgha::election
