// Every binary answers --version (the project version, from version/pgha_version.h) and --help
// (its usage) with exit 0, and an unknown option with exit 2 and a message naming it.
#include "version/pgha_version.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "tests/support/run_program.h"

namespace pgha {
namespace {

using ::testing::HasSubstr;
using ::testing::StartsWith;

struct Binary {
  const char* name;
  std::string path;
  const char* usage;  // what its --help prints
};

std::vector<Binary> binaries() {
  std::vector<Binary> all = {{"pgha-proxy", PGHA_PROXY_BIN, "usage: pgha-proxy"},
                             {"pgha-agent", PGHA_AGENT_BIN, "usage: pgha-agent"},
                             {"pghactl", PGHACTL_BIN, "usage: pghactl"}};
#ifdef PGHA_BENCH_BIN
  all.push_back({"pgha_bench", PGHA_BENCH_BIN, "benchmark"});
  all.push_back({"floor-relay", FLOOR_RELAY_BIN, "usage:"});
#endif
  return all;
}

TEST(VersionTest, EveryBinaryPrintsItsVersionAndExitsZero) {
  for (const Binary& b : binaries()) {
    const test::ProgramResult r = test::run_program({b.path, "--version"});
    EXPECT_EQ(r.exit_code, 0) << b.name << ": " << r.output;
    EXPECT_THAT(r.output, StartsWith(std::string(b.name) + " " + std::string(kVersion))) << b.name;
  }
  EXPECT_THAT(version_line("x"), StartsWith("x " + std::string(kVersion)));
  if (!kGitDescribe.empty()) {
    EXPECT_THAT(version_line("x"), HasSubstr("(git " + std::string(kGitDescribe) + ")"));
  }
}

TEST(VersionTest, EveryBinaryPrintsItsUsageOnHelpAndExitsZero) {
  for (const Binary& b : binaries()) {
    const test::ProgramResult r = test::run_program({b.path, "--help"});
    EXPECT_EQ(r.exit_code, 0) << b.name << ": " << r.output;
    EXPECT_THAT(r.output, HasSubstr(b.usage)) << b.name;
  }
}

TEST(VersionTest, AnUnknownOptionExitsTwoNamingIt) {
  for (const Binary& b : binaries()) {
    const test::ProgramResult r = test::run_program({b.path, "--no-such-option"});
    EXPECT_EQ(r.exit_code, 2) << b.name << ": " << r.output;
    if (std::string(b.name) != "floor-relay") {
      EXPECT_THAT(r.output, HasSubstr("--no-such-option")) << b.name;
    }
  }
}

}  // namespace
}  // namespace pgha
