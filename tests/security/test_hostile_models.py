"""Hostile models: user code that tries to leave its worker's sandbox.

Each model attempts one escape, catches what fails, and returns a table of what it saw (one row
per observation, the value JSON-encoded). The test then checks from outside (the host's files,
processes and catalog) that the attempt had no effect, and how the run ended.

What the sandbox guarantees, and what these tests are written against: each worker runs in a
user namespace (uid 0 inside, an unprivileged uid outside when the engine is root), its own PID
namespace and /proc, with no capabilities, no_new_privs and a seccomp filter refusing mount,
umount, setns, unshare, ptrace, bpf, keyctl (EPERM); in its own mount namespace it sees
read-only system directories, its interpreter and packages, the project read-only and a private
/tmp and /dev/shm, and no data home, no shared memory of any home or run, no zygote socket.
Every process a model starts dies with it; a model named with path characters is refused.

Safety on a machine whose sandbox is broken: every experiment that would act on the host if
the model were not confined (mount, umount, kill(-1)) first checks that the model is in a
namespace of its own (its namespace's inode differs from the test runner's) and is skipped
otherwise; writes go to paths under the test's tmp_path or to unique names the test removes;
fork bombs are bounded by a counter and a deadline and their children exit within seconds.
"""

import hashlib
import json
import os
import pathlib
import random
import re
import shutil
import signal
import subprocess
import textwrap
import time

import pytest
from cli_harness import SLUICE, TAXI, Sluice

root_only = pytest.mark.skipif(os.geteuid() != 0, reason="the engine must run as root for this attack")

# Bounded on purpose: pid_max is 32768 on the test machines, and a sandbox without a process
# limit would let every fork land on the host.
FORKS = int(os.environ.get("SLUICE_HOSTILE_FORKS", "4000"))

# Prepended to every hostile models.py. `P` holds the test's parameters (host paths, pids).
PRELUDE = r'''
import ctypes
import errno
import json
import os
import re
import socket
import stat
import subprocess
import time

import bauplan

P = json.loads({params!r})
LIBC = ctypes.CDLL(None, use_errno=True)
LIBC.mount.argtypes = [ctypes.c_char_p, ctypes.c_char_p, ctypes.c_char_p, ctypes.c_ulong, ctypes.c_void_p]
LIBC.umount2.argtypes = [ctypes.c_char_p, ctypes.c_int]
LIBC.unshare.argtypes = [ctypes.c_int]
LIBC.setns.argtypes = [ctypes.c_int, ctypes.c_int]
CLONE_NEWNS, CLONE_NEWUSER = 0x00020000, 0x10000000
MS_RDONLY, MS_REMOUNT, MS_BIND, MNT_DETACH = 1, 32, 4096, 2


def err(e):
    """An OSError's errno name."""
    return errno.errorcode.get(getattr(e, "errno", None) or 0, type(e).__name__)


def libc(name, *args):
    """A libc call's outcome: "ok", or the errno's name."""
    if getattr(LIBC, name)(*args) == 0:
        return "ok"
    return errno.errorcode.get(ctypes.get_errno(), str(ctypes.get_errno()))


def own_namespace(kind):
    """Whether this process is in a namespace of its own kind, not the test runner's: mount,
    umount and kill(-1) experiments run only then, so a broken sandbox cannot hurt the host."""
    try:
        return os.stat(f"/proc/self/ns/{{kind}}").st_ino != P["host_ns"][kind]
    except OSError:
        return False


def may_mount():
    """Whether mount experiments are safe here: a mount namespace of its own, none of whose
    mounts propagates to the host's (shares a peer group with them)."""
    if not own_namespace("mnt"):
        return False
    try:
        with open("/proc/self/mountinfo") as f:
            groups = set(re.findall(r"\bshared:(\d+)", f.read()))
    except OSError:
        return False
    return not groups & set(P["host_peer_groups"])


def in_child(fn):
    """fn() in a forked, single-threaded child (setns and unshare refuse threaded callers);
    its JSON-encodable result comes back through a pipe."""
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:
        try:
            out = fn()
        except BaseException as e:
            out = {{"child_error": repr(e)}}
        os.write(w, json.dumps(out).encode())
        os._exit(0)
    os.close(w)
    data = b""
    while chunk := os.read(r, 1 << 16):
        data += chunk
    os.close(r)
    os.waitpid(pid, 0)
    return json.loads(data or b"null")


def seen(record):
    """What a model saw, as a table: one row per observation."""
    return [{{"k": k, "v": json.dumps(v)}} for k, v in record.items()]

'''


