#include "election/dynamic_config.h"

#include "election/bounded_json.h"

namespace pgha::election {

using json = nlohmann::json;

namespace {

// The /config key's value (nullopt when absent), or an error status.
struct Stored {
  std::optional<std::string> text;
  json value = json::object();
  EtcdStatus status;
};

Stored read_stored(Dcs& dcs, const KeyLayout& keys) {
  Stored stored;
  auto range = dcs.range_prefix(keys.config());
  if (!range.ok()) {
    stored.status = range.status();
    return stored;
  }
  for (const KeyValue& kv : range.value().kvs) {
    if (kv.key != keys.config()) continue;  // "config" is also the prefix of "config2"
    stored.text = kv.value;
    stored.value = parse_bounded_json(kv.value);
  }
  return stored;
}

std::string dump(const json& j) { return j.dump(-1, ' ', false, json::error_handler_t::replace); }

}  // namespace

json merge_config_patch(const json& current, const json& patch) {
  json out = current.is_object() ? current : json::object();
  for (auto it = patch.begin(); it != patch.end(); ++it) {
    if (it.value().is_null()) {
      out.erase(it.key());
    } else if (it.value().is_object() && out.contains(it.key()) && out[it.key()].is_object()) {
      out[it.key()] = merge_config_patch(out[it.key()], it.value());
    } else {
      out[it.key()] = it.value();
    }
  }
  return out;
}

std::string config_error(const json& config, const DynamicSettings& local) {
  if (!config.is_object()) return "the configuration must be a JSON object";
  if (config.contains("pause") && !config["pause"].is_boolean()) return "'pause' must be true or false";
  if (config.contains("failsafe_mode") && !config["failsafe_mode"].is_boolean()) {
    return "'failsafe_mode' must be true or false";
  }
  return dynamic_settings_error(config, local);
}

ConfigResult read_dynamic_config(Dcs& dcs, const KeyLayout& keys) {
  const Stored stored = read_stored(dcs, keys);
  if (!stored.status.ok()) return {503, "cannot read " + keys.config() + " from etcd: " + stored.status.to_string()};
  if (!stored.value.is_object()) return {503, keys.config() + " does not hold a JSON object"};
  return {200, dump(stored.value)};
}

ConfigResult patch_dynamic_config(Dcs& dcs, const KeyLayout& keys, const std::string& patch_text,
                                  const DynamicSettings& local) {
  const json patch = parse_bounded_json(patch_text);
  if (!patch.is_object()) return {400, "Bad request: expected a JSON object"};
  for (int attempt = 0; attempt < 5; ++attempt) {
    const Stored stored = read_stored(dcs, keys);
    if (!stored.status.ok()) return {503, "cannot read " + keys.config() + " from etcd: " + stored.status.to_string()};
    if (!stored.value.is_object()) return {409, keys.config() + " does not hold a JSON object; not changing it"};
    const json merged = merge_config_patch(stored.value, patch);
    if (const std::string why = config_error(merged, local); !why.empty()) return {400, "Bad request: " + why};
    const std::string text = dump(merged);
    auto written = stored.text ? dcs.put_if_value(keys.config(), text, keys.config(), *stored.text)
                               : dcs.create_if_absent(keys.config(), text, 0);
    if (written.ok()) return {200, text};
    if (written.status().code() != EtcdStatus::Code::kTxnFailed) {
      return {503, "writing " + keys.config() + " failed: " + written.status().to_string()};
    }
  }
  return {409, keys.config() + " kept changing while it was patched; try again"};
}

}  // namespace pgha::election
