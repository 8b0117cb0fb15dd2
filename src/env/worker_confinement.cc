#include "env/worker_confinement.h"

#include <linux/capability.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <linux/securebits.h>
#include <sched.h>
#include <seccomp.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <csignal>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <initializer_list>
#include <vector>

// Older headers lack the newest namespace flags; the values are the kernel ABI.
#ifndef CLONE_NEWCGROUP
#define CLONE_NEWCGROUP 0x02000000
#endif
#ifndef CLONE_NEWTIME
#define CLONE_NEWTIME 0x00000080
#endif

namespace sluice {
namespace {

// Syscalls a worker never needs that could regain privileges, see or leave the namespaces,
// or reach kernel-global state. Without capabilities most fail anyway, but a new user
// namespace (unshare, clone) would hand back a full set, and the filter also keeps the
// attack surface of the rest (bpf, io_uring, userfaultfd, ...) out of reach.
constexpr const char* kDeniedSyscalls[] = {
    "mount",
    "umount2",
    "pivot_root",
    "chroot",
    "setns",
    "unshare",
    "ptrace",
    "process_vm_readv",
    "process_vm_writev",
    "kcmp",
    "pidfd_getfd",
    "kexec_load",
    "kexec_file_load",
    "bpf",
    "keyctl",
    "add_key",
    "request_key",
    "init_module",
    "finit_module",
    "delete_module",
    "reboot",
    "swapon",
    "swapoff",
    "acct",
    "open_by_handle_at",
    "name_to_handle_at",
    "userfaultfd",
    "perf_event_open",
    "fsopen",
    "fsmount",
    "fsconfig",
    "fspick",
    "open_tree",
    "move_mount",
    "mount_setattr",
    "settimeofday",
    "clock_settime",
    "clock_adjtime",
    "adjtimex",
    "syslog",
    "quotactl",
    "iopl",
    "ioperm",
    "lookup_dcookie",
    "vhangup",
    "io_uring_setup",
    "io_uring_enter",
    "io_uring_register",
};

// Every namespace a child could be cloned into. One rule per flag: a rule's comparisons are
// ANDed, and rules are ORed.
constexpr uint64_t kNamespaceFlags[] = {CLONE_NEWNS,  CLONE_NEWUSER, CLONE_NEWPID,    CLONE_NEWNET,
                                        CLONE_NEWIPC, CLONE_NEWUTS,  CLONE_NEWCGROUP, CLONE_NEWTIME};

std::string Failed(const char* what, int err) { return std::string(what) + ": " + std::strerror(err); }

scmp_arg_cmp MaskedEq(unsigned arg, uint64_t mask, uint64_t value) {
  return scmp_arg_cmp{arg, SCMP_CMP_MASKED_EQ, mask, value};
}

class SeccompFilter {
 public:
  SeccompFilter() : ctx_(seccomp_init(SCMP_ACT_ALLOW)) {}
  ~SeccompFilter() {
    if (ctx_ != nullptr) seccomp_release(ctx_);
  }
  SeccompFilter(const SeccompFilter&) = delete;
  SeccompFilter& operator=(const SeccompFilter&) = delete;

  scmp_filter_ctx ctx() const { return ctx_; }

  // A syscall this libseccomp does not know, or one the native architecture does not have
  // (iopl off x86), is skipped: there is nothing to deny.
  std::string Add(const char* name, uint32_t action, std::initializer_list<scmp_arg_cmp> args = {}) {
    int nr = seccomp_syscall_resolve_name(name);
    if (nr < 0) return "";
    int rc = seccomp_rule_add_array(ctx_, action, nr, static_cast<unsigned>(args.size()), args.begin());
    if (rc < 0) return Failed((std::string("cannot add the seccomp rule for ") + name).c_str(), -rc);
    return "";
  }

