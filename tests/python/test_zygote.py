"""The zygote on its own: the protocol src/env/zygote.cc speaks (python/sluice/_zygote.py)."""

import json
import os
import socket
import struct
import subprocess
import sys
import time

from test_worker import make_task, write_models
from worker_harness import PYTHON_DIR

from sluice import _arena, _zygote


def read_worker_pid(conn):
    """The worker's b"pid\\n", sent with its credentials: the kernel's pid of the sender."""
    pid, line = None, b""
    while not line.endswith(b"\n"):
        data, ancillary, _, _ = conn.recvmsg(1, socket.CMSG_SPACE(struct.calcsize("3i")))
        assert data, "the zygote closed the connection"
        for level, kind, payload in ancillary:
            if level == socket.SOL_SOCKET and kind == socket.SCM_CREDENTIALS and pid is None:
                pid = struct.unpack("3i", payload)[0]
        line += data
    assert line == b"pid\n" and pid
    return pid


class ZygoteProcess:
    """A zygote started the way src/env/zygote.cc starts one: it is handed a listening socket."""

    def __init__(self, workdir, *args, path=()):
        self.socket_path = str(workdir / "z.sock")
        self.listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.listener.bind(self.socket_path)
        self.listener.listen(8)
        env = dict(
            os.environ, PYTHONPATH=":".join([str(PYTHON_DIR), str(workdir / "project"), *map(str, path)])
        )
        env.pop("SLUICE_CONFINE_LIBRARY", None)
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "sluice._zygote", "--listen-fd", str(self.listener.fileno()), *args],
            stdin=subprocess.PIPE,
            env=env,
            cwd=workdir / "project",
            pass_fds=(self.listener.fileno(),),
            # like the engine: pipes nobody reads while it serves
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        self.listener.close()

    def fork(self, preload=""):
        """Asks for a worker; returns (pid, connection, stdout reader, stderr reader)."""
        conn = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        conn.connect(self.socket_path)
        conn.setsockopt(socket.SOL_SOCKET, socket.SO_PASSCRED, 1)
        conn.settimeout(60)
        out_r, out_w = os.pipe()
        err_r, err_w = os.pipe()
        request = f"fork {preload}" if preload else "fork"
        socket.send_fds(conn, [f"{request}\n".encode()], [out_w, err_w])
        os.close(out_w)
        os.close(err_w)
        pid = read_worker_pid(conn)
        reader = conn.makefile("rb")
        return pid, conn, reader, os.fdopen(out_r), os.fdopen(err_r)

    def close(self):
        self.proc.stdin.close()  # the zygote ends with its stdin
        assert self.proc.wait(timeout=10) == 0


def test_a_forked_worker_runs_one_task_and_its_exit_is_reported(workdir):
    write_models(
        workdir,
        "import json\n\ndef m():\n    print('hello from m')\n"
        "    return [{'pid': __import__('os').getpid()}]\n",
    )
    task = make_task(workdir)
    task_path = workdir / "task.json"
    task_path.write_text(json.dumps(task))
    zygote = ZygoteProcess(workdir, "--preload-from", "models.py")
    pid, conn, reader, out, err = zygote.fork()
    conn.sendall(f"{task_path}\n".encode())
    assert reader.readline() == b"exit 0 0\n"
    assert out.read() == "hello from m\n"  # the worker's output is its own
    result = json.loads((workdir / "result.json").read_text())
    assert result["ok"], result
    assert _arena.read_table(task["output_path"]).to_pylist() == [{"pid": pid}]
    zygote.close()


def test_a_killed_worker_is_reported_with_its_signal(workdir):
    write_models(workdir, "def m():\n    import time\n    time.sleep(60)\n")
    task_path = workdir / "task.json"
    task_path.write_text(json.dumps(make_task(workdir)))
    zygote = ZygoteProcess(workdir)
    pid, conn, reader, out, err = zygote.fork()
    conn.sendall(f"{task_path}\n".encode())
    time.sleep(0.2)
    os.killpg(pid, 9)  # the worker leads its own process group, as timeouts expect
    assert reader.readline() == b"exit -1 9\n"
    # The zygote itself is unharmed and forks again.
    pid2, conn2, reader2, _, _ = zygote.fork()
    assert pid2 != pid
    conn2.sendall(b"\n")  # no task: the worker just ends
    assert reader2.readline() == b"exit 0 0\n"
    zygote.close()


def test_preloads_third_party_imports_but_never_the_projects_own(workdir):
    (workdir / "project" / "helpers.py").write_text("X = 1\n")
    write_models(
        workdir,
        "import json\nfrom helpers import X\n\ndef m():\n    import tabulate_missing_xyz\n"
        "    import pyarrow.compute\n    return []\n",
    )
    names = _zygote._third_party_imports(str(workdir / "project" / "models.py"), str(workdir / "project"))
    assert "json" in names and "pyarrow" in names and "bauplan" in names
    assert "helpers" not in names  # the project's own module: re-imported fresh by every worker
    assert "tabulate_missing_xyz" not in names  # not installed: nothing to preload


def test_a_worker_forked_ahead_imports_its_model_while_it_waits(workdir):
    write_models(workdir, "print('module imported', flush=True)\n\ndef m():\n    return []\n")
    zygote = ZygoteProcess(workdir)
    pid, conn, reader, out, err = zygote.fork("models.py")
    assert out.readline() == "module imported\n"  # before any task was sent
    task_path = workdir / "task.json"
    task_path.write_text(json.dumps(make_task(workdir)))
    conn.sendall(f"{task_path}\n".encode())
    assert reader.readline() == b"exit 0 0\n"
    assert out.read() == ""  # the task used the module imported ahead, not a second import
    assert json.loads((workdir / "result.json").read_text())["ok"]
    zygote.close()


def test_a_noisy_import_cannot_stall_the_zygote(workdir):
    (workdir / "lib").mkdir()
    (workdir / "lib" / "noisy_lib.py").write_text("print('x' * 1_000_000)\n")  # more than a pipe holds
    write_models(workdir, "def m():\n    import noisy_lib\n    return []\n")
    zygote = ZygoteProcess(workdir, "--preload-from", "models.py", path=[workdir / "lib"])
    pid, conn, reader, out, err = zygote.fork()
    conn.sendall(b"\n")
    assert reader.readline() == b"exit 0 0\n"
    zygote.close()