def host_namespaces():
    return {kind: os.stat(f"/proc/self/ns/{kind}").st_ino for kind in ("mnt", "pid", "user", "net")}


def host_peer_groups():
    """The propagation peer groups of the host's mounts: a model's mount must share none."""
    return sorted(set(re.findall(r"\bshared:(\d+)", pathlib.Path("/proc/self/mountinfo").read_text())))


def marker_number():
    """A unique `sleep` argument (a fraction of a second) naming a test's processes in argv."""
    return f"0.{random.randrange(10**8, 10**9)}"


def pids_with(marker):
    proc = subprocess.run(["pgrep", "-f", f"sleep [0-9]+ {marker}"], capture_output=True, text=True)
    return [int(p) for p in proc.stdout.split()]


def kill_all(pids):
    """Ends the test's own leftovers, each by its pid."""
    for pid in pids:
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass


def survivors(marker, grace=2.0):
    """The processes still carrying `marker` after `grace` seconds (polled)."""
    deadline = time.monotonic() + grace
    while True:
        found = pids_with(marker)
        if not found or time.monotonic() > deadline:
            return found
        time.sleep(0.1)


def host_process_count():
    return sum(1 for name in os.listdir("/proc") if name.isdigit())


def sha256(path):
    return hashlib.sha256(pathlib.Path(path).read_bytes()).hexdigest()


class Outcome:
    def __init__(self, home, project, proc):
        self.home, self.project, self.proc = home, project, proc

    def assert_ok(self):
        assert self.proc.returncode == 0, (
            f"run failed ({self.proc.returncode})\nstdout:\n{self.proc.stdout}\nstderr:\n{self.proc.stderr}"
        )

    def seen(self, table="probe"):
        """The record a model returned (the run must have succeeded)."""
        self.assert_ok()
        rows = self.home.query(f"SELECT k, v FROM {table}", "dev")
        return {row["k"]: json.loads(row["v"]) for row in rows}


@pytest.fixture
def home(sluice):
    sluice("checkout", "-b", "dev")
    return sluice


@pytest.fixture
def hostile(home, make_project):
    """hostile(models, **params) -> the project's directory: models.py is PRELUDE (with
    `P` = params plus the host's namespaces) followed by `models` (dedented)."""

    def write(models, **params):
        params["host_ns"] = host_namespaces()
        params["host_peer_groups"] = host_peer_groups()
        source = PRELUDE.format(params=json.dumps(params)) + textwrap.dedent(models)
        return make_project({"models.py": source})

    return write


def run(home, project, timeout=120):
    return Outcome(home, project, home("run", "-p", project, check=False, timeout=timeout))