 private:
  scmp_filter_ctx ctx_;
};

// The filter's rules, added to `filter`: a worker's, or with `zygote` a zygote's, which lets
// mount and unshare of mount and PID namespaces through (what it does for each worker).
std::string AddRules(SeccompFilter& filter, bool zygote) {
  if (filter.ctx() == nullptr) return "cannot create the seccomp filter";
  // Another architecture's syscall numbers (int 0x80, x32) would dodge every rule below.
  uint32_t bad_arch = 0;
  int rc = seccomp_attr_get(filter.ctx(), SCMP_FLTATR_ACT_BADARCH, &bad_arch);
  if (rc < 0) return Failed("cannot read the seccomp bad-architecture action", -rc);
  if (bad_arch != SCMP_ACT_KILL_THREAD && bad_arch != SCMP_ACT_KILL_PROCESS) {
    return "the seccomp filter would not kill syscalls of other architectures";
  }

  const uint32_t deny = SCMP_ACT_ERRNO(EPERM);
  std::string error;
  for (const char* name : kDeniedSyscalls) {
    if (zygote && (std::strcmp(name, "mount") == 0 || std::strcmp(name, "unshare") == 0)) continue;
    if (!(error = filter.Add(name, deny)).empty()) return error;
  }
  if (zygote) {
    for (uint64_t flag : kNamespaceFlags) {
      if (flag == CLONE_NEWNS || flag == CLONE_NEWPID) continue;
      if (!(error = filter.Add("unshare", deny, {MaskedEq(0, flag, flag)})).empty()) return error;
    }
  }
  // personality: only PER_LINUX (0) and the query (0xffffffff) pass; flags such as
  // READ_IMPLIES_EXEC or ADDR_NO_RANDOMIZE weaken the worker's memory protections. libseccomp
  // compares an argument once per rule, so "neither all zeros nor all ones" is spelled as "some
  // set bit is followed (cyclically) by a clear one": 32 rules. The kernel reads an unsigned
  // int, so only the low 32 bits are looked at.
  for (unsigned bit = 0; bit < 32; ++bit) {
    uint64_t set = uint64_t{1} << bit, clear = uint64_t{1} << ((bit + 1) % 32);
    if (!(error = filter.Add("personality", deny, {MaskedEq(0, set | clear, set)})).empty()) return error;
  }
  // TIOCSTI pushes input into the controlling terminal, TIOCLINUX reads the console: both reach
  // past the sandbox. The kernel reads the request as an unsigned int, so high garbage bits
  // must not dodge the rule.
  for (uint64_t request : {uint64_t{TIOCSTI}, uint64_t{TIOCLINUX}}) {
    if (!(error = filter.Add("ioctl", deny, {MaskedEq(1, 0xffffffffu, request)})).empty()) return error;
  }
  // Device nodes would give access to whatever device they name; fifos and sockets are fine.
  for (uint64_t type : {uint64_t{S_IFCHR}, uint64_t{S_IFBLK}}) {
    if (!(error = filter.Add("mknod", deny, {MaskedEq(1, S_IFMT, type)})).empty()) return error;
    if (!(error = filter.Add("mknodat", deny, {MaskedEq(2, S_IFMT, type)})).empty()) return error;
  }
  // The flags are clone's first argument on the architectures we run on (s390 swaps them).
  // CLONE_NEWTIME overlaps clone's exit-signal byte, so its rule only catches invalid signals.
  for (uint64_t flag : kNamespaceFlags) {
    if (!(error = filter.Add("clone", deny, {MaskedEq(0, flag, flag)})).empty()) return error;
  }
  // clone3 passes its flags in memory, where seccomp cannot look; ENOSYS makes glibc fall back
  // to clone, whose flags the rules above see.
  if (!(error = filter.Add("clone3", SCMP_ACT_ERRNO(ENOSYS))).empty()) return error;
  return "";
}

// The filters as BPF programs, compiled once per process: libseccomp takes milliseconds to
// build one, which a zygote pays once (PrepareConfinement) and every worker it forks inherits.
std::vector<sock_filter>& CompiledFilter(bool zygote) {
  static std::vector<sock_filter> programs[2];
  return programs[zygote ? 1 : 0];
}

std::string CompileSeccompFilter(bool zygote) {
  if (!CompiledFilter(zygote).empty()) return "";
  SeccompFilter filter;
  std::string error = AddRules(filter, zygote);
  if (!error.empty()) return error;
  // libseccomp 2.5 exports only to a descriptor: a memory file, read back.
  int fd = static_cast<int>(syscall(SYS_memfd_create, "sluice-seccomp", 1u /* MFD_CLOEXEC */));
  if (fd < 0) return Failed("cannot create a memory file for the seccomp filter", errno);
  int rc = seccomp_export_bpf(filter.ctx(), fd);
  std::vector<sock_filter> program;
  if (rc == 0) {
    off_t size = lseek(fd, 0, SEEK_END);
    program.resize(static_cast<size_t>(size > 0 ? size : 0) / sizeof(sock_filter));
    ssize_t got = pread(fd, program.data(), program.size() * sizeof(sock_filter), 0);
    if (got != static_cast<ssize_t>(program.size() * sizeof(sock_filter))) rc = -EIO;
  }
  close(fd);
  if (rc < 0 || program.empty()) return Failed("cannot compile the seccomp filter", rc < 0 ? -rc : EIO);
  CompiledFilter(zygote) = std::move(program);
  return "";
}

std::string LoadSeccompFilter(bool zygote) {
  std::string error = CompileSeccompFilter(zygote);
  if (!error.empty()) return error;
  std::vector<sock_filter>& compiled = CompiledFilter(zygote);
  sock_fprog program{static_cast<unsigned short>(compiled.size()), compiled.data()};
  if (prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &program) != 0) return Failed("cannot load the seccomp filter", errno);
  return "";
}

std::string SetLimit(int resource, rlim_t value, const char* what) {
  rlimit limit{value, value};
  if (setrlimit(resource, &limit) != 0) return Failed(what, errno);
  return "";
}

}  // namespace

