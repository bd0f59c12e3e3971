// Value parsing shared by both config formats (durations, ports, addresses, host names),
// ConfigError/ConfigWarning formatting, and load_config's format auto-detection.
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <future>

#include <gtest/gtest.h>

#include "proxy/config.h"
#include "proxy/config_loader.h"
#include "tests/proxy/config_test_util.h"

namespace pgha::proxy {
namespace {

using config_detail::Location;
using testing::expect_config_error;
using testing::TempDir;

const Location kAt{"f.cfg", 7, "inter"};

struct DurationCase {
  const char* text;
  long long ms;
};

class DurationTest : public ::testing::TestWithParam<DurationCase> {};

TEST_P(DurationTest, ParsesHaproxyUnits) {
  EXPECT_EQ(config_detail::parse_duration(GetParam().text, kAt).count(), GetParam().ms) << GetParam().text;
}

INSTANTIATE_TEST_SUITE_P(Units, DurationTest,
                         ::testing::Values(DurationCase{"1500", 1500}, DurationCase{"0", 0},
                                           DurationCase{"250ms", 250}, DurationCase{"10s", 10'000},
                                           DurationCase{"2m", 120'000}, DurationCase{"1h", 3'600'000},
                                           DurationCase{"1d", 86'400'000}, DurationCase{"1000us", 1},
                                           DurationCase{"1500us", 2}, DurationCase{"1us", 1},
                                           DurationCase{"24d", 2'073'600'000}));

struct BadValueCase {
  const char* text;
  const char* message_part;
};

class BadDurationTest : public ::testing::TestWithParam<BadValueCase> {};

TEST_P(BadDurationTest, IsRejectedAtItsLocation) {
  expect_config_error([] { config_detail::parse_duration(GetParam().text, kAt); }, "f.cfg", 7, "inter",
                      GetParam().message_part);
}

INSTANTIATE_TEST_SUITE_P(Errors, BadDurationTest,
                         ::testing::Values(BadValueCase{"-1s", "negative"}, BadValueCase{"-5", "negative"},
                                           BadValueCase{"", "empty"}, BadValueCase{"s", "not a duration"},
                                           BadValueCase{"1.5s", "unknown unit"}, BadValueCase{"10x", "unknown unit"},
                                           BadValueCase{"10 s", "unknown unit"}, BadValueCase{"25d", "too large"},
                                           BadValueCase{"99999999999999999999999", "not a duration"}));

TEST(PortTest, AcceptsOneTo65535) {
  EXPECT_EQ(config_detail::parse_port("1", kAt), 1);
  EXPECT_EQ(config_detail::parse_port("5432", kAt), 5432);
  EXPECT_EQ(config_detail::parse_port("65535", kAt), 65535);
}

class BadPortTest : public ::testing::TestWithParam<BadValueCase> {};

TEST_P(BadPortTest, IsRejected) {
  expect_config_error([] { config_detail::parse_port(GetParam().text, kAt); }, "f.cfg", 7, "inter",
                      GetParam().message_part);
}

INSTANTIATE_TEST_SUITE_P(Errors, BadPortTest,
                         ::testing::Values(BadValueCase{"0", "out of range"}, BadValueCase{"65536", "out of range"},
                                           BadValueCase{"99999999999", "out of range"},
                                           BadValueCase{"abc", "not a port"}, BadValueCase{"-1", "not a port"},
                                           BadValueCase{"", "not a port"}, BadValueCase{"54x", "not a port"}));

struct AddressCase {
  const char* text;
  const char* host;
  int port;
};

class BindAddressTest : public ::testing::TestWithParam<AddressCase> {};

TEST_P(BindAddressTest, Parses) {
  config_detail::HostPort hp = config_detail::parse_bind_address(GetParam().text, kAt);
  EXPECT_EQ(hp.host, GetParam().host);
  EXPECT_EQ(hp.port, GetParam().port);
}

INSTANTIATE_TEST_SUITE_P(Forms, BindAddressTest,
                         ::testing::Values(AddressCase{"*:5432", "0.0.0.0", 5432},
                                           AddressCase{":5432", "0.0.0.0", 5432},
                                           AddressCase{"0.0.0.0:5432", "0.0.0.0", 5432},
                                           AddressCase{"127.0.0.1:5433", "127.0.0.1", 5433},
                                           AddressCase{"[::]:5432", "::", 5432},
                                           AddressCase{"[::1]:5432", "::1", 5432},
                                           AddressCase{"::1:5432", "::1", 5432},
                                           AddressCase{"localhost:5432", "localhost", 5432},
                                           AddressCase{"db-1.example.com:5432", "db-1.example.com", 5432}));

class BadServerAddressTest : public ::testing::TestWithParam<BadValueCase> {};

TEST_P(BadServerAddressTest, IsRejected) {
  expect_config_error([] { config_detail::parse_server_address(GetParam().text, kAt); }, "f.cfg", 7, "inter",
                      GetParam().message_part);
}

INSTANTIATE_TEST_SUITE_P(
    Errors, BadServerAddressTest,
    ::testing::Values(BadValueCase{"127.0.0.1", "missing ':PORT'"}, BadValueCase{"127.0.0.1:", "missing port"},
                      BadValueCase{":5432", "address is missing"}, BadValueCase{"*:5432", "address is missing"},
                      BadValueCase{"127.0.0.1:0", "out of range"}, BadValueCase{"127.0.0.1:70000", "out of range"},
                      BadValueCase{"127.0.0.1:pg", "not a port"}, BadValueCase{"999.1.1.1:5432", "neither"},
                      BadValueCase{"1.2.3:5432", "neither"}, BadValueCase{"bad_host!:5432", "neither"},
                      BadValueCase{"-db:5432", "neither"}, BadValueCase{"[::1:5432", "missing ']'"},
                      BadValueCase{"[::1]5432", "missing ':PORT'"}, BadValueCase{"[zz::1]:5432", "neither"},
                      BadValueCase{"ipv4@10.0.0.1:5432", "prefixes"}, BadValueCase{"10.0.0.1:5432-5440", "ranges"},
                      BadValueCase{"10.0.0.1:+1", "ranges"}));

TEST(HostTest, LiteralsAndNames) {
  EXPECT_TRUE(config_detail::is_valid_host("10.128.0.20"));
  EXPECT_TRUE(config_detail::is_valid_host("fe80::1"));
  EXPECT_TRUE(config_detail::is_valid_host("pg_1"));
  EXPECT_TRUE(config_detail::is_valid_host("db1.example."));
  EXPECT_FALSE(config_detail::is_valid_host("256.0.0.1"));
  EXPECT_FALSE(config_detail::is_valid_host("a..b"));
  EXPECT_FALSE(config_detail::is_valid_host(""));
  EXPECT_FALSE(config_detail::is_valid_host(std::string(64, 'a') + ".com"));
}

TEST(InitStateTest, HaproxyVocabulary) {
  using health::InitialState;
  EXPECT_EQ(config_detail::parse_init_state("up", kAt), InitialState::kUpUntilFirstFailure);
  EXPECT_EQ(config_detail::parse_init_state("fully-up", kAt), InitialState::kUp);
  EXPECT_EQ(config_detail::parse_init_state("down", kAt), InitialState::kDownUntilFirstCheck);
  EXPECT_EQ(config_detail::parse_init_state("fully-down", kAt), InitialState::kDown);
  expect_config_error([] { config_detail::parse_init_state("sideways", kAt); }, "f.cfg", 7, "inter", "sideways");
}

TEST(ConfigErrorTest, WhatIsFileLineKeyMessage) {
  ConfigError e("conf/x.cfg", 12, "balance", "unsupported balance algorithm 'source'");
  EXPECT_STREQ(e.what(), "conf/x.cfg:12: balance: unsupported balance algorithm 'source'");
  EXPECT_EQ(e.file(), "conf/x.cfg");
  EXPECT_EQ(e.line(), 12);
  EXPECT_EQ(e.key(), "balance");
  EXPECT_EQ(e.message(), "unsupported balance algorithm 'source'");
  ConfigWarning w{"a.yaml", 3, "listeners[0]", "no check"};
  EXPECT_EQ(w.to_string(), "a.yaml:3: listeners[0]: no check");
}

const char* const kHaproxyText =
    "listen db\n"
    "  bind :6000\n"
    "  server s1 127.0.0.1:6001\n";
const char* const kYamlText =
    "listeners:\n"
    "  - name: db\n"
    "    bind: :6000\n"
    "    servers: [{ name: s1, address: 127.0.0.1:6001 }]\n";

struct DetectCase {
  const char* file_name;
  const char* content;
  bool expect_ok;
};

class AutodetectTest : public ::testing::TestWithParam<DetectCase> {};

TEST_P(AutodetectTest, PicksTheFormat) {
  TempDir dir;
  std::string path = dir.write(GetParam().file_name, GetParam().content);
  if (GetParam().expect_ok) {
    LoadedConfig loaded = load_config(path);
    ASSERT_EQ(loaded.config.listeners.size(), 1u);
    EXPECT_EQ(loaded.config.listeners[0].name, "db");
    EXPECT_EQ(loaded.config.listeners[0].bind_port, 6000);
    EXPECT_EQ(loaded.config.source_file, path);
  } else {
    EXPECT_THROW(load_config(path), ConfigError);
  }
}

INSTANTIATE_TEST_SUITE_P(
    ByExtensionAndContent, AutodetectTest,
    ::testing::Values(DetectCase{"a.cfg", kHaproxyText, true}, DetectCase{"a.yaml", kYamlText, true},
                      DetectCase{"a.yml", kYamlText, true}, DetectCase{"a.conf", kHaproxyText, true},
                      DetectCase{"a.conf", kYamlText, true}, DetectCase{"noext", kHaproxyText, true},
                      DetectCase{"noext", kYamlText, true},
                      DetectCase{"global-first", "# comment\n\nglobal\n  maxconn 100\nlisten db\n bind :6000\n"
                                                 " server s1 127.0.0.1:6001\n", true},
                      // The extension wins over the content.
                      DetectCase{"wrong.yaml", kHaproxyText, false}, DetectCase{"wrong.cfg", kYamlText, false}));

TEST(LoadConfigTest, UnreadableFileNamesTheFile) {
  TempDir dir;
  for (const char* name : {"missing.yaml", "missing.cfg", "missing"}) {
    std::string path = (dir.path() / name).string();
    expect_config_error([&] { load_config(path); }, path, 0, "file", "cannot open");
  }
  const std::string path = dir.path().string();
  expect_config_error([&] { load_config(path); }, path, 0, "file", "a directory, not a regular file");
}

// A device would be read without end and a FIFO would block the start (or a reload) forever.
TEST(LoadConfigTest, OnlyRegularFilesOfBoundedSizeAreRead) {
  TempDir dir;
  expect_config_error([&] { load_config("/dev/zero"); }, "/dev/zero", 0, "file", "character device, not a regular file");
  const std::string fifo = (dir.path() / "fifo.cfg").string();
  ASSERT_EQ(::mkfifo(fifo.c_str(), 0600), 0);
  auto loading = std::async(std::launch::async, [&] {
    try {
      load_config(fifo);
    } catch (const ConfigError& e) {
      return std::string(e.what());
    }
    return std::string("loaded");
  });
  if (loading.wait_for(std::chrono::seconds(10)) != std::future_status::ready) {
    const int writer = ::open(fifo.c_str(), O_WRONLY | O_NONBLOCK);  // release the blocked reader
    if (writer >= 0) ::close(writer);
    loading.wait();
    FAIL() << "load_config blocked on a FIFO";
  }
  EXPECT_EQ(loading.get(), fifo + ":0: file: cannot read: a FIFO, not a regular file");
  std::string big(kHaproxyText);
  big.resize(4 * 1024 * 1024 + 1, '#');
  const std::string path = dir.write("big.cfg", big);
  expect_config_error([&] { load_config(path); }, path, 0, "file", "larger than 4194304 bytes");
}

}  // namespace
}  // namespace pgha::proxy
