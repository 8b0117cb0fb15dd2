"""A zygote: one warm interpreter per environment that forks a worker for each model call.

    python -m sluice._zygote --listen-fd N [--duckdb] [--preload-from FILE]... [--log-fd N]
                           [--ready-fd N]

Started by src/env/zygote.cc inside the environment's sandbox. It imports what the models of
this environment import (the third-party modules named by `import` statements anywhere in
their files, never the project's own modules, which may change between runs), and DuckDB for
SQL models, then accepts connections on the listening Unix socket the engine hands it as
descriptor N (the socket's path is not in the sandbox). Per connection:

    engine -> zygote   b"fork [MODEL_FILE]\\n" with two file descriptors (SCM_RIGHTS): the
                       worker's stdout and stderr; with MODEL_FILE the worker imports it
                       while it waits for its task (a worker forked ahead of its inputs)
    zygote -> engine   b"pid\\n" from the forked worker with its credentials (SCM_CREDENTIALS),
                       once it is in its own process group: the kernel gives the engine its pid
    engine -> worker   b"task\\n" with the task's descriptors: the worker runs it as
                       sluice._worker does
    zygote -> engine   b"exit CODE SIGNAL\\n" when the worker has ended, then the connection
                       closes

In a sandbox (SLUICE_CONFINE_LIBRARY set), each worker is forked into PID and mount namespaces
of its own and drops every privilege before it reads anything (src/env/worker_confinement.h).

The zygote ends when its stdin closes. Forking after the imports is what makes a warm call
reach user code in milliseconds: nothing is imported or initialized twice.
"""

import ast
import ctypes
import importlib
import importlib.util
import os
import re
import secrets
import selectors
import shutil
import signal
import socket
import struct
import sys
import tempfile

from sluice import _worker


def _third_party_imports(file, project_dir):
    """Top-level module names imported anywhere in `file` that live outside the project."""
    try:
        with open(file) as f:
            tree = ast.parse(f.read(), file)
    except (OSError, SyntaxError, ValueError):
        return []
    names = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names += [alias.name.split(".")[0] for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.append(node.module.split(".")[0])
    root = os.path.realpath(project_dir) + os.sep
    found = []
    for name in dict.fromkeys(names):
        try:
            spec = importlib.util.find_spec(name)
        except (ImportError, ValueError):
            continue
        origin = spec.origin if spec else None
        if spec is None or (origin and os.path.realpath(origin).startswith(root)):
            continue
        found.append(name)
    return found


class _Zygote:
    duckdb = False


def _preload(files, duckdb):
    _Zygote.duckdb = duckdb
    _worker.warm_up(sql=duckdb)
    for file in files:
        for name in _third_party_imports(file, os.getcwd()):
            try:
                importlib.import_module(name)
            except BaseException:  # the worker's own import reports it, with its model
                pass


def _same_user(conn):
    """Only our own user may ask for a worker: a fork runs any task it is given. In a sandbox
    the socket's path is where only the engine's user can reach it, and the engine's uid has
    no name inside the user namespace, so there is nothing to compare."""
    if _Confinement.library is not None:
        return True
    pid, uid, gid = struct.unpack(
        "3i", conn.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, struct.calcsize("3i"))
    )
    return uid == os.getuid()


class _Confinement:
    library = None  # src/env/worker_confinement.h, loaded in a sandbox
    libc = None


def _load_confinement():
    path = os.environ.get("SLUICE_CONFINE_LIBRARY")
    if not path:
        return
    library = ctypes.CDLL(path, use_errno=True)
    library.sluice_confine.restype = ctypes.c_int
    library.sluice_confine.argtypes = [ctypes.c_int, ctypes.c_long, ctypes.c_char_p, ctypes.c_size_t]
    library.sluice_prepare_confinement.restype = ctypes.c_int
    library.sluice_prepare_confinement.argtypes = [ctypes.c_char_p, ctypes.c_size_t]
    # The seccomp filter compiled once here: every worker forked from now on only loads it.
    reason = ctypes.create_string_buffer(512)
    if library.sluice_prepare_confinement(reason, len(reason)) != 0:
        print(f"sluice zygote: {reason.value.decode(errors='replace')}", file=sys.stderr)
    _Confinement.library = library
    _Confinement.libc = ctypes.CDLL(None, use_errno=True)


