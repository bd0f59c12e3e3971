#include "election/yaml_json.h"

#include <cerrno>
#include <cstdlib>
#include <set>
#include <string>

namespace pgha::election {

namespace {

using json = nlohmann::json;

json typed_scalar(const YAML::Node& node) {
  const std::string& text = node.Scalar();
  if (node.Tag() == "!") return text;  // quoted: a string whatever it looks like
  static const std::set<std::string> kTrue = {"true", "True", "TRUE", "yes", "Yes", "YES", "on", "On", "ON"};
  static const std::set<std::string> kFalse = {"false", "False", "FALSE", "no", "No", "NO", "off", "Off", "OFF"};
  static const std::set<std::string> kNull = {"", "~", "null", "Null", "NULL"};
  if (kTrue.count(text)) return true;
  if (kFalse.count(text)) return false;
  if (kNull.count(text)) return nullptr;
  const bool integer_like = text.find_first_not_of("+-0123456789") == std::string::npos;
  const bool float_like = text.find_first_not_of("+-0123456789.eE") == std::string::npos &&
                          text.find_first_of("0123456789") != std::string::npos;
  if (integer_like || float_like) {
    char* end = nullptr;
    errno = 0;
    if (integer_like) {
      const long long value = std::strtoll(text.c_str(), &end, 10);
      if (errno == 0 && end == text.c_str() + text.size()) return value;
    } else {
      const double value = std::strtod(text.c_str(), &end);
      if (errno == 0 && end == text.c_str() + text.size()) return value;
    }
  }
  return text;
}

}  // namespace

json yaml_to_json(const YAML::Node& node) {
  switch (node.Type()) {
    case YAML::NodeType::Map: {
      json object = json::object();
      for (const auto& entry : node) object[entry.first.as<std::string>()] = yaml_to_json(entry.second);
      return object;
    }
    case YAML::NodeType::Sequence: {
      json array = json::array();
      for (const auto& item : node) array.push_back(yaml_to_json(item));
      return array;
    }
    case YAML::NodeType::Scalar:
      return typed_scalar(node);
    default:
      return nullptr;
  }
}

}  // namespace pgha::election
