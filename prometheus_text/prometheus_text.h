// The pieces of Prometheus' text exposition format (version 0.0.4) that MetricsWriter
// (metrics_writer.h, what both /metrics endpoints write with) is made of: a label value escaped,
// and the HELP and TYPE lines that open a metric family.
#pragma once

#include <string>
#include <string_view>

namespace pgha::prometheus_text {

// A label value as it goes between the double quotes: backslash, double quote and line feed
// escaped, everything else as is.
std::string label_value(std::string_view value);

// Appends "# HELP name help" and "# TYPE name type" to `out`; backslashes and line feeds in
// `help` are escaped, as the format asks.
void append_family(std::string& out, std::string_view name, std::string_view type, std::string_view help);

}  // namespace pgha::prometheus_text
