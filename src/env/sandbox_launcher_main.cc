// sluice-sandbox: sets up a worker's sandbox and then runs the worker in it.
//
//   sluice-sandbox [--no-network] [--private-tmp] [--read-only DIR]... [--writable DIR]...
//                  [--site-at MOUNTPOINT --site DIR...] -- PROGRAM ARGS...
//
// In a new mount namespace (and, with --no-network, a new network namespace holding only a
// loopback that is down):
//   --read-only DIR   DIR is visible read-only (the project);
//   --private-tmp     /tmp is a fresh, empty tmpfs, seen by this process tree alone;
//   --writable DIR    DIR stays visible and writable, even inside a read-only DIR or /tmp
//                     (the object store the worker writes its result to);
//   --site DIR...     the directories, first one winning, are overlaid read-only at
//                     MOUNTPOINT: the function's site-packages, assembled without copying.
// Nothing here is visible outside the namespace, and it all goes away with the last process.
//
// Kept to libc on purpose: it is exec'd once per worker, so it must start in a millisecond.
// Exit code 126 (with one line on stderr) when the sandbox cannot be set up; otherwise the
// program's own. `--check` sets up a sandbox with everything and exits 0 when that worked.
#include <fcntl.h>
#include <linux/mount.h>
#include <sched.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

