#include "env/zygote.h"

#include <gtest/gtest.h>

#include <csignal>

#include "common/file_util.h"
#include "common/ids.h"
#include "common/test_util.h"

namespace sluice {
namespace {

class ZygoteTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = "/tmp/sluice-zygote-test-" + NewShortId(8);
    ASSERT_OK(MakeDirs(dir_ + "/project"));
    ASSERT_OK(MakeDirs(dir_ + "/site"));
    options_.sandbox.project_dir = dir_ + "/project";
    options_.sandbox.role = SandboxRole::kZygote;
    options_.socket_path = dir_ + "/z.sock";
    options_.log_path = dir_ + "/z.log";
  }
  void TearDown() override { (void)RemoveAll(dir_); }

  SubprocessOptions Collecting() {
    SubprocessOptions options;
    options.argv = {"worker"};
    return options;
  }

  std::string dir_;
  ZygoteOptions options_;
};

TEST_F(ZygoteTest, AForkedWorkersExitReachesWait) {
  ASSERT_OK_AND_ASSIGN(auto zygote, Zygote::Start(options_));
  ASSERT_OK_AND_ASSIGN(auto worker, zygote->Fork(Collecting(), 120));
  ASSERT_GT(worker->pid(), 0);
  if (SandboxAvailable().ok()) {
    // The pid is the engine's view of a worker that is pid 2 of its own PID namespace (pid 1
    // is the stand-in init that takes everything left in the namespace with it).
    ASSERT_OK_AND_ASSIGN(std::string status, ReadFile("/proc/" + std::to_string(worker->pid()) + "/status"));
    auto nspid = status.find("NSpid:");
    ASSERT_NE(nspid, std::string::npos);
    std::string line = status.substr(nspid, status.find('\n', nspid) - nspid);
    EXPECT_EQ(line.substr(line.size() - 2), "\t2") << line;
  }
  ASSERT_OK(worker->WriteStdin("\n"));  // no task: the worker ends at once
  ASSERT_OK_AND_ASSIGN(SubprocessResult result, worker->Wait());
  EXPECT_EQ(result.exit_code, 0);
  EXPECT_EQ(result.term_signal, 0);
  // A missing task file is the task's failure, reported as the worker's exit code.
  ASSERT_OK_AND_ASSIGN(auto second, zygote->Fork(Collecting(), 120));
  EXPECT_NE(second->pid(), worker->pid());
  ASSERT_OK(second->WriteStdin(dir_ + "/no-such-task.json\n"));
  ASSERT_OK_AND_ASSIGN(SubprocessResult failed, second->Wait());
  EXPECT_EQ(failed.exit_code, 1);
}

