#include "env/sandbox.h"

#include <gtest/gtest.h>
#include <sys/stat.h>

#include "common/config.h"
#include "common/file_util.h"
#include "common/ids.h"
#include "common/test_util.h"

namespace sluice {
namespace {

// The launcher itself, on a shell: what a worker would see. Like a worker, it starts in a
// directory the sandbox keeps (the project; here "/").
SubprocessResult RunInLauncher(std::vector<std::string> flags, const std::string& script,
                               const std::string& cwd = "/") {
  SubprocessOptions options;
  options.cwd = cwd;
  options.argv = {SandboxLauncher()};
  options.argv.insert(options.argv.end(), flags.begin(), flags.end());
  options.argv.insert(options.argv.end(), {"--", "sh", "-c", script});
  auto result = RunSubprocess(options);
  EXPECT_TRUE(result.ok()) << result.status().ToString();
  return result.ok() ? *result : SubprocessResult{};
}

TEST(SandboxTest, OnlyTheProjectAndSitesAreVisibleReadOnly) {
  ASSERT_OK(SandboxAvailable());
  std::string dir = "/tmp/sluice-sandbox-test-" + NewShortId(8);
  for (const char* sub : {"/project/home", "/pkg-a/a", "/pkg-b/b"}) {
    ASSERT_OK(MakeDirs(dir + sub));
  }
  ASSERT_OK(WriteFileAtomic(dir + "/host-file", "x"));
  ASSERT_OK(WriteFileAtomic(dir + "/project/model.py", "secret-free"));
  ASSERT_OK(WriteFileAtomic(dir + "/project/home/catalog.db", "catalog"));
  ::chmod((dir + "/project").c_str(), 0700);  // the engine's own files, unreadable to others
  ::chmod((dir + "/project/model.py").c_str(), 0600);
  auto result = RunInLauncher(
      {"--no-network", "--confine", "--map-uid", "1234567", "--own", dir + "/project", "--hide", dir + "/project/home",
       "--site-at", "/sluice/site", "--site", dir + "/pkg-a", "--site", dir + "/pkg-b"},
      "cat model.py; echo; touch f 2>/dev/null && echo project-writable; "
      "test -e " +
          dir +
          "/host-file && echo host-tmp-visible; ls home; ls /sluice/site | tr '\\n' ' '; "
          "touch /sluice/site/x 2>/dev/null && echo site-writable; touch /tmp/t && echo tmp-writable; "
          "ls /dev/shm; echo pid $$; id -u; grep CapEff /proc/self/status; ls /proc | grep -c '^[0-9]'",
      dir + "/project");
  EXPECT_EQ(result.exit_code, 0) << result.stderr_text;
  EXPECT_EQ(result.stdout_text, "secret-free\na b tmp-writable\npid 2\n0\nCapEff:\t0000000000000000\n4\n")
      << result.stderr_text;
  EXPECT_FALSE(PathExists(dir + "/project/f"));
  ASSERT_OK(RemoveAll(dir));
}

TEST(SandboxTest, AMissingDirectoryIsNamed) {
  auto result = RunInLauncher({"--read-only", "/nonexistent-sluice-dir"}, "true");
  EXPECT_EQ(result.exit_code, 126);
  EXPECT_NE(result.stderr_text.find("/nonexistent-sluice-dir"), std::string::npos) << result.stderr_text;
}

}  // namespace
}  // namespace sluice
