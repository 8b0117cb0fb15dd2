"""A zygote: one warm interpreter per environment that forks a worker for each model call.

    python -m sluice._zygote SOCKET [--duckdb] [--preload-from FILE]... [--log FILE]

Started by src/env/zygote.cc inside the environment's sandbox. It imports what the models of
this environment import (the third-party modules named by `import` statements anywhere in
their files, never the project's own modules, which may change between runs), and DuckDB for
SQL models, then listens on the Unix socket SOCKET. Per connection:

    engine -> zygote   b"fork [MODEL_FILE]\\n" with two file descriptors (SCM_RIGHTS): the
                       worker's stdout and stderr; with MODEL_FILE the worker imports it
                       while it waits for its task (a worker forked ahead of its inputs)
    zygote -> engine   b"pid N\\n" from the forked worker, once it is in its own process group
    engine -> worker   b"TASK_PATH\\n": the worker runs it as sluice._worker does
    zygote -> engine   b"exit CODE SIGNAL\\n" when the worker has ended, then the connection
                       closes

The zygote ends when its stdin closes. Forking after the imports is what makes a warm call
reach user code in milliseconds: nothing is imported or initialized twice.
"""

import ast
import importlib
import importlib.util
import os
import selectors
import signal
import socket
import struct
import sys

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


def _preload(files, duckdb):
    _worker.warm_up(sql=duckdb)
    for file in files:
        for name in _third_party_imports(file, os.getcwd()):
            try:
                importlib.import_module(name)
            except BaseException:  # the worker's own import reports it, with its model
                pass


def _same_user(conn):
    """Only our own user may ask for a worker: a fork runs any task it is given."""
    pid, uid, gid = struct.unpack(
        "3i", conn.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, struct.calcsize("3i"))
    )
    return uid == os.getuid()


def _child(conn, listener, out_fd, err_fd, preload):
    """The forked worker: its own process group, its own output, then one task."""
    os.setpgid(0, 0)
    signal.set_wakeup_fd(-1)
    for sig in (signal.SIGCHLD, signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, signal.SIG_DFL)
    listener.close()
    os.dup2(out_fd, 1)
    os.dup2(err_fd, 2)
    os.close(out_fd)
    os.close(err_fd)
    conn.sendall(f"pid {os.getpid()}\n".encode())
    if preload:
        _worker.preload_module(preload)
    reader = conn.makefile("rb")
    task_path = reader.readline().decode().strip()
    code = 0
    try:
        if task_path:
            _worker._run_file(task_path)
    except BaseException:
        code = 1
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


def serve(socket_path):
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        os.unlink(socket_path)
    except FileNotFoundError:
        pass
    listener.bind(socket_path)
    os.chmod(socket_path, 0o600)
    listener.listen(64)

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
                    _child(conn, listener, fds[0], fds[1], request[5:])
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
    if not args:
        print(
            "usage: python -m sluice._zygote SOCKET [--duckdb] [--preload-from FILE]... [--log FILE]",
            file=sys.stderr,
        )
        return 2
    socket_path, files, duckdb, log = args[0], [], False, None
    i = 1
    while i < len(args):
        if args[i] == "--duckdb":
            duckdb = True
        elif args[i] == "--preload-from" and i + 1 < len(args):
            files.append(args[i + 1])
            i += 1
        elif args[i] == "--log" and i + 1 < len(args):
            log = args[i + 1]
            i += 1
        i += 1
    # Nobody reads the zygote's own output (a module may print as it is imported), so it goes
    # to the log, never to pipes that could fill up and stop it.
    fd = os.open(log or os.devnull, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    os.dup2(fd, 1)
    os.dup2(fd, 2)
    os.close(fd)
    _preload(files, duckdb)
    sys.stdout.flush()
    serve(socket_path)
    return 0


if __name__ == "__main__":
    code = main(sys.argv)
    sys.stdout.flush()
    os._exit(code)
