#include "env/worker_confinement.h"

#include <dirent.h>
#include <fcntl.h>
#include <linux/capability.h>
#include <linux/securebits.h>
#include <sched.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/personality.h>
#include <sys/prctl.h>
#include <sys/ptrace.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <atomic>
#include <cerrno>
#include <csignal>
#include <cstdio>
#include <cstring>
#include <functional>
#include <string>
#include <thread>
#include <vector>

namespace sluice {
namespace {

// What a child found wrong, as "what failed; what failed; ...": empty when everything held.
class Findings {
 public:
  void Expect(bool ok, const std::string& what) {
    if (!ok) text_ += what + "; ";
  }
  // The call must fail with `err`.
  // `what` is a plain string so that nothing between the call and here can change errno.
  void ExpectFails(long rc, int err, const char* what) {
    int got = errno;
    if (rc != -1) {
      text_ += std::string(what) + " succeeded; ";
    } else if (got != err) {
      text_ += std::string(what) + " failed with " + std::strerror(got) + ", not " + std::strerror(err) + "; ";
    }
  }
  const std::string& text() const { return text_; }

 private:
  std::string text_;
};

std::string ReadAll(int fd) {
  std::string out;
  char buf[4096];
  ssize_t n;
  while ((n = read(fd, buf, sizeof buf)) > 0 || (n < 0 && errno == EINTR)) {
    if (n > 0) out.append(buf, static_cast<size_t>(n));
  }
  return out;
}

std::string ReadFile(const std::string& path) {
  int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return "";
  std::string text = ReadAll(fd);
  close(fd);
  return text;
}

// The value of one "Key:\tvalue" line of /proc/self/status.
std::string StatusField(const std::string& key) {
  std::string status = ReadFile("/proc/self/status");
  size_t at = status.find("\n" + key + ":\t");
  if (at == std::string::npos) return "<missing>";
  at += key.size() + 3;
  return status.substr(at, status.find('\n', at) - at);
}

void WriteAll(int fd, const std::string& text) {
  size_t done = 0;
  while (done < text.size()) {
    ssize_t n = write(fd, text.data() + done, text.size() - done);
    if (n <= 0 && errno != EINTR) return;
    if (n > 0) done += static_cast<size_t>(n);
  }
}

// The child's report, and how it ended, once it has.
std::string Reap(pid_t pid, int report_fd, int expected_exit_code = 0) {
  std::string report = ReadAll(report_fd);
  close(report_fd);
  int status = 0;
  if (waitpid(pid, &status, 0) != pid) return report + "waitpid: " + std::strerror(errno);
  if (WIFSIGNALED(status)) return report + "child killed by signal " + std::to_string(WTERMSIG(status));
  if (WEXITSTATUS(status) != expected_exit_code) {
    return report + "child exited with " + std::to_string(WEXITSTATUS(status));
  }
  return report;
}

// Runs `body` in a forked child, so this process keeps its privileges; returns what the child
// found wrong. The child never returns into the test framework.
std::string InChild(const std::function<std::string()>& body) {
  int fds[2];
  if (pipe2(fds, O_CLOEXEC) != 0) return std::string("pipe: ") + std::strerror(errno);
  pid_t pid = fork();
  if (pid < 0) return std::string("fork: ") + std::strerror(errno);
  if (pid == 0) {
    close(fds[0]);
    std::string report = body();
    WriteAll(fds[1], report);
    _exit(report.empty() ? 0 : 1);
  }
  close(fds[1]);
  return Reap(pid, fds[0]);
}

// What the real caller sets up: a mount namespace of the worker's own, whose mounts (the
// worker's /proc) do not propagate back.
std::string EnterMountNamespace() {
  if (unshare(CLONE_NEWNS) != 0) return std::string("unshare(CLONE_NEWNS): ") + std::strerror(errno);
  if (mount(nullptr, "/", nullptr, MS_REC | MS_PRIVATE, nullptr) != 0) {
    return std::string("making / private: ") + std::strerror(errno);
  }
  return "";
}

std::string Confine(const ConfinementOptions& options = {}) {
  std::string error = EnterMountNamespace();
  if (!error.empty()) return error;
  error = ConfineProcess(options);
  return error.empty() ? "" : "ConfineProcess: " + error;
}

// Runs argv with stdout captured; "" and exit code -1 when it could not run.
std::string RunProgram(const std::vector<const char*>& argv, int* exit_code) {
  *exit_code = -1;
  int fds[2];
  if (pipe2(fds, O_CLOEXEC) != 0) return "";
  pid_t pid = fork();
  if (pid == 0) {
    dup2(fds[1], STDOUT_FILENO);
    std::vector<char*> args;
    for (const char* arg : argv) args.push_back(const_cast<char*>(arg));
    args.push_back(nullptr);
    execv(args[0], args.data());
    _exit(127);
  }
  close(fds[1]);
  std::string out = ReadAll(fds[0]);
  close(fds[0]);
  int status = 0;
  if (pid > 0 && waitpid(pid, &status, 0) == pid && WIFEXITED(status)) *exit_code = WEXITSTATUS(status);
  return out;
}

TEST(WorkerConfinementTest, NoCapabilitiesAndNoWayBack) {
  EXPECT_EQ(InChild([] {
              std::string error = Confine();
              if (!error.empty()) return error;
              Findings f;
              __user_cap_header_struct header{_LINUX_CAPABILITY_VERSION_3, 0};
              __user_cap_data_struct data[_LINUX_CAPABILITY_U32S_3];
              f.Expect(syscall(SYS_capget, &header, data) == 0, "capget");
              for (const auto& word : data) {
                f.Expect(word.effective == 0 && word.permitted == 0 && word.inheritable == 0, "capabilities left");
              }
              f.Expect(prctl(PR_CAPBSET_READ, CAP_SYS_ADMIN, 0, 0, 0) == 0, "CAP_SYS_ADMIN still bounding");
              f.Expect(StatusField("CapBnd") == "0000000000000000", "CapBnd " + StatusField("CapBnd"));
              f.Expect(StatusField("CapAmb") == "0000000000000000", "CapAmb " + StatusField("CapAmb"));
              f.Expect(StatusField("NoNewPrivs") == "1", "NoNewPrivs " + StatusField("NoNewPrivs"));
              f.Expect(StatusField("Seccomp") == "2", "Seccomp " + StatusField("Seccomp"));
              f.Expect(
                  prctl(PR_GET_SECUREBITS, 0, 0, 0, 0) ==
                      (SECBIT_NOROOT | SECBIT_NOROOT_LOCKED | SECBIT_NO_SETUID_FIXUP | SECBIT_NO_SETUID_FIXUP_LOCKED |
                       SECBIT_KEEP_CAPS_LOCKED | SECBIT_NO_CAP_AMBIENT_RAISE | SECBIT_NO_CAP_AMBIENT_RAISE_LOCKED),
                  "securebits");

              f.ExpectFails(mount("tmpfs", "/mnt", "tmpfs", 0, nullptr), EPERM, "mount tmpfs");
              f.ExpectFails(umount2("/proc", MNT_DETACH), EPERM, "umount2 /proc");
              // Without the filter this one succeeds even without capabilities, and the new user
              // namespace would hold them all again.
              f.ExpectFails(unshare(CLONE_NEWUSER), EPERM, "unshare(CLONE_NEWUSER)");
              // Were a clone to succeed, its child must not go on running the checks.
              for (long flags : {CLONE_NEWUSER, CLONE_NEWNET, CLONE_NEWPID}) {
                std::string what = "clone with flags " + std::to_string(flags);
                long pid = syscall(SYS_clone, flags | SIGCHLD, 0, 0, 0, 0);
                if (pid == 0) _exit(0);
                f.ExpectFails(pid, EPERM, what.c_str());
                if (pid > 0) waitpid(static_cast<pid_t>(pid), nullptr, 0);
              }
              f.ExpectFails(syscall(SYS_clone3, nullptr, 0), ENOSYS, "clone3");
              int ns = open("/proc/1/ns/mnt", O_RDONLY | O_CLOEXEC);
              f.Expect(setns(ns, 0) == -1, "setns to pid 1's mount namespace succeeded");
              if (ns >= 0) close(ns);
              f.ExpectFails(ptrace(PTRACE_ATTACH, getppid(), nullptr, nullptr), EPERM, "ptrace(PTRACE_ATTACH)");
              f.ExpectFails(syscall(SYS_keyctl, 0 /* KEYCTL_GET_KEYRING_ID */, -3, 0), EPERM, "keyctl");
              f.ExpectFails(syscall(SYS_bpf, 0 /* BPF_MAP_CREATE */, nullptr, 0), EPERM, "bpf");
              f.ExpectFails(syscall(SYS_io_uring_setup, 1, nullptr), EPERM, "io_uring_setup");

              f.Expect(personality(0xffffffff) != -1, "personality query");
              f.Expect(personality(PER_LINUX) != -1, "personality(PER_LINUX)");
              f.ExpectFails(personality(ADDR_NO_RANDOMIZE), EPERM, "personality(ADDR_NO_RANDOMIZE)");
              f.ExpectFails(personality(0xfffffffe), EPERM, "personality(0xfffffffe)");
              f.ExpectFails(personality(0x80000000), EPERM, "personality(0x80000000)");
              // On /dev/null, so that, were the rule missing, the ioctl would fail harmlessly
              // with ENOTTY rather than push input into the terminal running the test.
              int null_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
              char c = 'x';
              f.ExpectFails(ioctl(null_fd, TIOCSTI, &c), EPERM, "ioctl(TIOCSTI)");
              // High bits the kernel ignores must not dodge the rule.
              f.ExpectFails(ioctl(null_fd, TIOCSTI | (1ul << 32), &c), EPERM, "ioctl(TIOCSTI | 1 << 32)");
              f.ExpectFails(ioctl(null_fd, TIOCLINUX, &c), EPERM, "ioctl(TIOCLINUX)");
              close(null_fd);

              std::string dir = "/tmp/sluice-confinement-test-" + std::to_string(getpid());
              f.Expect(mkdir(dir.c_str(), 0700) == 0, "mkdir in /tmp");
              f.ExpectFails(mknod((dir + "/null").c_str(), S_IFCHR | 0600, makedev(1, 3)), EPERM, "mknod char");
              f.ExpectFails(mknodat(AT_FDCWD, (dir + "/disk").c_str(), S_IFBLK | 0600, makedev(8, 0)), EPERM,
                            "mknodat block");
              f.Expect(mknod((dir + "/fifo").c_str(), S_IFIFO | 0600, 0) == 0, "mknod fifo");
              unlink((dir + "/fifo").c_str());
              rmdir(dir.c_str());
              return f.text();
            }),
            "");
}

TEST(WorkerConfinementTest, ExecutedProgramsGainNothing) {
  EXPECT_EQ(InChild([] {
              std::string error = Confine();
              if (!error.empty()) return error;
              Findings f;
              int code;
              RunProgram({"/bin/true"}, &code);
              f.Expect(code == 0, "/bin/true exited with " + std::to_string(code));
              // uid 0 executing a program would normally get the full permitted set back.
              std::string caps =
                  RunProgram({"/bin/sh", "-c", "grep -E '^(Cap|NoNewPrivs|Seccomp:)' /proc/self/status"}, &code);
              f.Expect(code == 0, "sh exited with " + std::to_string(code));
              f.Expect(caps ==
                           "CapInh:\t0000000000000000\nCapPrm:\t0000000000000000\nCapEff:\t0000000000000000\n"
                           "CapBnd:\t0000000000000000\nCapAmb:\t0000000000000000\nNoNewPrivs:\t1\nSeccomp:\t2\n",
                       "after exec: " + caps);
              return f.text();
            }),
            "");
}

TEST(WorkerConfinementTest, OrdinaryWorkStillWorks) {
  EXPECT_EQ(InChild([] {
              std::string error = Confine();
              if (!error.empty()) return error;
              Findings f;
              pid_t pid = fork();
              if (pid == 0) _exit(7);
              int status = 0;
              f.Expect(pid > 0 && waitpid(pid, &status, 0) == pid && WIFEXITED(status) && WEXITSTATUS(status) == 7,
                       "fork + waitpid");

              std::string path = "/tmp/sluice-confinement-test-" + std::to_string(getpid());
              int fd = open(path.c_str(), O_CREAT | O_EXCL | O_RDWR | O_CLOEXEC, 0600);
              f.Expect(fd >= 0 && write(fd, "data", 4) == 4, "writing a file in /tmp");
              if (fd >= 0) close(fd);
              f.Expect(ReadFile(path) == "data", "reading it back");
              unlink(path.c_str());

              void* mem = mmap(nullptr, 1 << 20, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
              f.Expect(mem != MAP_FAILED, "mmap");
              if (mem != MAP_FAILED) {
                std::memset(mem, 1, 1 << 20);
                munmap(mem, 1 << 20);
              }

              // glibc starts threads with clone3 and falls back to clone on ENOSYS.
              std::atomic<int> ran{0};
              std::vector<std::thread> threads;
              for (int i = 0; i < 4; ++i) threads.emplace_back([&ran] { ran++; });
              for (auto& thread : threads) thread.join();
              f.Expect(ran == 4, "threads");
              return f.text();
            }),
            "");
}

TEST(WorkerConfinementTest, ProcessLimits) {
  EXPECT_EQ(
      InChild([] {
        ConfinementOptions options;
        options.max_processes = 64;
        std::string error = Confine(options);
        if (!error.empty()) return error;
        Findings f;
        rlimit limit{};
        f.Expect(getrlimit(RLIMIT_NPROC, &limit) == 0 && limit.rlim_cur == 64 && limit.rlim_max == 64, "RLIMIT_NPROC");
        f.Expect(getrlimit(RLIMIT_CORE, &limit) == 0 && limit.rlim_cur == 0 && limit.rlim_max == 0, "RLIMIT_CORE");
        return f.text();
      }),
      "");
}

#if defined(__x86_64__)
// The rules name x86_64 syscall numbers; the same call through the 32-bit or x32 ABI (other
// numbers) must not get past them.
TEST(WorkerConfinementTest, OtherArchitecturesAreKilled) {
  auto i386_getpid = [] {
    long ret;
    asm volatile("int $0x80" : "=a"(ret) : "a"(20L) : "memory", "r8", "r9", "r10", "r11");
    return ret;
  };
  for (bool confined : {false, true}) {
    int fds[2];
    ASSERT_EQ(pipe2(fds, O_CLOEXEC), 0);
    pid_t pid = fork();
    ASSERT_GE(pid, 0);
    if (pid == 0) {
      close(fds[0]);
      if (confined && !Confine().empty()) _exit(3);
      _exit(i386_getpid() == getpid() ? 0 : 4);
    }
    close(fds[1]);
    close(fds[0]);
    int status = 0;
    ASSERT_EQ(waitpid(pid, &status, 0), pid);
    if (!confined) {
      if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) GTEST_SKIP() << "no 32-bit syscalls on this kernel";
      continue;
    }
    EXPECT_TRUE(WIFSIGNALED(status) && WTERMSIG(status) == SIGSYS) << "status " << status;
  }
  pid_t pid = fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    if (!Confine().empty()) _exit(3);
    syscall(0x40000000 /* __X32_SYSCALL_BIT */ | SYS_getpid);
    _exit(0);
  }
  int status = 0;
  ASSERT_EQ(waitpid(pid, &status, 0), pid);
  EXPECT_TRUE(WIFSIGNALED(status) && WTERMSIG(status) == SIGSYS) << "x32 syscall, status " << status;
}
#endif

// The worker's own namespaces made as the zygote makes them, in one step here (fork semantics,
// no new stack): pid 1 of a new PID namespace, in a new mount namespace.
TEST(WorkerConfinementTest, AConfinedWorkerIsShownOnlyItsOwnProc) {
  pid_t runner = getpid();
  int fds[2];
  ASSERT_EQ(pipe2(fds, O_CLOEXEC), 0);
  int pid = static_cast<int>(syscall(SYS_clone, CLONE_NEWPID | CLONE_NEWNS | SIGCHLD, 0, 0, 0, 0));
  ASSERT_GE(pid, 0) << std::strerror(errno);
  if (pid == 0) {
    close(fds[0]);
    Findings f;
    f.Expect(getpid() == 1, "getpid() is " + std::to_string(getpid()));
    std::string error = EnterMountNamespace();
    char reason[256] = "unset";
    f.Expect(error.empty() && sluice_confine(1, 0, reason, sizeof reason) == 0 && reason[0] == '\0',
             "confining: " + error + reason);
    std::string nspid = StatusField("NSpid");
    // The fresh procfs shows pids from the worker's namespace down; the inherited one would
    // also show the pid outside ("12345\t1").
    f.Expect(nspid == "1", "NSpid " + nspid);
    std::string pids;
    if (DIR* dir = opendir("/proc")) {
      while (dirent* entry = readdir(dir)) {
        if (entry->d_name[0] >= '0' && entry->d_name[0] <= '9') pids += std::string(entry->d_name) + " ";
      }
      closedir(dir);
    }
    f.Expect(pids == "1 ", "/proc lists " + pids);
    f.Expect(access(("/proc/" + std::to_string(runner)).c_str(), F_OK) != 0, "the test runner is in /proc");
    WriteAll(fds[1], f.text());
    _exit(f.text().empty() ? 42 : 1);
  }
  close(fds[1]);
  EXPECT_GT(pid, 0);
  EXPECT_EQ(Reap(pid, fds[0], 42), "");
  // Nothing of the worker's /proc leaked into this mount namespace.
  EXPECT_EQ(access(("/proc/" + std::to_string(runner)).c_str(), F_OK), 0);
}

TEST(WorkerConfinementTest, CEntryReportsFailure) {
  EXPECT_EQ(InChild([] {
              std::string error = EnterMountNamespace();
              if (!error.empty()) return error;
              Findings f;
              char reason[128] = "unset";
              f.Expect(sluice_confine(0, 0, reason, sizeof reason) == 0 && reason[0] == '\0',
                       std::string("first call: ") + reason);
              // Deterministic: the capabilities are gone, and the bounding set needs CAP_SETPCAP.
              f.Expect(sluice_confine(0, 0, reason, sizeof reason) == -1, "second call succeeded");
              f.Expect(std::string(reason) == "cannot drop the capability bounding set: Operation not permitted",
                       std::string("second call: ") + reason);
              char small[10];
              f.Expect(sluice_confine(0, 0, small, sizeof small) == -1 && std::string(small) == "cannot dr",
                       std::string("truncated: ") + small);
              f.Expect(sluice_confine(0, 0, nullptr, 0) == -1, "without a buffer");
              return f.text();
            }),
            "");
}

}  // namespace
}  // namespace sluice
