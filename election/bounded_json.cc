#include "election/bounded_json.h"

#include <cstdint>
#include <string>

namespace pgha::election {

namespace {

using json = nlohmann::json;

// Counts values and depth; returning false stops the parse. Allocates nothing.
class CountingHandler final : public nlohmann::json_sax<json> {
 public:
  explicit CountingHandler(const JsonLimits& limits) : limits_(limits) {}

  bool null() override { return value(); }
  bool boolean(bool) override { return value(); }
  bool number_integer(std::int64_t) override { return value(); }
  bool number_unsigned(std::uint64_t) override { return value(); }
  bool number_float(double, const std::string&) override { return value(); }
  bool string(std::string&) override { return value(); }
  bool binary(binary_t&) override { return value(); }
  bool start_object(std::size_t) override { return open(); }
  bool key(std::string&) override { return true; }
  bool end_object() override { return close(); }
  bool start_array(std::size_t) override { return open(); }
  bool end_array() override { return close(); }
  bool parse_error(std::size_t, const std::string&, const nlohmann::detail::exception&) override { return false; }

 private:
  bool value() { return ++values_ <= limits_.max_values; }
  bool open() { return value() && ++depth_ <= limits_.max_depth; }
  bool close() {
    --depth_;
    return true;
  }

  const JsonLimits& limits_;
  std::size_t values_ = 0;
  std::size_t depth_ = 0;
};

}  // namespace

json parse_bounded_json(std::string_view text, const JsonLimits& limits) {
  CountingHandler counter(limits);
  if (!json::sax_parse(text, &counter)) return json(json::value_t::discarded);
  return json::parse(text, nullptr, /*allow_exceptions=*/false);
}

std::string json_text(const json& value) { return value.dump(-1, ' ', false, json::error_handler_t::replace); }

}  // namespace pgha::election