_CLONE_NEWNS = 0x00020000
_CLONE_NEWPID = 0x20000000
_PR_SET_PDEATHSIG = 1
_WORKER_MAX_PROCESSES = 512  # src/env/sandbox.h kWorkerMaxProcesses


def _stand_in_init():
    """A program to be pid 1 of a worker's PID namespace: cat reading a pipe only the
    worker's parent writes, so it ends (and with it everything in the namespace) when the
    parent does. The model is then pid 2, an ordinary process: signals it sends itself work,
    as they would not for pid 1."""
    for path in ("/usr/bin/cat", "/bin/cat"):
        if os.path.exists(path):
            return path
    raise OSError("no cat to stand in as the worker's init")


def _enter_worker_namespaces():
    """In a sandbox: the worker is forked again, into a PID namespace of its own (so
    everything it starts dies with it) and a mount namespace of its own (so nothing it mounts
    or unmounts reaches a sibling). This process stays as its parent, outside, and ends as it
    ends. os.fork, not a raw clone: the libraries' at-fork handlers (malloc, Arrow's thread
    pools) must run, or a lock another thread held stays held in the worker. Returns in the
    worker."""
    libc = _Confinement.libc
    if libc.unshare(_CLONE_NEWNS | _CLONE_NEWPID) != 0:
        error = ctypes.get_errno()
        os.write(2, f"sluice: cannot give the worker namespaces: {os.strerror(error)}\n".encode())
        os._exit(126)
    _mount_own_scratch(libc)
    keep_alive, held = os.pipe()
    init = os.posix_spawn(
        _stand_in_init(),
        ["sluice-worker-init"],
        {},
        file_actions=[
            (os.POSIX_SPAWN_DUP2, keep_alive, 0),
            (os.POSIX_SPAWN_OPEN, 1, os.devnull, os.O_WRONLY, 0),
        ],
    )
    os.close(keep_alive)
    pid = os.fork()
    if pid == 0:
        os.close(held)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
        return
    os.setpgid(0, 0)  # out of the zygote's group: a worker killed with its group leaves the zygote
    for fd in (0, 1, 2):
        os.close(fd)
    _, status = os.waitpid(pid, 0)
    os.close(held)  # the stand-in init ends, and with it whatever the worker left
    os.kill(init, signal.SIGKILL)
    os.waitpid(init, 0)
    if os.WIFSIGNALED(status):
        os.kill(os.getpid(), os.WTERMSIG(status))
    os._exit(os.waitstatus_to_exitcode(status) if os.WIFEXITED(status) else 1)


_MS_NOSUID = 0x2
_MS_NODEV = 0x4
_MS_MOVE = 0x2000
_MS_BIND = 0x1000
_MS_REC = 0x4000


def _mount_points_under(prefix):
    """The mount points strictly below `prefix` in this mount namespace, outermost first
    (mountinfo's field 5, with its octal escapes undone)."""
    points = []
    with open("/proc/self/mountinfo", "rb") as f:
        for line in f:
            raw = line.split(b" ")[4]
            point = re.sub(rb"\\([0-7]{3})", lambda m: bytes([int(m.group(1), 8)]), raw)
            if point.startswith(prefix + b"/"):
                points.append(point)
    points.sort(key=len)
    return [p for i, p in enumerate(points) if not any(p.startswith(q + b"/") for q in points[:i])]


