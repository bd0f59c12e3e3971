#include "proxy/config.h"

#include <string_view>

#include "proxy/config_loader.h"
#include "proxy/haproxy_config_loader.h"
#include "proxy/yaml_config_loader.h"

namespace pgha::proxy {

namespace {

std::string located(const std::string& file, int line, const std::string& key, const std::string& message) {
  return file + ":" + std::to_string(line) + ": " + key + ": " + message;
}

bool ends_with(std::string_view text, std::string_view suffix) {
  return text.size() >= suffix.size() && text.substr(text.size() - suffix.size()) == suffix;
}

// True when a line's first word is an haproxy section keyword; YAML keys carry a ':' and so
// never match ("defaults:" is not "defaults").
bool looks_like_haproxy(const std::string& text) {
  size_t pos = 0;
  while (pos < text.size()) {
    size_t end = text.find('\n', pos);
    if (end == std::string::npos) end = text.size();
    std::string_view line(text.data() + pos, end - pos);
    size_t first = line.find_first_not_of(" \t\r");
    if (first != std::string_view::npos && line[first] != '#') {
      std::string_view rest = line.substr(first);
      std::string_view word = rest.substr(0, rest.find_first_of(" \t\r"));
      if (word == "global" || word == "defaults" || word == "listen" || word == "frontend" ||
          word == "backend") {
        return true;
      }
    }
    pos = end + 1;
  }
  return false;
}

}  // namespace

ConfigError::ConfigError(std::string file, int line, std::string key, std::string message)
    : std::runtime_error(located(file, line, key, message)),
      file_(std::move(file)),
      line_(line),
      key_(std::move(key)),
      message_(std::move(message)) {}

std::string ConfigWarning::to_string() const { return located(file, line, key, message); }

LoadedConfig load_config(const std::string& path) {
  if (ends_with(path, ".yaml") || ends_with(path, ".yml")) return load_yaml_config(path);
  if (ends_with(path, ".cfg")) return load_haproxy_config(path);
  const std::string text = config_detail::read_config_file(path);
  if (looks_like_haproxy(text)) return HaproxyConfigLoader(path).parse(text);
  return YamlConfigLoader(path).parse(text);
}

LoadedConfig load_yaml_config(const std::string& path) {
  return YamlConfigLoader(path).parse(config_detail::read_config_file(path));
}

LoadedConfig load_haproxy_config(const std::string& path) {
  return HaproxyConfigLoader(path).parse(config_detail::read_config_file(path));
}

}  // namespace pgha::proxy