namespace {

constexpr int kSetupFailed = 126;

[[noreturn]] void Fail(const std::string& what, const std::string& path = "") {
  int err = errno;
  std::fprintf(stderr, "sluice-sandbox: %s%s%s: %s\n", what.c_str(), path.empty() ? "" : " ", path.c_str(),
               std::strerror(err));
  std::exit(kSetupFailed);
}

// The new mount API (Linux 5.2+; mount_setattr 5.12+). glibc 2.36 has wrappers, but raw
// syscalls keep this building against older headers too.
int FsOpen(const char* type) { return static_cast<int>(::syscall(SYS_fsopen, type, FSOPEN_CLOEXEC)); }
int FsConfig(int fd, unsigned cmd, const char* key, const char* value) {
  return static_cast<int>(::syscall(SYS_fsconfig, fd, cmd, key, value, 0));
}
int FsMount(int fd, unsigned attrs) { return static_cast<int>(::syscall(SYS_fsmount, fd, FSMOUNT_CLOEXEC, attrs)); }
int OpenTreeClone(const char* path) {
  return static_cast<int>(::syscall(SYS_open_tree, AT_FDCWD, path, OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC | AT_RECURSIVE));
}
int MoveMountTo(int fd, const char* target) {
  return static_cast<int>(::syscall(SYS_move_mount, fd, "", AT_FDCWD, target, MOVE_MOUNT_F_EMPTY_PATH));
}
int MakeReadOnly(int fd) {
  struct mount_attr attr = {};
  attr.attr_set = MOUNT_ATTR_RDONLY;
  return static_cast<int>(::syscall(SYS_mount_setattr, fd, "", AT_EMPTY_PATH | AT_RECURSIVE, &attr, sizeof(attr)));
}

void MakeDirs(const std::string& path) {
  for (size_t slash = 1; slash != std::string::npos;) {
    slash = path.find('/', slash + 1);
    std::string prefix = path.substr(0, slash);
    if (::mkdir(prefix.c_str(), 0755) != 0 && errno != EEXIST) Fail("cannot create", prefix);
  }
}

// A read-only overlay of `dirs` (first wins), detached until moved into place.
int BuildOverlay(const std::vector<std::string>& dirs) {
  if (dirs.size() == 1) {  // an overlay needs two layers; one directory is a read-only bind
    int tree = OpenTreeClone(dirs[0].c_str());
    if (tree < 0) Fail("cannot bind", dirs[0]);
    if (MakeReadOnly(tree) != 0) Fail("cannot make read-only", dirs[0]);
    return tree;
  }
  int fs = FsOpen("overlay");
  if (fs < 0) Fail("overlayfs is not available");
  // "lowerdir+" (Linux 6.8+) takes one layer at a time, without the page-size limit of the
  // joined option; older kernels get the joined form.
  bool appended = true;
  for (const auto& dir : dirs) {
    if (FsConfig(fs, FSCONFIG_SET_STRING, "lowerdir+", dir.c_str()) != 0) {
      appended = false;
      break;
    }
  }
  if (!appended) {
    ::close(fs);
    fs = FsOpen("overlay");
    std::string joined;
    for (const auto& dir : dirs) joined += (joined.empty() ? "" : ":") + dir;
    if (FsConfig(fs, FSCONFIG_SET_STRING, "lowerdir", joined.c_str()) != 0) Fail("overlay layers rejected");
  }
  if (FsConfig(fs, FSCONFIG_CMD_CREATE, nullptr, nullptr) != 0) Fail("cannot create the overlay");
  int mount_fd = FsMount(fs, MOUNT_ATTR_RDONLY | MOUNT_ATTR_NODEV | MOUNT_ATTR_NOSUID);
  if (mount_fd < 0) Fail("cannot mount the overlay");
  ::close(fs);
  return mount_fd;
}

struct Attach {
  std::string target;
  int tree;
};

struct Config {
  bool no_network = false, private_tmp = false;
  std::vector<std::string> read_only, writable, sites;
  std::string site_at;
};

// Enters the sandbox: this process is in it afterwards, in the same working directory.
void EnterSandbox(const Config& config) {
  char cwd[4096];
  if (!::getcwd(cwd, sizeof(cwd))) Fail("cannot read the working directory");
  if (::unshare(CLONE_NEWNS | (config.no_network ? CLONE_NEWNET : 0)) != 0) Fail("cannot create namespaces");
  if (::mount(nullptr, "/", nullptr, MS_REC | MS_PRIVATE, nullptr) != 0) Fail("cannot make mounts private");

  // Every tree is captured before anything moves, so /tmp or a read-only parent hiding a
  // path later does not matter.
  std::vector<Attach> attach;
  for (const auto& dir : config.read_only) {
    int tree = OpenTreeClone(dir.c_str());
    if (tree < 0) Fail("cannot bind", dir);
    if (MakeReadOnly(tree) != 0) Fail("cannot make read-only", dir);
    attach.push_back({dir, tree});
  }
  for (const auto& dir : config.writable) {
    int tree = OpenTreeClone(dir.c_str());
    if (tree < 0) Fail("cannot bind", dir);
    attach.push_back({dir, tree});
  }
  if (!config.sites.empty()) attach.push_back({config.site_at, BuildOverlay(config.sites)});
  if (config.private_tmp && ::mount("tmpfs", "/tmp", "tmpfs", MS_NOSUID | MS_NODEV, "mode=1777") != 0) {
    Fail("cannot mount a private /tmp");
  }
  // Parents before children: a writable directory inside the read-only project stays writable.
  std::stable_sort(attach.begin(), attach.end(),
                   [](const Attach& a, const Attach& b) { return a.target.size() < b.target.size(); });
  for (const auto& [target, tree] : attach) {
    MakeDirs(target);
    if (MoveMountTo(tree, target.c_str()) != 0) Fail("cannot mount at", target);
    ::close(tree);
  }
  // The old working directory is the one under the new mounts; enter the new one.
  if (::chdir(cwd) != 0) Fail("cannot enter", cwd);
}

// Sets up a sandbox with every feature on throwaway directories, in a child process, and
// checks that the read-only directory refuses writes. 0 when all of it works here.
int Check() {
  char base[] = "/tmp/sluice-sandbox-check-XXXXXX";
  if (!::mkdtemp(base)) Fail("cannot create", base);
  std::string ro = std::string(base) + "/ro", rw = std::string(base) + "/rw", at = std::string(base) + "/at";
  for (const auto& dir : {ro, rw, at}) {
    if (::mkdir(dir.c_str(), 0755) != 0) Fail("cannot create", dir);
  }
  pid_t pid = ::fork();
  if (pid == 0) {
    if (::chdir("/") != 0) Fail("cannot enter /");  // the caller's may be in /tmp
    Config config{true, true, {ro}, {rw}, {ro, rw}, at};
    EnterSandbox(config);
    int fd = ::open((ro + "/probe").c_str(), O_CREAT | O_WRONLY, 0644);
    if (fd >= 0 || errno != EROFS) {
      errno = EPERM;
      Fail("a read-only directory is writable", ro);
    }
    ::_exit(0);
  }
  int status = 1;
  if (pid > 0) ::waitpid(pid, &status, 0);
  for (const auto& dir : {ro, rw, at, std::string(base)}) ::rmdir(dir.c_str());
  return WIFEXITED(status) ? WEXITSTATUS(status) : kSetupFailed;
}

int Usage() {
  std::fprintf(stderr,
               "usage: sluice-sandbox [--no-network] [--private-tmp] [--read-only DIR]... "
               "[--writable DIR]... [--site-at DIR --site DIR...] -- PROGRAM ARGS...\n"
               "       sluice-sandbox --check\n");
  return 2;
}

}  // namespace

int main(int argc, char** argv) {
  Config config;
  int i = 1;
  for (; i < argc; ++i) {
    std::string arg = argv[i];
    auto value = [&]() -> std::string {
      if (i + 1 >= argc) std::exit(Usage());
      return argv[++i];
    };
    if (arg == "--") {
      ++i;
      break;
    } else if (arg == "--check") {
      return Check();
    } else if (arg == "--no-network") {
      config.no_network = true;
    } else if (arg == "--private-tmp") {
      config.private_tmp = true;
    } else if (arg == "--read-only") {
      config.read_only.push_back(value());
    } else if (arg == "--writable") {
      config.writable.push_back(value());
    } else if (arg == "--site") {
      config.sites.push_back(value());
    } else if (arg == "--site-at") {
      config.site_at = value();
    } else {
      return Usage();
    }
  }
  if (i >= argc || (!config.sites.empty() && config.site_at.empty())) return Usage();
  EnterSandbox(config);
  ::execvp(argv[i], argv + i);
  Fail("cannot run", argv[i]);
}
