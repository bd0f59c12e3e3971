// See etcd_status.h.
#include "election/etcd_status.h"

namespace pgha::election {

const char* to_string(EtcdStatus::Code code) {
  switch (code) {
    case EtcdStatus::Code::kOk: return "ok";
    case EtcdStatus::Code::kUnreachable: return "unreachable";
    case EtcdStatus::Code::kTimeout: return "timeout";
    case EtcdStatus::Code::kUnavailable: return "unavailable";
    case EtcdStatus::Code::kLeaseNotFound: return "lease not found";
    case EtcdStatus::Code::kTxnFailed: return "txn failed";
    case EtcdStatus::Code::kAuthFailed: return "auth failed";
    case EtcdStatus::Code::kEtcdError: return "etcd error";
    case EtcdStatus::Code::kBadResponse: return "bad response";
    case EtcdStatus::Code::kStopped: return "stopped";
  }
  return "unknown";
}

std::string EtcdStatus::to_string() const {
  if (ok()) return "ok";
  std::string text = election::to_string(code_);
  if (!message_.empty()) text += ": " + message_;
  return text;
}

}  // namespace pgha::election