# 1 -------------------------------------------------------------------------------------------
def test_setns_into_host_namespaces_cannot_write_on_the_host(home, hostile, tmp_path):
    marker = tmp_path / "marker-setns"
    project = hostile(
        """
        @bauplan.model(materialization_strategy="REPLACE")
        def probe():
            def attack():
                tried, refused, entered = 0, {}, []
                for pid in os.listdir("/proc"):
                    if not pid.isdigit() or int(pid) == os.getpid():
                        continue
                    for kind in ("user", "mnt"):
                        try:
                            fd = os.open(f"/proc/{pid}/ns/{kind}", os.O_RDONLY)
                        except OSError as e:
                            refused[err(e)] = refused.get(err(e), 0) + 1
                            continue
                        tried += 1
                        outcome = libc("setns", fd, 0)
                        os.close(fd)
                        if outcome != "ok":
                            refused[outcome] = refused.get(outcome, 0) + 1
                            continue
                        entered.append(f"{pid}/{kind}")
                        try:
                            with open(P["marker"], "w") as f:
                                f.write(f"written after setns into {pid}/{kind}")
                            return {"tried": tried, "refused": refused, "entered": entered, "wrote": True}
                        except OSError as e:
                            refused["write:" + err(e)] = 1
                return {"tried": tried, "refused": refused, "entered": entered, "wrote": False}

            return seen(in_child(attack))
        """,
        marker=str(marker),
    )
    outcome = run(home, project)
    record = outcome.seen()
    assert not marker.exists(), f"a model wrote on the host after setns: {record}"
    assert record["entered"] == [], record


# 2 -------------------------------------------------------------------------------------------
def test_proc_pid_root_does_not_reach_the_host(home, hostile, tmp_path):
    marker = tmp_path / "marker-proc-root"
    sleeper = subprocess.Popen(["sleep", "60"])
    try:
        project = hostile(
            """
            @bauplan.model(materialization_strategy="REPLACE")
            def probe():
                pids = [p for p in os.listdir("/proc") if p.isdigit()]
                pids += [str(P["runner_pid"]), str(P["sleep_pid"]), "1"]
                wrote, refused = [], {}
                for pid in pids:
                    try:
                        with open(f"/proc/{pid}/root" + P["marker"], "w") as f:
                            f.write(f"written through /proc/{pid}/root")
                        wrote.append(pid)
                        break
                    except OSError as e:
                        refused[err(e)] = refused.get(err(e), 0) + 1
                return seen({"visible_pids": len(pids) - 3, "wrote": wrote, "refused": refused})
            """,
            marker=str(marker),
            runner_pid=os.getpid(),
            sleep_pid=sleeper.pid,
        )
        record = run(home, project).seen()
        assert not marker.exists(), f"a model wrote on the host through /proc/<pid>/root: {record}"
        assert record["wrote"] == [], record
    finally:
        sleeper.kill()
        sleeper.wait()


# 3 -------------------------------------------------------------------------------------------
def test_the_project_stays_read_only_even_after_a_remount(home, hostile):
    project = hostile(
        """
        @bauplan.model(materialization_strategy="REPLACE")
        def probe():
            here = os.getcwd().encode()
            record = {"cwd": os.getcwd(), "own_mount_namespace": may_mount()}
            if record["own_mount_namespace"]:
                record["remount_rw"] = libc("mount", None, here, None, MS_REMOUNT | MS_BIND, None)
                record["bind_over"] = libc("mount", here, here, None, MS_BIND, None)
            for name, mode, text in (("hostile_new_file.txt", "w", "x"), ("models.py", "a", "# hostile")):
                try:
                    with open(name, mode) as f:
                        f.write(text)
                    record[name] = "written"
                except OSError as e:
                    record[name] = err(e)
            return seen(record)
        """
    )
    before = (project / "models.py").read_text()
    record = run(home, project).seen()
    assert not (project / "hostile_new_file.txt").exists(), record
    assert (project / "models.py").read_text() == before, record
    assert record["own_mount_namespace"], "the model shares the host's mount namespace or its propagation"
    assert record.get("remount_rw") == "EPERM" and record.get("bind_over") == "EPERM", record


