// read_config_file(): regular files only, bounded, never blocking on a FIFO or a device.
#include "config_file/config_file_reader.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <future>

#include <gtest/gtest.h>

namespace pgha::config_file {
namespace {

using namespace std::chrono_literals;
namespace fs = std::filesystem;

class ConfigFileReaderTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/pgha-config-file-XXXXXX";
    ASSERT_NE(::mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
  }
  void TearDown() override {
    std::error_code ignored;
    fs::remove_all(dir_, ignored);
  }
  fs::path write(const std::string& name, const std::string& content) {
    const fs::path path = dir_ / name;
    std::ofstream(path, std::ios::binary) << content;
    return path;
  }
  fs::path dir_;
};

TEST_F(ConfigFileReaderTest, ReadsARegularFileAndASymlinkToOne) {
  const std::string content = std::string("a: 1\n\0b: 2\n", 11);
  const fs::path path = write("c.yaml", content);
  ConfigFileText read = read_config_file(path);
  ASSERT_TRUE(read.ok()) << read.error;
  EXPECT_EQ(read.text, content);
  fs::create_symlink(path, dir_ / "link.yaml");
  read = read_config_file(dir_ / "link.yaml");
  ASSERT_TRUE(read.ok()) << read.error;
  EXPECT_EQ(read.text, content);
  read = read_config_file(write("empty.yaml", ""));
  EXPECT_TRUE(read.ok()) << read.error;
  EXPECT_EQ(read.text, "");
}

TEST_F(ConfigFileReaderTest, RefusesWhatIsNotARegularFile) {
  ConfigFileText read = read_config_file("/dev/zero");
  EXPECT_FALSE(read.ok());
  EXPECT_NE(read.error.find("character device, not a regular file"), std::string::npos) << read.error;
  read = read_config_file(dir_);
  EXPECT_FALSE(read.ok());
  EXPECT_NE(read.error.find("a directory"), std::string::npos) << read.error;
  read = read_config_file(dir_ / "missing.yaml");
  EXPECT_FALSE(read.ok());
  EXPECT_NE(read.error.find("No such file"), std::string::npos) << read.error;
}

// Opening a FIFO for reading waits for a writer: the reader must not.
TEST_F(ConfigFileReaderTest, RefusesAFifoWithoutWaitingForAWriter) {
  const fs::path fifo = dir_ / "fifo.yaml";
  ASSERT_EQ(::mkfifo(fifo.c_str(), 0600), 0);
  auto reading = std::async(std::launch::async, [&] { return read_config_file(fifo); });
  if (reading.wait_for(10s) != std::future_status::ready) {
    // Release the blocked reader so that the test ends, then fail.
    const int writer = ::open(fifo.c_str(), O_WRONLY | O_NONBLOCK);
    if (writer >= 0) ::close(writer);
    reading.wait();
    FAIL() << "read_config_file blocked on a FIFO";
  }
  const ConfigFileText read = reading.get();
  EXPECT_FALSE(read.ok());
  EXPECT_NE(read.error.find("a FIFO, not a regular file"), std::string::npos) << read.error;
}

TEST_F(ConfigFileReaderTest, RefusesAFileLargerThanTheCap) {
  EXPECT_TRUE(read_config_file(write("small.yaml", std::string(100, 'x')), 100).ok());
  const ConfigFileText read = read_config_file(write("big.yaml", std::string(101, 'x')), 100);
  EXPECT_FALSE(read.ok());
  EXPECT_NE(read.error.find("larger than 100 bytes"), std::string::npos) << read.error;
  EXPECT_TRUE(read.text.empty());
}

// A file whose size says nothing of what it yields (procfs reports 0) is capped while it is read.
TEST_F(ConfigFileReaderTest, CapsAFileThatYieldsMoreThanItsSize) {
  ASSERT_EQ(fs::file_size("/proc/self/maps"), 0u);
  const ConfigFileText read = read_config_file("/proc/self/maps", 64);
  EXPECT_FALSE(read.ok());
  EXPECT_NE(read.error.find("larger than 64 bytes"), std::string::npos) << read.error;
  EXPECT_EQ(kMaxConfigFileBytes, 4u * 1024 * 1024);
}

}  // namespace
}  // namespace pgha::config_file
