// sluice-sandbox: sets up the sandbox of a model's worker (or of the zygote that forks
// workers) and runs the program in it.
//
//   sluice-sandbox [--no-network] [--confine | --zygote] [--max-processes N] [--map-uid UID]
//                  [--die-with-parent] [--read-only PATH]... [--own PATH]... [--hide DIR]...
//                  [--site-at MOUNTPOINT --site DIR...] -- PROGRAM ARGS...
//
// The program runs with a root of its own: a read-only tmpfs holding the system's /usr,
// /lib* and /etc, a few device nodes, a private empty /tmp and /dev/shm, its own /proc, and
// only the paths named here, each at its own path:
//   --read-only PATH  visible read-only (the interpreter, the confinement library);
//   --own PATH        visible read-only and, when the engine is root, through an idmapped
//                     mount, so files of the engine's user read as the sandbox's (the project);
//   --hide DIR        an empty read-only directory over DIR (a data home inside the project);
//   --site DIR...     the directories, first one winning, overlaid read-only at MOUNTPOINT:
//                     the function's site-packages, assembled without copying.
// Nothing else of the host is there: no data home, no /dev/shm object of any run, no zygote
// socket. The program is root of a user namespace of its own, which outside is the
// unprivileged uid --map-uid (when the engine is root; otherwise the engine's own uid), and,
// without internet access, in a network namespace holding only a loopback that is down.
// --confine (a worker) also makes it pid 2 of a PID namespace of its own, with its own
// /proc, under an init of ours (every process it leaves dies with it), and drops every
// privilege before the program starts (worker_confinement.h); this process then stays
// outside, as the program's parent, and ends as it ends (same exit code, or killed by the
// same signal); killed itself, it takes the program with it. --zygote does the same but
// leaves the program the two capabilities it needs, inside its namespaces, to give each
// worker it forks namespaces of its own and confine it.
//
// --die-with-parent: killed (SIGKILL, and with it the program's PID namespace) when the
// thread that started this process ends.
//
// Kept to libc (and libseccomp through the confinement) on purpose: it is exec'd per worker
// and per zygote, so it must start in a millisecond. Exit code 126 (with one line on stderr)
// when the sandbox cannot be set up; otherwise the program's own. `--check` sets up a
// sandbox with everything and exits 0 when that worked.
#include <fcntl.h>
#include <grp.h>
#include <linux/mount.h>
#include <sched.h>
#include <signal.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <string>
#include <vector>

#include "env/worker_confinement.h"

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
int SetMountAttributes(int fd, const char* path, unsigned flags, uint64_t set, int userns = -1) {
  struct mount_attr attr = {};
  attr.attr_set = set;
  if (userns >= 0) attr.userns_fd = static_cast<uint64_t>(userns);
  return static_cast<int>(::syscall(SYS_mount_setattr, fd, path, flags, &attr, sizeof(attr)));
}
int MakeReadOnly(int fd) { return SetMountAttributes(fd, "", AT_EMPTY_PATH | AT_RECURSIVE, MOUNT_ATTR_RDONLY); }

void MakeDirs(const std::string& path) {
  for (size_t slash = 1; slash != std::string::npos;) {
    slash = path.find('/', slash + 1);
    std::string prefix = path.substr(0, slash);
    if (::mkdir(prefix.c_str(), 0755) != 0 && errno != EEXIST) Fail("cannot create", prefix);
  }
}

void WriteFile(const std::string& path, const std::string& text) {
  int fd = ::open(path.c_str(), O_WRONLY | O_CLOEXEC);
  if (fd < 0 || ::write(fd, text.data(), text.size()) != static_cast<ssize_t>(text.size())) Fail("cannot write", path);
  ::close(fd);
}