# 4 -------------------------------------------------------------------------------------------
def test_unmounting_tmp_does_not_reach_the_next_model(home, hostile):
    name = f"/tmp/sluice-hostile-{random.randrange(10**12)}.txt"
    project = hostile(
        """
        @bauplan.model(materialization_strategy="REPLACE")
        def detach_tmp():
            record = {"own_mount_namespace": may_mount()}
            if record["own_mount_namespace"]:
                record["umount_tmp"] = libc("umount2", b"/tmp", MNT_DETACH)
            return seen(record)

        @bauplan.model(materialization_strategy="REPLACE")
        def after(a=bauplan.Model("detach_tmp")):
            with open(P["name"], "w") as f:
                f.write("written by after")
            with open(P["name"]) as f:
                return seen({"content": f.read(), "tmp": sorted(os.listdir("/tmp"))})
        """,
        name=name,
    )
    try:
        outcome = run(home, project)
        detach = outcome.seen("detach_tmp")
        after = outcome.seen("after")
        assert after["content"] == "written by after"
        assert not os.path.exists(name), f"after an umount of /tmp a model wrote in the host's /tmp: {detach}"
        assert detach["own_mount_namespace"], "the model shares the host's mount namespace or its propagation"
        assert detach["umount_tmp"] == "EPERM", detach
    finally:
        if os.path.exists(name):
            os.remove(name)


# 5 -------------------------------------------------------------------------------------------
def test_a_model_cannot_kill_host_processes(home, hostile):
    sleeper = subprocess.Popen(["sleep", "60"])
    try:
        project = hostile(
            """
            @bauplan.model(materialization_strategy="REPLACE")
            def probe():
                record = {"pid": os.getpid()}
                try:
                    os.kill(P["sleep_pid"], 9)
                    record["kill_sleep"] = "sent"
                except OSError as e:
                    record["kill_sleep"] = err(e)
                # kill(-1) reaches every process the caller may signal: only in a PID namespace
                # of the model's own, where it is pid 1, does that spare the host.
                host_pid_visible = os.path.exists(f"/proc/{P['sleep_pid']}")
                if os.getpid() == 1 and own_namespace("pid") and not host_pid_visible:
                    try:
                        os.kill(-1, 9)
                        record["kill_all"] = "sent"
                    except OSError as e:
                        record["kill_all"] = err(e)
                else:
                    record["kill_all"] = "not tried: not pid 1 of a namespace of its own"
                return seen(record)
            """,
            sleep_pid=sleeper.pid,
        )
        outcome = run(home, project)
        time.sleep(0.2)
        assert sleeper.poll() is None, f"the host's sleep was killed: {outcome.seen()}"
        record = outcome.seen()
        assert record["kill_sleep"] == "ESRCH", record
    finally:
        sleeper.kill()
        sleeper.wait()


# 6 -------------------------------------------------------------------------------------------
def test_a_fork_bomb_leaves_nothing_behind(home, hostile):
    marker = marker_number()
    project = hostile(
        """
        @bauplan.model(materialization_strategy="REPLACE")
        def probe():
            forked, failures, first_failure = 0, 0, None
            deadline = time.monotonic() + 10
            for _ in range(P["forks"]):
                if time.monotonic() > deadline or failures > 100:
                    break
                try:
                    pid = os.fork()
                except OSError as e:
                    failures += 1
                    first_failure = first_failure or f"{err(e)} after {forked} forks"
                    continue
                if pid == 0:
                    try:
                        os.execvp("sleep", ["sleep", "6", P["marker"]])
                    finally:
                        os._exit(0)
                forked += 1
            return seen({"forked": forked, "failures": failures, "first_failure": first_failure})
        """,
        marker=marker,
        forks=FORKS,
    )
    before = host_process_count()
    try:
        started = time.monotonic()
        outcome = run(home, project, timeout=120)
        elapsed = time.monotonic() - started
        left = survivors(marker, grace=2.0)
        assert left == [], f"{len(left)} processes of the fork bomb outlived the run"
        deadline = time.monotonic() + 10
        while host_process_count() > before + 200 and time.monotonic() < deadline:
            time.sleep(0.2)
        assert host_process_count() <= before + 200
        assert elapsed < 120
        if outcome.proc.returncode == 0:
            print("fork bomb:", outcome.seen())
        else:  # stopped by the engine for its processes: said so, about this model
            stderr = outcome.proc.stderr
            assert "model 'probe'" in stderr, stderr
            assert any(word in stderr for word in ("process", "fork", "limit", "killed")), stderr
    finally:
        kill_all(pids_with(marker))