// A package's import-time code runs in the zygote (it preloads what the models import). There
// it must find a sandbox too: its own PID namespace, no capability beyond the two it needs,
// and no way into other namespaces or out of its mounts.
TEST_F(ZygoteTest, APreloadedPackageRunsConfinedInTheZygote) {
  ASSERT_OK(SandboxAvailable());
  ASSERT_OK(WriteFileAtomic(dir_ + "/project/models.py", "import probe_package\n"));
  ASSERT_OK(WriteFileAtomic(dir_ + "/site/probe_package.py", R"(
import ctypes, os
libc = ctypes.CDLL(None, use_errno=True)
def outcome(rc):
    return "ok" if rc == 0 else os.strerror(ctypes.get_errno())
status = dict(line.split(":\t", 1) for line in open("/proc/self/status").read().splitlines() if ":\t" in line)
pids = sorted(int(p) for p in os.listdir("/proc") if p.isdigit())
try:
    os.kill()" + std::to_string(::getpid()) + R"(, 0)
    kill = "ok"
except OSError as e:
    kill = os.strerror(e.errno)
print("probe pid", os.getpid())
print("probe pids", pids)
print("probe caps", status["CapEff"].strip(), status["CapBnd"].strip(), status["NoNewPrivs"].strip())
print("probe seccomp", status["Seccomp"].strip())
print("probe kill-engine", kill)
print("probe userns", outcome(libc.unshare(0x10000000)))
print("probe netns", outcome(libc.unshare(0x40000000)))
print("probe umount", outcome(libc.umount2(b"/tmp", 2)))
print("probe setns", outcome(libc.setns(os.open("/proc/self/ns/mnt", os.O_RDONLY), 0)))
)"));
  options_.sandbox.site_dirs = {dir_ + "/site"};
  options_.preload_files = {"models.py"};
  ASSERT_OK_AND_ASSIGN(auto zygote, Zygote::Start(options_));
  ASSERT_OK_AND_ASSIGN(auto worker, zygote->Fork(Collecting(), 120));  // once the imports are done
  ASSERT_OK(worker->WriteStdin("\n"));
  ASSERT_OK_AND_ASSIGN(SubprocessResult result, worker->Wait());
  EXPECT_EQ(result.exit_code, 0);
  ASSERT_OK_AND_ASSIGN(std::string log, ReadFile(options_.log_path));
  auto probe = [&](const std::string& key) {
    auto at = log.find("probe " + key + " ");
    if (at == std::string::npos) return std::string("(missing) ") + log;
    at += key.size() + 7;
    return log.substr(at, log.find('\n', at) - at);
  };
  EXPECT_EQ(probe("pid"), "2");
  EXPECT_EQ(probe("pids"), "[1, 2]");  // the launcher's init and the zygote: no host process
  EXPECT_EQ(probe("caps"), "0000000000200100 0000000000200100 1");  // SYS_ADMIN and SETPCAP only
  EXPECT_EQ(probe("seccomp"), "2");
  EXPECT_EQ(probe("kill-engine"), "No such process");
  EXPECT_EQ(probe("userns"), "Operation not permitted");
  EXPECT_EQ(probe("netns"), "Operation not permitted");
  EXPECT_EQ(probe("umount"), "Operation not permitted");
  EXPECT_EQ(probe("setns"), "Operation not permitted");
}

TEST_F(ZygoteTest, ATimeoutKillsTheForkedWorkerNotTheZygote) {
  ASSERT_OK_AND_ASSIGN(auto zygote, Zygote::Start(options_));
  SubprocessOptions waiting = Collecting();
  waiting.timeout_seconds = 0.5;  // it never gets a task, so it waits until killed
  ASSERT_OK_AND_ASSIGN(auto worker, zygote->Fork(waiting, 120));
  ASSERT_OK_AND_ASSIGN(SubprocessResult result, worker->Wait());
  EXPECT_TRUE(result.timed_out);
  EXPECT_EQ(result.term_signal, SIGKILL);
  ASSERT_OK_AND_ASSIGN(auto next, zygote->Fork(Collecting(), 120));
  ASSERT_OK(next->WriteStdin("\n"));
  ASSERT_OK_AND_ASSIGN(SubprocessResult fine, next->Wait());
  EXPECT_EQ(fine.exit_code, 0);
}

TEST_F(ZygoteTest, AZygoteThatCannotServeIsAnErrorNotAHang) {
  options_.sandbox.python = "/bin/false";  // it exits at once
  ASSERT_OK_AND_ASSIGN(auto zygote, Zygote::Start(options_));
  auto worker = zygote->Fork(Collecting(), 120);
  ASSERT_FALSE(worker.ok());
  EXPECT_NE(worker.status().message().find("zygote"), std::string::npos) << worker.status().ToString();
}

TEST_F(ZygoteTest, ASocketPathThatCannotBeBoundIsNamed) {
  options_.socket_path = dir_ + "/missing-dir/z.sock";
  auto zygote = Zygote::Start(options_);
  ASSERT_FALSE(zygote.ok());
  EXPECT_NE(zygote.status().message().find("missing-dir/z.sock"), std::string::npos) << zygote.status().ToString();
}

TEST_F(ZygoteTest, APoolStartsOneZygotePerKey) {
  ZygotePool pool(2);
  ASSERT_OK_AND_ASSIGN(auto a, pool.Get("a", options_));
  ASSERT_OK_AND_ASSIGN(auto again, pool.Get("a", options_));
  EXPECT_EQ(a.get(), again.get());
  ZygoteOptions other = options_;
  other.socket_path = dir_ + "/other.sock";
  ASSERT_OK_AND_ASSIGN(auto b, pool.Get("b", other));
  EXPECT_NE(a.get(), b.get());
}

}  // namespace
}  // namespace sluice