// A detached tmpfs (nothing in it), read-only or not.
int DetachedTmpfs(bool read_only) {
  int fs = FsOpen("tmpfs");
  if (fs < 0) Fail("tmpfs is not available");
  if (FsConfig(fs, FSCONFIG_SET_STRING, "mode", read_only ? "0555" : "1777") != 0 ||
      FsConfig(fs, FSCONFIG_CMD_CREATE, nullptr, nullptr) != 0) {
    Fail("cannot create a tmpfs");
  }
  int mount_fd = FsMount(fs, MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV | (read_only ? MOUNT_ATTR_RDONLY : 0));
  if (mount_fd < 0) Fail("cannot mount a tmpfs");
  ::close(fs);
  return mount_fd;
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

// A user namespace whose root is `uid` (and gid) outside, made by a short-lived child that
// this (root) process maps from outside: an unprivileged process cannot map itself to
// another uid. Returned as a descriptor, for idmapped mounts and for setns.
int UserNamespaceMappedTo(long uid) {
  int ready[2];
  if (::pipe2(ready, O_CLOEXEC) != 0) Fail("cannot create a pipe");
  pid_t child = ::fork();
  if (child < 0) Fail("cannot fork");
  if (child == 0) {
    char byte = ::unshare(CLONE_NEWUSER) == 0 ? 1 : 0;
    (void)::write(ready[1], &byte, 1);
    ::pause();
    ::_exit(0);
  }
  ::close(ready[1]);
  char byte = 0;
  if (::read(ready[0], &byte, 1) != 1 || byte != 1) {
    errno = EPERM;
    Fail("cannot create a user namespace");
  }
  ::close(ready[0]);
  std::string proc = "/proc/" + std::to_string(child);
  std::string map = "0 " + std::to_string(uid) + " 1\n";
  WriteFile(proc + "/uid_map", map);
  WriteFile(proc + "/gid_map", map);
  int fd = ::open((proc + "/ns/user").c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) Fail("cannot open the user namespace of", proc);
  ::kill(child, SIGKILL);
  ::waitpid(child, nullptr, 0);
  return fd;
}

// An unprivileged engine: a user namespace in which its own uid is root.
void EnterOwnUserNamespace() {
  uid_t uid = ::geteuid();
  gid_t gid = ::getegid();
  if (::unshare(CLONE_NEWUSER) != 0) Fail("cannot create a user namespace");
  WriteFile("/proc/self/setgroups", "deny");
  WriteFile("/proc/self/uid_map", "0 " + std::to_string(uid) + " 1\n");
  WriteFile("/proc/self/gid_map", "0 " + std::to_string(gid) + " 1\n");
}

struct Config {
  bool no_network = false, confine = false, zygote = false, die_with_parent = false;
  long max_processes = 0;
  long map_uid = -1;
  std::vector<std::string> read_only, own, hide, sites;
  std::string site_at;
};

struct Attach {
  std::string target;
  int tree;
  bool is_file;
};

// The system's own directories (or, with a merged /usr, their symlinks) the interpreter needs.
constexpr const char* kSystemPaths[] = {"/usr", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32", "/etc"};
constexpr const char* kDevices[] = {"/dev/null", "/dev/zero", "/dev/full", "/dev/random", "/dev/urandom"};

Attach Capture(const std::string& path, bool read_only, int idmap_userns = -1) {
  struct stat info;
  if (::stat(path.c_str(), &info) != 0) Fail("cannot find", path);
  int tree = OpenTreeClone(path.c_str());
  if (tree < 0) Fail("cannot bind", path);
  uint64_t attrs = read_only ? MOUNT_ATTR_RDONLY : 0;
  // Idmapped where the filesystem can (ext4, tmpfs, btrfs, xfs...); elsewhere the files stay
  // readable as far as their mode lets anyone read them.
  if (idmap_userns >= 0 &&
      SetMountAttributes(tree, "", AT_EMPTY_PATH | AT_RECURSIVE, attrs | MOUNT_ATTR_IDMAP, idmap_userns) == 0) {
    attrs = 0;
  }
  if (attrs && SetMountAttributes(tree, "", AT_EMPTY_PATH | AT_RECURSIVE, attrs) != 0)
    Fail("cannot make read-only", path);
  return {path, tree, !S_ISDIR(info.st_mode)};
}

// Builds the sandbox's root and enters it, in namespaces of its own; this process is in it
// afterwards, in the same working directory, as root of the sandbox's user namespace with
// every capability there.
void EnterSandbox(const Config& config) {
  char cwd[4096];
  if (!::getcwd(cwd, sizeof(cwd))) Fail("cannot read the working directory");
  bool engine_is_root = ::geteuid() == 0;
  int userns = -1;
  if (engine_is_root) {
    userns = UserNamespaceMappedTo(config.map_uid > 0 ? config.map_uid : 65534);
  } else {
    EnterOwnUserNamespace();
  }
  if (::unshare(CLONE_NEWNS | (config.no_network ? CLONE_NEWNET : 0)) != 0) Fail("cannot create namespaces");
  if (::mount(nullptr, "/", nullptr, MS_REC | MS_PRIVATE, nullptr) != 0) Fail("cannot make mounts private");

  // Every tree is captured before anything moves, so the new root hiding a path later does
  // not matter.
  std::vector<Attach> attach;
  std::vector<std::pair<std::string, std::string>> symlinks;  // path, target
  for (const char* path : kSystemPaths) {
    struct stat info;
    if (::lstat(path, &info) != 0) continue;
    if (S_ISLNK(info.st_mode)) {
      char target[4096];
      ssize_t n = ::readlink(path, target, sizeof(target) - 1);
      if (n > 0) symlinks.push_back({path, std::string(target, static_cast<size_t>(n))});
    } else if (S_ISDIR(info.st_mode)) {
      attach.push_back(Capture(path, true));
    }
  }
  for (const char* device : kDevices) {
    if (::access(device, F_OK) == 0) attach.push_back(Capture(device, false));
  }
  for (const auto& [link, target] : {std::pair<const char*, const char*>{"/dev/fd", "/proc/self/fd"},
                                     {"/dev/stdin", "/proc/self/fd/0"},
                                     {"/dev/stdout", "/proc/self/fd/1"},
                                     {"/dev/stderr", "/proc/self/fd/2"}}) {
    symlinks.push_back({link, target});
  }
  for (const auto& path : config.read_only) attach.push_back(Capture(path, true));
  for (const auto& path : config.own) attach.push_back(Capture(path, true, userns));
  if (!config.sites.empty()) attach.push_back({config.site_at, BuildOverlay(config.sites), false});
  attach.push_back({"/tmp", DetachedTmpfs(false), false});
  attach.push_back({"/dev/shm", DetachedTmpfs(false), false});
  for (const auto& dir : config.hide) attach.push_back({dir, DetachedTmpfs(true), false});

  // The new root: a tmpfs over the host's /tmp in this namespace (every tree from there is
  // captured already), filled, made read-only, then pivoted into.
  const std::string root = "/tmp";
  if (::mount("sluice-sandbox", root.c_str(), "tmpfs", MS_NOSUID | MS_NODEV, "mode=0755") != 0) {
    Fail("cannot mount the sandbox's root");
  }
  // Parents before children: a directory inside /tmp or inside the project lands on them.
  std::stable_sort(attach.begin(), attach.end(),
                   [](const Attach& a, const Attach& b) { return a.target.size() < b.target.size(); });
  for (const auto& [target, tree, is_file] : attach) {
    std::string at = root + target;
    if (is_file) {
      MakeDirs(at.substr(0, at.rfind('/')));
      int fd = ::open(at.c_str(), O_CREAT | O_WRONLY | O_CLOEXEC, 0644);
      if (fd < 0) Fail("cannot create", at);
      ::close(fd);
    } else {
      MakeDirs(at);
    }
    if (MoveMountTo(tree, at.c_str()) != 0) Fail("cannot mount at", target);
    ::close(tree);
  }
  for (const auto& [link, target] : symlinks) {
    if (::symlink(target.c_str(), (root + link).c_str()) != 0 && errno != EEXIST) Fail("cannot create", link);
  }
  // The host's /proc for now, so that a procfs for the sandbox's own PID namespace may be
  // mounted over it later (a user namespace may mount procfs only where one is fully visible).
  MakeDirs(root + "/proc");
  if (::mount("proc", (root + "/proc").c_str(), "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, nullptr) != 0) {
    int proc = OpenTreeClone("/proc");
    if (proc < 0 || MoveMountTo(proc, (root + "/proc").c_str()) != 0) Fail("cannot mount /proc");
    ::close(proc);
  }
  MakeDirs(root + "/.old-root");
  if (::syscall(SYS_pivot_root, root.c_str(), (root + "/.old-root").c_str()) != 0)
    Fail("cannot pivot into the sandbox");
  if (::chdir("/") != 0) Fail("cannot enter /");
  if (::umount2("/.old-root", MNT_DETACH) != 0) Fail("cannot detach the host's root");
  ::rmdir("/.old-root");
  if (SetMountAttributes(AT_FDCWD, "/", 0, MOUNT_ATTR_RDONLY) != 0) Fail("cannot make the sandbox's root read-only");
  if (::chdir(cwd) != 0) Fail("cannot enter", cwd);

  if (engine_is_root) {
    // Root of the new user namespace, which outside is the unprivileged uid: no supplementary
    // group of the host's root stays either.
    if (::setns(userns, CLONE_NEWUSER) != 0) Fail("cannot enter the sandbox's user namespace");
    ::close(userns);
    if (::setgroups(0, nullptr) != 0 || ::setresgid(0, 0, 0) != 0 || ::setresuid(0, 0, 0) != 0) {
      Fail("cannot become the sandbox's user");
    }
  }
}

// Runs `body` as pid 2 of a new PID namespace, in a mount namespace of its own showing that
// PID namespace's /proc, confined when asked; this process waits and ends as it ends. Pid 1
// is a small init of ours: it reaps what the program leaves and reports the program's end,
// and its own end takes everything left in the namespace with it. The program is not pid 1
// because pid 1 ignores every signal it has no handler for, even one it sends itself.
[[noreturn]] void RunInPidNamespace(const Config& config, const std::function<void()>& body) {
  if (::unshare(CLONE_NEWPID) != 0) Fail("cannot create a PID namespace");
  int report[2];
  if (::pipe2(report, O_CLOEXEC) != 0) Fail("cannot create a pipe");
  pid_t init = ::fork();
  if (init < 0) Fail("cannot fork");
  if (init == 0) {
    ::prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (::unshare(CLONE_NEWNS) != 0) Fail("cannot create a mount namespace");
    if (::mount("proc", "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, nullptr) != 0) Fail("cannot mount /proc");
    pid_t program = ::fork();
    if (program < 0) Fail("cannot fork");
    if (program == 0) {
      ::prctl(PR_SET_PDEATHSIG, SIGKILL);
      if (config.confine || config.zygote) {
        sluice::ConfinementOptions options;
        options.max_processes = config.max_processes;
        options.zygote = config.zygote;
        std::string why = sluice::ConfineProcess(options);
        if (!why.empty()) {
          std::fprintf(stderr, "sluice-sandbox: %s\n", why.c_str());
          ::_exit(kSetupFailed);
        }
      }
      body();
      ::_exit(0);
    }
    ::close(0);
    ::close(1);
    int status = 0;
    while (true) {
      int reaped_status = 0;
      pid_t reaped = ::wait(&reaped_status);
      if (reaped == program) {
        status = reaped_status;
        break;
      }
      if (reaped < 0 && errno != EINTR) {
        status = kSetupFailed << 8;
        break;
      }
    }
    (void)::write(report[1], &status, sizeof(status));
    ::_exit(0);
  }
  // Outside, nothing but the wait: the program's output and input are its own.
  ::close(report[1]);
  ::close(0);
  ::close(1);
  int init_status = 0;
  while (::waitpid(init, &init_status, 0) < 0 && errno == EINTR) {
  }
  int status = init_status;  // init killed before the program ended: its end is the answer
  (void)::read(report[0], &status, sizeof(status));
  if (WIFEXITED(status)) ::_exit(WEXITSTATUS(status));
  int sig = WTERMSIG(status);
  ::prctl(PR_SET_DUMPABLE, 0);
  ::signal(sig, SIG_DFL);
  ::kill(::getpid(), sig);
  ::_exit(128 + sig);
}

// Sets up a sandbox with every feature on throwaway directories, in a child process, and
// checks from inside that it holds. 0 when all of it works here.
int Check() {
  char base[] = "/tmp/sluice-sandbox-check-XXXXXX";
  if (!::mkdtemp(base)) Fail("cannot create", base);
  std::string ro = std::string(base) + "/ro", own = std::string(base) + "/own", at = std::string(base) + "/at";
  for (const auto& dir : {ro, own, at}) {
    if (::mkdir(dir.c_str(), 0700) != 0) Fail("cannot create", dir);
  }
  pid_t pid = ::fork();
  if (pid == 0) {
    if (::chdir(own.c_str()) != 0) Fail("cannot enter", own);
    Config config;
    config.no_network = true;
    config.confine = true;
    config.map_uid = 65534;
    config.read_only = {ro};
    config.own = {own};
    config.sites = {ro, own};
    config.site_at = at;
    EnterSandbox(config);
    RunInPidNamespace(config, [&] {
      errno = EPERM;
      int fd = ::open((own + "/probe").c_str(), O_CREAT | O_WRONLY, 0644);
      if (fd >= 0 || errno != EROFS) Fail("a read-only directory is writable", own);
      if (::access(own.c_str(), R_OK | X_OK) != 0) Fail("the project is not readable in the sandbox", own);
      if (::getpid() != 2) Fail("the sandbox has no PID namespace of its own");
      if (::unshare(CLONE_NEWUSER) == 0) Fail("a confined process can create a user namespace");
      ::_exit(0);
    });
  }
  int status = 1;
  if (pid > 0) ::waitpid(pid, &status, 0);
  for (const auto& dir : {ro, own, at, std::string(base)}) ::rmdir(dir.c_str());
  return WIFEXITED(status) ? WEXITSTATUS(status) : kSetupFailed;
}

int Usage() {
  std::fprintf(stderr,
               "usage: sluice-sandbox [--no-network] [--confine | --zygote] [--max-processes N] [--map-uid UID] "
               "[--die-with-parent] "
               "[--read-only PATH]... [--own PATH]... [--hide DIR]... [--site-at DIR --site DIR...] "
               "-- PROGRAM ARGS...\n"
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
    } else if (arg == "--die-with-parent") {
      config.die_with_parent = true;
    } else if (arg == "--confine") {
      config.confine = true;
    } else if (arg == "--zygote") {
      config.zygote = true;
    } else if (arg == "--max-processes") {
      config.max_processes = std::atol(value().c_str());
    } else if (arg == "--map-uid") {
      config.map_uid = std::atol(value().c_str());
    } else if (arg == "--read-only") {
      config.read_only.push_back(value());
    } else if (arg == "--own") {
      config.own.push_back(value());
    } else if (arg == "--hide") {
      config.hide.push_back(value());
    } else if (arg == "--site") {
      config.sites.push_back(value());
    } else if (arg == "--site-at") {
      config.site_at = value();
    } else {
      return Usage();
    }
  }
  if (i >= argc || (!config.sites.empty() && config.site_at.empty())) return Usage();
  pid_t parent = ::getppid();
  EnterSandbox(config);
  if (config.die_with_parent) {
    // After entering the user namespace: changing credentials clears the setting.
    ::prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (::getppid() != parent) return kSetupFailed;  // the parent was gone before we asked
  }
  char** program = argv + i;
  if (config.confine && config.zygote) return Usage();
  if (!config.confine && !config.zygote) {
    ::execvp(program[0], program);
    Fail("cannot run", program[0]);
  }
  RunInPidNamespace(config, [&] {
    ::execvp(program[0], program);
    Fail("cannot run", program[0]);
  });
}
