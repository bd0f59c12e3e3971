// make_checker: the one place that maps a CheckType to its Checker.
#include "health/checker.h"

#include "health/http_checker.h"
#include "health/pgsql_checker.h"
#include "health/tcp_checker.h"

namespace pgha::health {

std::unique_ptr<Checker> make_checker(boost::asio::any_io_executor executor, const CheckSpec& spec) {
  switch (spec.type) {
    case CheckType::kTcp:
      return std::make_unique<TcpChecker>(std::move(executor), spec);
    case CheckType::kHttp:
      return std::make_unique<HttpChecker>(std::move(executor), spec);
    case CheckType::kPgsql:
      return std::make_unique<PgsqlChecker>(std::move(executor), spec);
    case CheckType::kNone:
      break;
  }
  return nullptr;
}

}  // namespace pgha::health
