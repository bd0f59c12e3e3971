// See metrics_writer.h.
#include "prometheus_text/metrics_writer.h"

#include <charconv>
#include <cmath>
#include <stdexcept>

#include "prometheus_text/prometheus_text.h"

namespace pgha::prometheus_text {

std::string format_value(double value) {
  if (std::isnan(value)) return "NaN";
  if (std::isinf(value)) return value > 0 ? "+Inf" : "-Inf";
  char buf[64];
  const auto [end, ec] = std::to_chars(buf, buf + sizeof buf, value);
  if (ec != std::errc()) return "NaN";  // cannot happen with 64 bytes; never write a torn number
  return std::string(buf, end);
}

void MetricsWriter::family(std::string_view name, std::string_view type, std::string_view help) {
  append_family(out_, name, type, help);
  family_.assign(name);
}

void MetricsWriter::open_sample(const Label* begin, const Label* end) {
  if (family_.empty()) throw std::logic_error("MetricsWriter: sample() before family()");
  out_ += family_;
  if (begin != end) {
    out_ += '{';
    for (const Label* l = begin; l != end; ++l) {
      if (l != begin) out_ += ',';
      out_ += l->name;
      out_ += "=\"";
      out_ += label_value(l->value);
      out_ += '"';
    }
    out_ += '}';
  }
  out_ += ' ';
}

void MetricsWriter::sample(std::initializer_list<Label> labels, double value) {
  open_sample(labels.begin(), labels.end());
  out_ += format_value(value);
  out_ += '\n';
}

void MetricsWriter::sample(std::initializer_list<Label> labels, std::uint64_t value) {
  open_sample(labels.begin(), labels.end());
  out_ += std::to_string(value);
  out_ += '\n';
}

void MetricsWriter::sample(std::initializer_list<Label> labels, std::int64_t value) {
  open_sample(labels.begin(), labels.end());
  out_ += std::to_string(value);
  out_ += '\n';
}

void MetricsWriter::sample(const std::vector<Label>& labels, double value) {
  open_sample(labels.data(), labels.data() + labels.size());
  out_ += format_value(value);
  out_ += '\n';
}

void MetricsWriter::sample_text(std::initializer_list<Label> labels, std::string_view value) {
  open_sample(labels.begin(), labels.end());
  out_ += value;
  out_ += '\n';
}

}  // namespace pgha::prometheus_text
