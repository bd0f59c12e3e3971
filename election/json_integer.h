// Integers read from JSON (etcd replies, member keys) with their range checked: converting 1e300,
// a fraction or a number past int64 would be undefined or meaningless, so such values are refused
// with a reason that names the key.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include <nlohmann/json.hpp>

namespace pgha::election {

// The integer `value` holds if it is one in [min, max]: an integer number or, with `strings_too`,
// a decimal string (etcd's gateway writes int64 fields as strings). Anything else: nullopt.
std::optional<std::int64_t> integer_in_range(const nlohmann::json& value, std::int64_t min, std::int64_t max,
                                             bool strings_too);

// Why `value` under `key` was refused: "'key' is <value>, not an integer in min..max".
std::string integer_refusal(const char* key, const nlohmann::json& value, std::int64_t min, std::int64_t max);

}  // namespace pgha::election
