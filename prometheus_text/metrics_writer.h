// MetricsWriter: builds one Prometheus text exposition (format 0.0.4) family by family: family()
// writes the HELP and TYPE lines, sample() one line of that family with its labels and value.
// Both /metrics endpoints (pgha-proxy's admin API, pgha-agent's REST API) render through it, so
// that label escaping and number formatting exist once. A value type owned by the caller; not
// shared between threads.
#pragma once

#include <cstdint>
#include <initializer_list>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace pgha::prometheus_text {

// One label: its name (a fixed identifier, written as is) and its value (escaped when written).
struct Label {
  std::string_view name;
  std::string_view value;
};

class MetricsWriter {
 public:
  // Opens a family: "# HELP name help" and "# TYPE name type". Later samples use `name`.
  void family(std::string_view name, std::string_view type, std::string_view help);

  // One sample of the open family: name{labels} value. Throws std::logic_error when no family is
  // open (a programming error, caught by the tests).
  void sample(std::initializer_list<Label> labels, double value);
  void sample(std::initializer_list<Label> labels, std::uint64_t value);
  void sample(std::initializer_list<Label> labels, std::int64_t value);
  void sample(std::initializer_list<Label> labels, int value) { sample(labels, static_cast<std::int64_t>(value)); }
  void sample(std::initializer_list<Label> labels, bool value) { sample(labels, static_cast<std::int64_t>(value)); }
  // Same, with labels built at run time (e.g. a fixed set plus one more).
  void sample(const std::vector<Label>& labels, double value);
  // A value already written as text (e.g. Patroni's zero-padded version number).
  void sample_text(std::initializer_list<Label> labels, std::string_view value);

  const std::string& text() const { return out_; }
  std::string take() { return std::move(out_); }

 private:
  void open_sample(const Label* begin, const Label* end);
  std::string out_;
  std::string family_;
};

// A number as the text format writes it: integers without a fraction, others in the shortest
// form that reads back exactly, NaN, +Inf and -Inf as the format spells them.
std::string format_value(double value);

}  // namespace pgha::prometheus_text