# 7 -------------------------------------------------------------------------------------------
def test_a_daemon_does_not_outlive_its_model(home, hostile):
    marker = marker_number()
    project = hostile(
        """
        @bauplan.model(materialization_strategy="REPLACE")
        def probe():
            child = os.fork()
            if child == 0:
                try:
                    os.setsid()
                    if os.fork() == 0:
                        null = os.open("/dev/null", os.O_RDWR)
                        for fd in (0, 1, 2):
                            os.dup2(null, fd)
                        os.execvp("sleep", ["sleep", "5", P["marker"]])
                finally:
                    os._exit(0)
            os.waitpid(child, 0)
            return seen({"daemonized": True})
        """,
        marker=marker,
    )
    try:
        run(home, project).assert_ok()
        assert survivors(marker, grace=2.0) == [], "a daemon started by a model outlived it"
    finally:
        kill_all(pids_with(marker))


# 8 -------------------------------------------------------------------------------------------
def test_no_data_home_is_visible(home, hostile, tmp_path):
    other = Sluice(tmp_path / "other_home")
    try:
        other("checkout", "-b", "dev")
        other.load("taxi_zones", TAXI / "data" / "taxi_zones.csv")
        catalog = pathlib.Path(other.json("info")["catalog"])
        digest, mtime = sha256(catalog), catalog.stat().st_mtime_ns
        project = hostile(
            """
            @bauplan.model(materialization_strategy="REPLACE")
            def probe():
                record = {}
                for label, path in (("other", P["other"]), ("own", P["own"])):
                    try:
                        record[label + "_listing"] = sorted(os.listdir(path))
                    except OSError as e:
                        record[label + "_listing"] = err(e)
                    try:
                        with open(os.path.join(path, "catalog.db"), "rb") as f:
                            record[label + "_catalog_bytes_read"] = len(f.read(4096))
                    except OSError as e:
                        record[label + "_catalog_bytes_read"] = err(e)
                    try:
                        os.utime(os.path.join(path, "catalog.db"), (0, 0))
                        record[label + "_catalog_touched"] = "ok"
                    except OSError as e:
                        record[label + "_catalog_touched"] = err(e)
                return seen(record)
            """,
            other=str(other.home),
            own=str(home.home),
        )
        record = run(home, project).seen()
        assert sha256(catalog) == digest and catalog.stat().st_mtime_ns == mtime, record
        for label in ("other", "own"):
            assert not isinstance(record[f"{label}_listing"], list), record
            assert not isinstance(record[f"{label}_catalog_bytes_read"], int), record
            assert record[f"{label}_catalog_touched"] != "ok", record
    finally:
        other.remove_shared_memory()


# 9 -------------------------------------------------------------------------------------------
def test_shared_memory_of_homes_and_runs_is_not_visible(home, hostile):
    shm = pathlib.Path(home.json("info")["shared_memory"])
    sentinel = shm / "hostile-sentinel"
    sentinel.write_text("the home's own object")
    mtime = sentinel.stat().st_mtime_ns
    project = hostile(
        """
        @bauplan.model(materialization_strategy="REPLACE")
        def probe():
            listing, readable = [], 0
            for top, dirs, files in os.walk("/dev/shm"):
                for name in dirs + files:
                    listing.append(os.path.join(top, name))
                for name in files:
                    try:
                        with open(os.path.join(top, name), "rb") as f:
                            f.read(16)  # only read: the objects of other homes are not ours
                        readable += 1
                    except OSError:
                        pass
                if len(listing) > 5000:
                    break
            try:
                os.utime(P["sentinel"], (0, 0))
                touched = "ok"
            except OSError as e:
                touched = err(e)
            return seen({"listing": listing[:200], "entries": len(listing), "readable": readable,
                         "sentinel_touched": touched})
        """,
        sentinel=str(sentinel),
    )
    record = run(home, project).seen()
    assert sentinel.read_text() == "the home's own object" and sentinel.stat().st_mtime_ns == mtime
    assert record["sentinel_touched"] != "ok", record
    assert [p for p in record["listing"] if "sluice" in p] == [], record["listing"][:20]


