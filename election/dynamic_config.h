// DynamicConfig: Patroni's /config key (the cluster-wide settings an operator changes at run
// time) as GET and PATCH /config and `pghactl pause|resume|edit-config` edit it. The agent acts on
// "pause" (maintenance mode, see decide()) and on the settings of dynamic_settings.h; the other
// fields are kept as written.
//  - merge_config_patch(): Patroni's patch semantics: a null deletes a key, two objects merge
//    recursively, anything else replaces;
//  - config_error(): why a /config object cannot be stored ("" when it can): a bad "pause", or a
//    setting the agents would refuse (dynamic_settings_error());
//  - read_dynamic_config() / patch_dynamic_config(): the key in etcd, read and changed with a
//    compare-and-swap (retried when another writer changed it meanwhile).
// Thread-safety: the functions hold no state; Dcs is thread-safe.
#pragma once

#include <string>

#include <nlohmann/json.hpp>

#include "election/dcs.h"
#include "election/dynamic_settings.h"
#include "election/member_codec.h"

namespace pgha::election {

nlohmann::json merge_config_patch(const nlohmann::json& current, const nlohmann::json& patch);
// `local`: the settings that apply where the object says nothing (local_dynamic_settings()).
std::string config_error(const nlohmann::json& config, const DynamicSettings& local = {});

struct ConfigResult {
  int http_status = 200;
  std::string body;  // the whole /config object after the call (JSON), or the error
};

ConfigResult read_dynamic_config(Dcs& dcs, const KeyLayout& keys);
// `patch_text`: a JSON object (a PATCH body). A result config_error() refuses is not stored (400).
ConfigResult patch_dynamic_config(Dcs& dcs, const KeyLayout& keys, const std::string& patch_text,
                                  const DynamicSettings& local = {});

}  // namespace pgha::election
