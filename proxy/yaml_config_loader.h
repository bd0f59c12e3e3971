// YamlConfigLoader: reads pgha-proxy's native YAML configuration (schema in conf/README.md)
// into a ProxyConfig. Strict: an unknown or duplicated key is an error naming its line and
// path (e.g. "listeners[0].chek"), so that a typo never silently changes behaviour.
// One loader per file; not thread-safe, use it from the thread that loads the config.
#pragma once

#include <string>

#include "proxy/config.h"

namespace pgha::proxy {

class YamlConfigLoader {
 public:
  // FILE is used in messages and as ProxyConfig::source_file.
  explicit YamlConfigLoader(std::string file) : file_(std::move(file)) {}

  // Parses TEXT, the content of the file. Throws ConfigError.
  LoadedConfig parse(const std::string& text) const;

 private:
  std::string file_;
};

}  // namespace pgha::proxy