# 10 ------------------------------------------------------------------------------------------
def test_no_zygote_socket_or_run_folder_is_reachable(home, hostile):
    project = hostile(
        """
        import re

        @bauplan.model(materialization_strategy="REPLACE")
        def probe():
            sockets, arena, connected, entries = [], [], [], 0
            deadline = time.monotonic() + 8
            done = set()
            for start in ("/dev/shm", "/tmp", "/run", "/var/run", "/root", "/home", "/"):
                for top, dirs, files in os.walk(start):
                    if top in done or time.monotonic() > deadline:
                        dirs[:] = []
                        continue
                    done.add(top)
                    dirs[:] = [d for d in dirs if os.path.join(top, d) not in ("/proc", "/sys")]
                    for name in dirs:
                        if re.fullmatch(r"sluice-\\d+-.*", name) or (name == "runs" and "sluice-" in top):
                            arena.append(os.path.join(top, name))
                    for name in files:
                        entries += 1
                        path = os.path.join(top, name)
                        try:
                            is_socket = stat.S_ISSOCK(os.lstat(path).st_mode)
                        except OSError:
                            continue
                        if is_socket or name.endswith(".sock"):
                            sockets.append(path)
            for path in sockets:
                # Connect (and say nothing) only to what belongs to this test's own home: the
                # sockets of other homes on this machine are not ours to disturb.
                if not (path.startswith(P["shm"]) or path.startswith(P["home"])):
                    continue
                s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
                s.settimeout(1)
                try:
                    s.connect(path)
                    connected.append(path)
                except OSError:
                    pass
                finally:
                    s.close()
            return seen({"sockets": sockets[:100], "arena": arena[:100], "connected": connected,
                         "entries": entries})
        """,
        shm=home.json("info")["shared_memory"],
        home=str(home.home),
    )
    record = run(home, project).seen()
    assert record["connected"] == [], record
    assert [s for s in record["sockets"] if "sluice" in s or "zygote" in s] == [], record["sockets"]
    assert record["arena"] == [], record["arena"]


# 11 ------------------------------------------------------------------------------------------
@root_only
def test_etc_shadow_is_unreadable(home, hostile):
    project = hostile(
        """
        @bauplan.model(materialization_strategy="REPLACE")
        def probe():
            try:
                with open("/etc/shadow", "rb") as f:
                    return seen({"shadow": f"readable: {len(f.read())} bytes"})  # never the content
            except OSError as e:
                return seen({"shadow": err(e)})
        """
    )
    record = run(home, project).seen()
    assert record["shadow"] in ("EACCES", "EPERM", "ENOENT"), record


# 12 ------------------------------------------------------------------------------------------
@root_only
def test_a_model_has_no_privileges(home, hostile):
    project = hostile(
        """
        @bauplan.model(materialization_strategy="REPLACE")
        def probe():
            record = {"uid": os.getuid(), "pid": os.getpid()}
            with open("/proc/self/status") as f:
                for line in f:
                    key, _, value = line.partition(":")
                    if key in ("CapEff", "CapPrm", "CapBnd", "NoNewPrivs", "Seccomp"):
                        record[key] = value.strip()
            return seen(record)
        """
    )
    record = run(home, project).seen()
    assert record["uid"] == 0, record  # root inside its user namespace, mapped to a nobody outside
    assert record["CapEff"] == "0000000000000000", record
    assert record["NoNewPrivs"] == "1", record
    assert record["Seccomp"] == "2", record
    assert record["pid"] <= 10, record


