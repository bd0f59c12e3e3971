// EtcdStatus and EtcdResult<T>: how every etcd call reports its outcome, as a value (no exception
// leaves the etcd client's public API). The codes separate "could not talk to etcd" (unreachable,
// timeout, unavailable: retry later, maybe elsewhere) from answers etcd gave (lease not found,
// txn compare failed, auth failed, other rejections). Plain values; safe to copy between threads.
#pragma once

#include <cassert>
#include <optional>
#include <string>
#include <utility>

namespace pgha::election {

class [[nodiscard]] EtcdStatus {
 public:
  enum class Code {
    kOk,
    kUnreachable,    // no endpoint accepted a connection (refused, reset, bad address)
    kTimeout,        // the call's deadline passed before an answer
    kUnavailable,    // etcd answered 5xx: no leader, request timed out inside etcd, ...
    kLeaseNotFound,  // the lease expired or was revoked
    kTxnFailed,      // a txn's compare did not hold (key exists, value differs, ...)
    kAuthFailed,     // bad credentials or a token etcd no longer accepts
    kEtcdError,      // any other rejection by etcd (grpc_code() says which)
    kBadResponse,    // the answer was not the JSON we expect
    kStopped,        // the client or watch is shutting down
  };

  EtcdStatus() = default;
  EtcdStatus(Code code, std::string message, int grpc_code = 0)
      : code_(code), message_(std::move(message)), grpc_code_(grpc_code) {}

  static EtcdStatus ok_status() { return {}; }

  bool ok() const { return code_ == Code::kOk; }
  Code code() const { return code_; }
  const std::string& message() const { return message_; }
  // gRPC status code from an etcd error body (5 = NotFound, 14 = Unavailable, ...); 0 otherwise.
  int grpc_code() const { return grpc_code_; }
  // True when etcd may simply not have been reachable: worth retrying, possibly on another member.
  bool is_transient() const {
    return code_ == Code::kUnreachable || code_ == Code::kTimeout || code_ == Code::kUnavailable;
  }
  // "timeout: no answer from http://127.0.0.1:2379 within 2000 ms".
  std::string to_string() const;

 private:
  Code code_ = Code::kOk;
  std::string message_;
  int grpc_code_ = 0;
};

const char* to_string(EtcdStatus::Code code);

// A value or the status that explains why there is none. Constructed implicitly from either.
template <typename T>
class [[nodiscard]] EtcdResult {
 public:
  EtcdResult(T value) : value_(std::move(value)) {}  // NOLINT(google-explicit-constructor)
  EtcdResult(EtcdStatus status) : status_(std::move(status)) {  // NOLINT(google-explicit-constructor)
    assert(!status_.ok() && "an EtcdResult without a value needs an error status");
  }

  bool ok() const { return value_.has_value(); }
  explicit operator bool() const { return ok(); }
  const EtcdStatus& status() const { return status_; }

  T& value() & { return *value_; }
  const T& value() const& { return *value_; }
  T&& value() && { return std::move(*value_); }
  T* operator->() { return &*value_; }
  const T* operator->() const { return &*value_; }
  T& operator*() & { return *value_; }
  const T& operator*() const& { return *value_; }

 private:
  EtcdStatus status_;
  std::optional<T> value_;
};

}  // namespace pgha::election
