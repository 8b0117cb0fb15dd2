// Confinement of a model worker: the last step before user code runs. The worker is pid 1 of
// its own PID namespace, in a mount namespace of its own, inside a user namespace in which it
// holds every capability (the caller sets those up); ConfineProcess takes all of that away for
// good, so nothing the user's code does can win it back.
//
// Used by the sluice-sandbox launcher (linked statically, as sluice_confinement) and by the
// Python zygote through ctypes (build/libsluice-confine.so, the extern "C" functions below).
// Hence libc and libseccomp only, and no exception ever leaves the C functions.
#pragma once

#include <stddef.h>

#include <string>

namespace sluice {

struct ConfinementOptions {
  // Mount a fresh procfs on /proc first, so /proc shows the caller's own PID namespace. The
  // mount must not propagate out: the mount namespace has to be private or slave, as it is
  // when a less privileged user namespace owns it.
  bool mount_proc = false;
  // RLIMIT_NPROC, soft and hard; 0 leaves it as it is.
  long max_processes = 0;
  // A zygote rather than a worker: it keeps CAP_SYS_ADMIN and CAP_SETPCAP, as ambient
  // capabilities so they survive its exec, because it gives each worker it forks PID and
  // mount namespaces, a /proc, and then this confinement. Its seccomp filter allows mount and
  // unshare of mount and PID namespaces, and denies everything else a worker's denies.
  bool zygote = false;
};

// Drops every privilege of the calling process for good: capabilities (all sets, the bounding
// set, ambient, and root's special treatment via locked securebits), set-uid gains
// (no_new_privs), and the syscalls that could regain privileges or reach out of the namespaces
// (a seccomp filter; a new user namespace above all). RLIMIT_CORE becomes 0.
//
// The process must be single-threaded: capabilities, securebits and the seccomp filter apply to
// the calling thread only. Returns "" on success, otherwise one line saying which step failed
// and why; the process may then be confined in part, so the caller must exit, not run the
// worker.
std::string ConfineProcess(const ConfinementOptions& options);

// Compiles the worker's seccomp filter now, so that ConfineProcess in this process and in every
// process forked from it afterwards only loads it (libseccomp takes milliseconds to build it).
// A zygote calls it once before it forks workers. "" on success, else why not.
std::string PrepareConfinement();

// The capabilities a confined zygote keeps (a bit per capability number, as in CapEff).
constexpr unsigned long long kZygoteCapabilities = (1ull << 21) | (1ull << 8);  // SYS_ADMIN, SETPCAP

}  // namespace sluice

#define SLUICE_CONFINE_EXPORT __attribute__((visibility("default")))

extern "C" {

// PrepareConfinement for Python: 0 on success; otherwise -1 with the reason in error[error_size].
SLUICE_CONFINE_EXPORT int sluice_prepare_confinement(char* error, size_t error_size);

// ConfineProcess for Python. 0 on success; otherwise -1 with the reason copied into
// error[error_size] (NUL-terminated, truncated to fit), after which the caller must exit.
SLUICE_CONFINE_EXPORT int sluice_confine(int mount_proc, long max_processes, char* error, size_t error_size);

}  // extern "C"