def _mount_own_scratch(libc):
    """A fresh tmpfs on /tmp and /dev/shm in the worker's own mount namespace: the forks of one
    zygote otherwise share the sandbox's, and a model could leave a file there by name for the
    next model of the same environment to read, or read what a sibling running beside it
    wrote. What the sandbox mounted under /tmp (a project kept in /tmp) is bound again into
    the new one. Both go away with the namespace, when the worker and all it started end."""

    def mount(source, target, fstype, flags, data=None):
        if libc.mount(source, target, fstype, flags, data) != 0:
            error = ctypes.get_errno()
            why = f"mounting {target.decode()}: {os.strerror(error)}"
            os.write(2, f"sluice: cannot give the worker its own /tmp and /dev/shm: {why}\n".encode())
            os._exit(126)

    mount(b"sluice-scratch", b"/dev/shm", b"tmpfs", _MS_NOSUID | _MS_NODEV, b"mode=1777")
    # The new /tmp is filled where no sibling can reach (this worker's /dev/shm), then moved.
    staging = b"/dev/shm/.sluice-tmp"
    os.mkdir(staging, 0o700)
    mount(b"sluice-scratch", staging, b"tmpfs", _MS_NOSUID | _MS_NODEV, b"mode=1777")
    parents = set()  # the directories leading to them, read-only as the sandbox made them
    for point in _mount_points_under(b"/tmp"):
        target = staging + point[len(b"/tmp") :]
        parent = os.path.dirname(target)
        while parent != staging and parent not in parents:
            parents.add(parent)
            parent = os.path.dirname(parent)
        if os.path.isdir(point):
            os.makedirs(target, exist_ok=True)
        else:
            os.makedirs(os.path.dirname(target), exist_ok=True)
            os.close(os.open(target, os.O_CREAT | os.O_WRONLY, 0o644))
        mount(point, target, None, _MS_BIND | _MS_REC)
    for parent in parents:
        os.chmod(parent, 0o555)
    mount(staging, b"/tmp", None, _MS_MOVE)
    os.rmdir(staging)
    os.environ["TMPDIR"] = "/tmp"
    tempfile.tempdir = "/tmp"


def _confine():
    """Drops every privilege of this worker for good, before it reads its task or runs any
    of the model's code; a worker that cannot be confined ends."""
    library = _Confinement.library
    if library is None:
        return
    reason = ctypes.create_string_buffer(512)
    if library.sluice_confine(1, _WORKER_MAX_PROCESSES, reason, len(reason)) != 0:
        os.write(2, b"sluice: cannot confine the worker: " + reason.value + b"\n")
        os._exit(126)


def _worker_temp_dir(pid):
    """The temporary directory of the zygote's child `pid` (as the zygote numbers it)."""
    return f"/tmp/sluice-worker-{pid}"


def _use_own_temp_dir():
    """Outside a sandbox: points the worker's temporary files (tempfile, $TMPDIR: a query
    worker's DuckDB spill and file links) into a directory of its own, which the zygote
    removes once it has reaped the worker. The forks of one zygote share its /tmp, so
    without it what a worker killed mid-task had there (a query stopped at its time limit,
    spilling gigabytes) stayed there until the zygote ended."""
    path = _worker_temp_dir(os.getpid())
    try:
        shutil.rmtree(path, ignore_errors=True)
        os.mkdir(path, 0o700)
    except OSError:
        return  # the default temporary directory, as before
    os.environ["TMPDIR"] = path
    tempfile.tempdir = path


def _child(conn, listener, out_fd, err_fd, preload, inherited):
    """The forked worker: its own namespaces and process group, its own output, confined,
    then one task. `inherited`: the zygote's other descriptors (its siblings' connections to
    the engine, its wake-up pipe, its selector), which are none of the worker's business: a
    model holding a sibling's connection could read that sibling's task or answer for it."""
    if _Confinement.library is None:
        _use_own_temp_dir()  # in a sandbox the worker mounts its own (_mount_own_scratch)
    signal.set_wakeup_fd(-1)
    for sig in (signal.SIGCHLD, signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, signal.SIG_DFL)
    listener.close()
    for other in inherited:
        try:
            if isinstance(other, int):
                os.close(other)
            else:
                other.close()
        except OSError:
            pass
    os.dup2(out_fd, 1)
    os.dup2(err_fd, 2)
    os.close(out_fd)
    os.close(err_fd)
    null = os.open(os.devnull, os.O_RDONLY)
    os.dup2(null, 0)  # the zygote's own stdin is the engine's, not the model's
    os.close(null)
    if _Confinement.library is not None:
        _enter_worker_namespaces()
    os.setpgid(0, 0)
    credentials = struct.pack("3i", os.getpid(), os.getuid(), os.getgid())
    conn.sendmsg([b"pid\n"], [(socket.SOL_SOCKET, socket.SCM_CREDENTIALS, credentials)])
    _confine()
    if preload:
        _worker.preload_module(preload)
    elif _Zygote.duckdb:
        try:
            _worker.prepare_duckdb()
        except Exception:  # the task opens its own, and reports what fails there
            pass
    code = 0
    try:
        _worker.run_received(conn)
    except BaseException:
        code = 1
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