std::string ConfineProcess(const ConfinementOptions& options) {
  if (options.mount_proc && mount("proc", "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, nullptr) != 0) {
    return Failed("cannot mount /proc", errno);
  }

  std::string error;
  if (options.max_processes > 0 &&
      !(error = SetLimit(RLIMIT_NPROC, static_cast<rlim_t>(options.max_processes), "cannot set RLIMIT_NPROC"))
           .empty()) {
    return error;
  }
  // A core dump would write the worker's memory (its data, maybe secrets) where the host sees it.
  if (!(error = SetLimit(RLIMIT_CORE, 0, "cannot set RLIMIT_CORE")).empty()) return error;

  // The bounding set caps what any later execve (of a file with file capabilities) can grant.
  // EINVAL past the kernel's last capability ends the loop, without reading /proc. Needs
  // CAP_SETPCAP, as the securebits below do: it goes last.
  const uint64_t keep = options.zygote ? kZygoteCapabilities : 0;
  for (int cap = 0;; ++cap) {
    if (cap < 64 && (keep >> cap) & 1) continue;
    if (prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) == 0) continue;
    if (errno == EINVAL && cap > 0) break;
    return Failed("cannot drop the capability bounding set", errno);
  }
  if (prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0) != 0) {
    return Failed("cannot clear the ambient capabilities", errno);
  }
  // Raw capset (no libcap): version 3 takes two 32-bit words per set.
  __user_cap_header_struct header{_LINUX_CAPABILITY_VERSION_3, 0};
  __user_cap_data_struct data[_LINUX_CAPABILITY_U32S_3] = {};
  if (keep != 0) {
    // A zygote's capabilities must survive its exec under SECBIT_NOROOT: only ambient ones do,
    // and an ambient capability must be permitted and inheritable, and raised before
    // SECBIT_NO_CAP_AMBIENT_RAISE is locked.
    for (int word = 0; word < _LINUX_CAPABILITY_U32S_3; ++word) {
      auto bits = static_cast<uint32_t>(keep >> (32 * word));
      data[word] = {bits, bits, bits};
    }
    if (syscall(SYS_capset, &header, data) != 0) return Failed("cannot narrow the capability sets", errno);
    for (int cap = 0; cap < 64; ++cap) {
      if (((keep >> cap) & 1) && prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_RAISE, cap, 0, 0) != 0) {
        return Failed("cannot raise an ambient capability", errno);
      }
    }
  }

  // Locked, so that uid 0 never again gains capabilities on execve or keeps them across setuid,
  // and nothing can switch that back. Needs CAP_SETPCAP: before the capabilities go. A worker
  // of a confined zygote sets the same bits again, which the locks allow.
  if (prctl(PR_SET_SECUREBITS,
            SECBIT_NOROOT | SECBIT_NOROOT_LOCKED | SECBIT_NO_SETUID_FIXUP | SECBIT_NO_SETUID_FIXUP_LOCKED |
                SECBIT_KEEP_CAPS_LOCKED | SECBIT_NO_CAP_AMBIENT_RAISE | SECBIT_NO_CAP_AMBIENT_RAISE_LOCKED,
            0, 0, 0) != 0) {
    return Failed("cannot set securebits", errno);
  }
  if (keep == 0 && syscall(SYS_capset, &header, data) != 0) return Failed("cannot clear the capability sets", errno);

  // Nothing executed later gains privileges (set-uid, file capabilities), and it lets an
  // unprivileged process load a seccomp filter. Dumpable stays as is: clearing it would make
  // the worker's own /proc/self root-owned and unreadable to it.
  if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0) return Failed("cannot set no_new_privs", errno);

  return LoadSeccompFilter(options.zygote);
}

std::string PrepareConfinement() { return CompileSeccompFilter(/*zygote=*/false); }

}  // namespace sluice

extern "C" {

int sluice_prepare_confinement(char* error, size_t error_size) {
  std::string reason;
  try {
    reason = sluice::PrepareConfinement();
  } catch (...) {
    reason = "cannot prepare the confinement: out of memory";
  }
  if (error != nullptr && error_size > 0) std::snprintf(error, error_size, "%s", reason.c_str());
  return reason.empty() ? 0 : -1;
}

int sluice_confine(int mount_proc, long max_processes, char* error, size_t error_size) {
  sluice::ConfinementOptions options;
  options.mount_proc = mount_proc != 0;
  options.max_processes = max_processes;
  std::string reason;
  const char* message;
  try {
    reason = sluice::ConfineProcess(options);
    message = reason.c_str();
  } catch (...) {  // bad_alloc: nothing may unwind into the C caller
    message = "cannot confine the process: out of memory";
  }
  if (error != nullptr && error_size > 0) std::snprintf(error, error_size, "%s", message);
  return *message == '\0' ? 0 : -1;
}

}  // extern "C"