# 13 ------------------------------------------------------------------------------------------
def test_a_model_cannot_make_namespaces_or_mount(home, hostile):
    project = hostile(
        """
        @bauplan.model(materialization_strategy="REPLACE")
        def probe():
            def new_user_namespace():
                return libc("unshare", CLONE_NEWUSER)

            def new_mount_namespace_and_tmpfs():
                isolated = may_mount()  # its copy in a new namespace propagates where it did
                outcome = {"unshare": libc("unshare", CLONE_NEWNS)}
                if isolated:
                    os.makedirs("/tmp/hostile-mount-point", exist_ok=True)
                    outcome["mount"] = libc("mount", b"none", b"/tmp/hostile-mount-point", b"tmpfs", 0, None)
                return outcome

            record = {"own_mount_namespace": may_mount(),
                      "unshare_user": in_child(new_user_namespace)}
            record.update(in_child(new_mount_namespace_and_tmpfs))
            return seen(record)
        """
    )
    record = run(home, project).seen()
    assert record["unshare_user"] == "EPERM", record
    assert record["unshare"] == "EPERM", record
    assert record.get("mount") == "EPERM", record


# 14 ------------------------------------------------------------------------------------------
@root_only
def test_a_models_processes_are_not_root_on_the_host(home, hostile):
    marker = marker_number()
    project = hostile(
        """
        @bauplan.model(materialization_strategy="REPLACE")
        def probe():
            subprocess.Popen(["sleep", "4", P["marker"]], stdin=subprocess.DEVNULL,
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            time.sleep(3)
            return seen({"uid_inside": os.getuid()})
        """,
        marker=marker,
    )
    proc = subprocess.Popen(
        [str(SLUICE), "run", "-p", str(project)],
        env=home.env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        uids = None
        deadline = time.monotonic() + 60
        while uids is None and proc.poll() is None and time.monotonic() < deadline:
            for pid in pids_with(marker):
                try:
                    status = pathlib.Path(f"/proc/{pid}/status").read_text()
                except OSError:
                    continue
                line = next(x for x in status.splitlines() if x.startswith("Uid:"))
                uids = [int(u) for u in line.split()[1:]]
                break
            time.sleep(0.05)
        stdout, stderr = proc.communicate(timeout=120)
        assert proc.returncode == 0, stderr
        assert uids is not None, "the model's sleep was never seen from the host"
        assert 0 not in uids, f"a model's process runs as host uid {uids}"
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        kill_all(pids_with(marker))


# 15 ------------------------------------------------------------------------------------------
@pytest.mark.parametrize("shape", ["../../{}", "a/../../{}", "/tmp/{}"])
def test_a_model_named_with_path_characters_is_refused(home, make_project, tmp_path, shape):
    token = f"hostile_x_{random.randrange(10**12)}"
    name = shape.format(token)
    project = make_project(
        {
            "models.py": f"""\
import bauplan


@bauplan.model(name={name!r}, materialization_strategy="REPLACE")
def escape():
    return [{{"a": 1}}]
"""
        }
    )
    head = home.head("dev")
    proc = home("run", "-p", project, check=False)
    shm = pathlib.Path(home.json("info")["shared_memory"])
    written = []
    for place in (tmp_path.parent, shm, home.home):
        for top, dirs, files in os.walk(place):
            written += [os.path.join(top, n) for n in dirs + files if token in n]
    for place in (tmp_path.parent.parent, pathlib.Path("/tmp"), pathlib.Path("/dev/shm")):
        written += [str(p) for p in place.iterdir() if token in p.name]
    for path in written:  # the test's own token: remove what a broken engine left
        shutil.rmtree(path, ignore_errors=True) if os.path.isdir(path) else os.remove(path)
    assert written == [], f"a model named {name!r} wrote {written}"
    assert proc.returncode != 0, f"a model named {name!r} ran:\n{proc.stdout}"
    assert name in proc.stderr or "'escape'" in proc.stderr, proc.stderr
    assert "Traceback" not in proc.stderr, proc.stderr
    assert home.head("dev") == head


# 16 ------------------------------------------------------------------------------------------
def test_an_output_over_the_limit_fails_even_when_the_model_skips_the_workers_check(home, hostile):
    """The worker refuses to write an output over the limit, but that check runs in the model's
    own process: a model that patches it out is still stopped by the engine, from outside."""
    home.env["SLUICE_MAX_OUTPUT_BYTES"] = "1000000"
    project = hostile(
        """
        @bauplan.model(materialization_strategy="REPLACE")
        def probe():
            import pyarrow as pa
            import sluice._arena as arena
            write = arena.write_table_to
            arena.write_table_to = lambda table, fd, max_bytes=0: write(table, fd)
            return pa.table({"n": pa.array(range(1_000_000), pa.int64())})
        """
    )
    head = home.head("dev")
    proc = run(home, project).proc
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "model 'probe'" in proc.stderr, proc.stderr
    assert "more than the limit of 1000000 bytes for one model's output" in proc.stderr, proc.stderr
    assert home.head("dev") == head


# 18 ------------------------------------------------------------------------------------------
def test_a_model_holds_no_connection_of_a_sibling(home, hostile):
    """Models of one environment fork from one zygote. A fork made while a sibling ran used to
    inherit the sibling's connection to the engine, on which it could read the sibling's task
    or answer in its name. Each model now holds one socket: its own connection."""
    probe = """
        def held_sockets():
            found = []
            for name in os.listdir("/proc/self/fd"):
                try:
                    if stat.S_ISSOCK(os.fstat(int(name)).st_mode):
                        found.append(int(name))
                except OSError:
                    pass
            return found

        @bauplan.model(materialization_strategy="REPLACE")
        def probe():
            time.sleep(1.0)
            return seen({"sockets": held_sockets()})

        @bauplan.model(materialization_strategy="REPLACE")
        def probe_b():
            time.sleep(1.0)
            return seen({"sockets": held_sockets()})
    """
    outcome = run(home, hostile(probe))
    for table in ("probe", "probe_b"):
        assert len(outcome.seen(table)["sockets"]) == 1, (table, outcome.seen(table))


def test_a_model_leaves_no_file_in_tmp_or_dev_shm_for_another_model(home, hostile):
    """Models of one environment fork from one zygote, whose /tmp and /dev/shm were one tmpfs
    each: a file left there by name reached the next model of that environment, and a model
    running beside another could read what it wrote. Each worker now mounts its own."""
    name = f"sluice-leak-{random.randrange(10**12)}"
    probe = """
        def look():
            return {d: os.path.exists(f"{d}/{P['name']}") for d in ("/tmp", "/dev/shm")}

        @bauplan.model(materialization_strategy="REPLACE")
        def writer():
            for d in ("/tmp", "/dev/shm"):
                with open(f"{d}/{P['name']}", "w") as f:
                    f.write("secret")
            time.sleep(1.5)  # the sibling looks while this one still runs
            return seen({"own": look(), "tmpdir": os.environ.get("TMPDIR")})

        @bauplan.model(materialization_strategy="REPLACE")
        def sibling():
            time.sleep(0.7)
            return seen({"seen": look()})

        @bauplan.model(materialization_strategy="REPLACE")
        def reader(w=bauplan.Model("writer")):
            return seen({"seen": look()})
    """
    outcome = run(home, hostile(probe, name=name))
    assert outcome.seen("writer")["own"] == {"/tmp": True, "/dev/shm": True}
    nothing = {"/tmp": False, "/dev/shm": False}
    assert outcome.seen("sibling")["seen"] == nothing, "a running model's files leaked"
    assert outcome.seen("reader")["seen"] == nothing, "a finished model's files leaked"
    assert not os.path.exists(f"/tmp/{name}") and not os.path.exists(f"/dev/shm/{name}")
