#include "server/server_fingerprint.h"

#include <gtest/gtest.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <cstring>

#include "common/file_util.h"
#include "common/ids.h"
#include "common/test_util.h"
#include "server/unix_socket_address.h"

namespace sluice {
namespace {

// Sets a variable for one test and puts the old value back.
class ScopedVariable {
 public:
  ScopedVariable(const char* name, const char* value) : name_(name) {
    if (const char* old = std::getenv(name)) old_ = old;
    had_ = std::getenv(name) != nullptr;
    if (value) {
      ::setenv(name, value, 1);
    } else {
      ::unsetenv(name);
    }
  }
  ~ScopedVariable() {
    if (had_) {
      ::setenv(name_, old_.c_str(), 1);
    } else {
      ::unsetenv(name_);
    }
  }

 private:
  const char* name_;
  std::string old_;
  bool had_ = false;
};

TEST(ServerFingerprint, IsStableInOneEnvironment) {
  EXPECT_EQ(ProcessFingerprint(), ProcessFingerprint());
  EXPECT_EQ(ProcessFingerprint().size(), 64u);
}

TEST(ServerFingerprint, ChangesWithWhatChangesARun) {
  const std::string before = ProcessFingerprint();
  for (const char* name : {"SLUICE_WAREHOUSE", "AWS_SECRET_ACCESS_KEY", "AWS_ENDPOINT_URL", "PYTHONPATH", "TMPDIR",
                           "UV_INDEX_URL", "LC_ALL", "SLUICE_MAX_OUTPUT_BYTES",
                           // What a model may read itself, and the math libraries' threads.
                           "DATABASE_URL", "HF_TOKEN", "OMP_NUM_THREADS"}) {
    ScopedVariable changed(name, "fingerprint-test-value");
    EXPECT_NE(ProcessFingerprint(), before) << name;
    auto names = FingerprintVariables();
    EXPECT_NE(std::find(names.begin(), names.end(), name), names.end()) << name;
  }
  EXPECT_EQ(ProcessFingerprint(), before);
}

TEST(ServerFingerprint, IgnoresWhatOnlyTheClientReads) {
  const std::string before = ProcessFingerprint();
  for (const char* name : {"SLUICE_HOME", "SLUICE_SERVER", "SLUICE_ENDPOINT", "SLUICE_PROFILE", "SLUICE_CONFIG_PATH",
                           "SLUICE_API_KEY", "EDITOR", "TERM_PROGRAM", "PWD", "SHLVL", "SSH_TTY"}) {
    ScopedVariable changed(name, "fingerprint-test-value");
    EXPECT_EQ(ProcessFingerprint(), before) << name;
  }
}

TEST(ServerFingerprint, NamesNeverCarryValues) {
  ScopedVariable secret("AWS_SECRET_ACCESS_KEY", "very-secret");
  for (const auto& name : FingerprintVariables()) EXPECT_EQ(name.find("very-secret"), std::string::npos);
}

class OwnSocketTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = "/tmp/sluice-own-" + NewShortId(8);
    ASSERT_OK(MakeDirs(dir_));
    path_ = dir_ + "/server.sock";
    fd_ = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_un address{};
    address.sun_family = AF_UNIX;
    std::memcpy(address.sun_path, path_.c_str(), path_.size() + 1);
    ASSERT_EQ(::bind(fd_, reinterpret_cast<sockaddr*>(&address), sizeof(address)), 0);
    ASSERT_EQ(::chmod(path_.c_str(), 0600), 0);
    ASSERT_EQ(::listen(fd_, 4), 0);
  }
  void TearDown() override {
    ::close(fd_);
    ASSERT_OK(RemoveAll(dir_));
  }
  std::string dir_, path_;
  int fd_ = -1;
};

TEST_F(OwnSocketTest, AcceptsThisUsersPrivateSocketAndSeesWhoListens) {
  ASSERT_OK_AND_ASSIGN(auto address, UnixSocketAddress::ForOwnSocket(path_));
  EXPECT_EQ(address.usable().rfind("/proc/self/fd/", 0), 0u);
  ASSERT_OK_AND_ASSIGN(UnixSocketPeer peer, PeerOf(address));
  EXPECT_EQ(peer.pid, ::getpid());
  EXPECT_EQ(peer.uid, ::geteuid());
}

TEST_F(OwnSocketTest, KeepsReachingTheFileItCheckedWhenTheNameIsSwapped) {
  ASSERT_OK_AND_ASSIGN(auto address, UnixSocketAddress::ForOwnSocket(path_));
  ASSERT_EQ(::rename(path_.c_str(), (dir_ + "/moved.sock").c_str()), 0);
  ASSERT_OK(WriteFileAtomic(path_, "not a socket"));
  ASSERT_OK_AND_ASSIGN(UnixSocketPeer peer, PeerOf(address));
  EXPECT_EQ(peer.pid, ::getpid());
}

TEST_F(OwnSocketTest, RefusesSymlinksOtherFilesAndLooseModes) {
  std::string link = dir_ + "/link.sock";
  ASSERT_EQ(::symlink(path_.c_str(), link.c_str()), 0);
  auto linked = UnixSocketAddress::ForOwnSocket(link);
  ASSERT_FALSE(linked.ok());
  EXPECT_NE(linked.status().message().find("symbolic link"), std::string::npos) << linked.status().message();

  ASSERT_OK(WriteFileAtomic(dir_ + "/file", "x"));
  auto file = UnixSocketAddress::ForOwnSocket(dir_ + "/file");
  ASSERT_FALSE(file.ok());
  EXPECT_NE(file.status().message().find("not a socket"), std::string::npos);

  ASSERT_EQ(::chmod(path_.c_str(), 0660), 0);
  auto loose = UnixSocketAddress::ForOwnSocket(path_);
  ASSERT_FALSE(loose.ok());
  EXPECT_NE(loose.status().message().find("permissions"), std::string::npos);

  if (::geteuid() == 0) {
    ASSERT_EQ(::chmod(path_.c_str(), 0600), 0);
    ASSERT_EQ(::chown(path_.c_str(), 4242, 4242), 0);
    auto theirs = UnixSocketAddress::ForOwnSocket(path_);
    ASSERT_FALSE(theirs.ok());
    EXPECT_NE(theirs.status().message().find("uid 4242"), std::string::npos);
  }
  EXPECT_FALSE(UnixSocketAddress::ForOwnSocket(dir_ + "/missing.sock").ok());
}

}  // namespace
}  // namespace sluice
