// parse_bounded_json(): nlohmann::json's parser behind a first pass that counts, so that a reply
// from etcd or a peer cannot make the agent build an enormous document. A DOM costs far more than
// its text: every value is a node of 16 bytes plus its container's share, so 15 MB of "[1,1,...]"
// became 7.5 million nodes and took the agent from 14 MB to 340 MB (and 160 MB kept after). The
// first pass is nlohmann's SAX parser with a handler that allocates nothing and stops at the
// first value past `max_values` or container past `max_depth`; only text within both is parsed
// into a document, which is then at most a small multiple of the limits.
// Pure function; thread-safe.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

namespace pgha::election {

struct JsonLimits {
  // Values of any kind (objects, arrays, strings, numbers, literals), keys not counted. A Patroni
  // scope's largest reply, a range over every key of a cluster of a few dozen members, has a
  // few thousand.
  std::size_t max_values = 100'000;
  std::size_t max_depth = 64;  // etcd's replies and Patroni's keys nest at most 4 or 5 deep
};

// `text` as JSON, or a discarded value when it is not JSON or exceeds `limits`.
nlohmann::json parse_bounded_json(std::string_view text, const JsonLimits& limits = {});

// `value` as compact JSON text. Strings from a config file or a command line may hold bytes
// that are not UTF-8, on which nlohmann's dump() throws: they become U+FFFD instead.
std::string json_text(const nlohmann::json& value);

}  // namespace pgha::election