def serve(listener):

    wake_read, wake_write = os.pipe()
    os.set_blocking(wake_write, False)
    signal.set_wakeup_fd(wake_write)
    signal.signal(signal.SIGCHLD, lambda *_: None)

    children = {}  # pid -> connection the exit status goes to
    selector = selectors.DefaultSelector()
    selector.register(listener, selectors.EVENT_READ, "accept")
    selector.register(wake_read, selectors.EVENT_READ, "reap")
    selector.register(sys.stdin, selectors.EVENT_READ, "stdin")
    while True:
        for key, _ in selector.select():
            if key.data == "stdin":
                if not sys.stdin.buffer.read1(4096):
                    return
            elif key.data == "reap":
                os.read(wake_read, 4096)
            elif key.data == "accept":
                conn, _ = listener.accept()
                message, fds, _, _ = socket.recv_fds(conn, 4096, 2)
                request = message.decode(errors="replace").rstrip("\n")
                if not request.startswith("fork") or len(fds) != 2 or not _same_user(conn):
                    for fd in fds:
                        os.close(fd)
                    conn.close()
                    continue
                sys.stdout.flush()
                sys.stderr.flush()
                pid = os.fork()
                if pid == 0:
                    inherited = list(children.values()) + [wake_read, wake_write, selector]
                    _child(conn, listener, fds[0], fds[1], request[5:], inherited)
                for fd in fds:
                    os.close(fd)
                children[pid] = conn
        # Children may end at any time; report each exit on its connection.
        while children:
            try:
                pid, status = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                break
            if pid == 0:
                break
            conn = children.pop(pid, None)
            if _Confinement.library is None:  # a sandboxed one's /tmp went with its namespace
                shutil.rmtree(_worker_temp_dir(pid), ignore_errors=True)
            if conn is None:
                continue
            code = os.WEXITSTATUS(status) if os.WIFEXITED(status) else -1
            sig = os.WTERMSIG(status) if os.WIFSIGNALED(status) else 0
            try:
                conn.sendall(f"exit {code} {sig}\n".encode())
            except OSError:
                pass
            conn.close()


def main(argv):
    args = argv[1:]
    listen_fd, files, duckdb, log_fd, ready_fd = None, [], False, None, None
    i = 0
    while i < len(args):
        if args[i] == "--duckdb":
            duckdb = True
        elif args[i] == "--preload-from" and i + 1 < len(args):
            files.append(args[i + 1])
            i += 1
        elif args[i] == "--listen-fd" and i + 1 < len(args):
            listen_fd = int(args[i + 1])
            i += 1
        elif args[i] == "--log-fd" and i + 1 < len(args):
            log_fd = int(args[i + 1])
            i += 1
        elif args[i] == "--ready-fd" and i + 1 < len(args):
            ready_fd = int(args[i + 1])
            i += 1
        i += 1
    if listen_fd is None:
        print(
            "usage: python -m sluice._zygote --listen-fd N [--duckdb] [--preload-from FILE]... [--log-fd N]",
            file=sys.stderr,
        )
        return 2
    # Nobody reads the zygote's own output (a module may print as it is imported), so it goes
    # to the log, never to pipes that could fill up and stop it.
    fd = log_fd if log_fd is not None else os.open(os.devnull, os.O_WRONLY)
    os.dup2(fd, 1)
    os.dup2(fd, 2)
    os.close(fd)
    listener = socket.socket(fileno=listen_fd)
    # Which warm interpreter forked a worker (each worker is pid 1 of its own PID namespace, so
    # its parent's pid says nothing).
    os.environ["SLUICE_ZYGOTE"] = secrets.token_hex(8)
    _load_confinement()
    _preload(files, duckdb)
    sys.stdout.flush()
    if ready_fd is not None:  # the engine's sign that a fork needs no wait (Zygote::Serving)
        os.write(ready_fd, b"1")
        os.close(ready_fd)
    serve(listener)
    return 0


if __name__ == "__main__":
    code = main(sys.argv)
    sys.stdout.flush()
    os._exit(code)
