"""Model environments assembled from the package store: per-model versions, errors before
anything runs."""

import textwrap

import pytest

HEADER = "import bauplan\n"


def base_version(package):
    """The version of `package` in the base environment (this venv), or "absent"."""
    import importlib.metadata

    try:
        return importlib.metadata.version(package)
    except importlib.metadata.PackageNotFoundError:
        return "absent"


def test_two_models_pin_different_versions_of_one_package(lake, make_project):
    project = make_project(
        {
            "models.py": HEADER
            + textwrap.dedent("""
        @bauplan.python("3.11", pip={"tabulate": "0.9.0"})
        @bauplan.model(materialization_strategy="REPLACE")
        def new_tabulate(z=bauplan.Model("taxi_zones")):
            import tabulate
            return [{"version": tabulate.__version__}]

        @bauplan.python("3.11", pip={"tabulate": "0.8.10"})
        @bauplan.model(materialization_strategy="REPLACE")
        def old_tabulate(z=bauplan.Model("taxi_zones")):
            import tabulate
            return [{"version": tabulate.__version__}]

        @bauplan.model(materialization_strategy="REPLACE")
        def no_python_decorator(z=bauplan.Model("taxi_zones")):
            try:
                import tabulate  # the base environment's own, if it has one
                return [{"version": tabulate.__version__}]
            except ImportError:
                return [{"version": "absent"}]
        """)
        }
    )
    lake("run", "-p", project)
    assert lake.query("SELECT version FROM new_tabulate", "dev") == [{"version": "0.9.0"}]
    assert lake.query("SELECT version FROM old_tabulate", "dev") == [{"version": "0.8.10"}]
    # Neither pin: the base environment's tabulate (the project's lock has one, through dbt's
    # dependencies), or none.
    assert lake.query("SELECT version FROM no_python_decorator", "dev") == [
        {"version": base_version("tabulate")}
    ]


def test_a_pinned_pypi_bauplan_never_replaces_the_runtimes_own(lake, make_project):
    # bauplan projects often list bauplan itself; here the runtime provides it.
    project = make_project(
        {
            "models.py": HEADER
            + textwrap.dedent("""
        @bauplan.python("3.11", pip={"bauplan": "99.0.0", "tabulate": "0.9.0"})
        @bauplan.model(materialization_strategy="REPLACE")
        def which(z=bauplan.Model("taxi_zones")):
            import sluice
            return [{"ours": bauplan.Model is sluice.Model}]
        """)
        }
    )
    lake("run", "-p", project)
    assert lake.query("SELECT ours FROM which", "dev") == [{"ours": True}]


def run_with_bad_packages(lake, make_project, pip):
    """Runs a project whose model `broken` (models.py:9) asks for `pip`: the run must fail
    before any model runs and leave the branch alone. Returns the process."""
    project = make_project(
        {
            "models.py": HEADER
            + textwrap.dedent(f"""
        @bauplan.model(materialization_strategy="REPLACE")
        def fine(z=bauplan.Model("taxi_zones")):
            return z

        @bauplan.python("3.11", pip={pip!r})
        @bauplan.model()
        def broken(z=bauplan.Model("taxi_zones")):
            return z
        """)
        }
    )
    before = lake.head("dev")
    proc = lake("run", "-p", project, check=False)
    assert proc.returncode == 1
    assert "model 'broken' (models.py:9)" in proc.stderr
    assert "Traceback" not in proc.stderr
    assert "fine" not in proc.stdout  # nothing ran
    assert lake.head("dev") == before
    return proc


def test_an_unknown_package_fails_before_any_model_runs(lake, make_project):
    proc = run_with_bad_packages(lake, make_project, {"no-such-package-sluice-test": "1.0.0"})
    assert "no-such-package-sluice-test" in proc.stderr


def test_an_unavailable_package_version_shows_the_resolvers_explanation(lake, make_project):
    proc = run_with_bad_packages(lake, make_project, {"tabulate": "99.0.0"})
    assert "tabulate==99.0.0" in proc.stderr  # uv's own explanation, not just "failed"


def test_an_unavailable_python_version_names_the_model(lake, make_project):
    project = make_project(
        {
            "models.py": HEADER
            + textwrap.dedent("""
        @bauplan.python("3.12")
        @bauplan.model()
        def newer(z=bauplan.Model("taxi_zones")):
            return z
        """)
        }
    )
    lake.env["SLUICE_PYTHON_DOWNLOADS"] = "never"  # and no python3.12 on PATH: none to be had
    proc = lake("run", "-p", project, check=False)
    assert proc.returncode == 1
    assert "model 'newer'" in proc.stderr and "Python 3.12 is not installed (installed: " in proc.stderr
    assert "3.11" in proc.stderr and "uv python install 3.12" in proc.stderr


def test_cache_ls_and_prune(lake, make_project, tmp_path):
    lake.env["SLUICE_STORE"] = str(tmp_path / "store")
    project = make_project(
        {
            "models.py": HEADER
            + textwrap.dedent("""
        @bauplan.python("3.11", pip={"tabulate": "0.9.0"})
        @bauplan.model()
        def m(z=bauplan.Model("taxi_zones")):
            import tabulate
            return [{"version": tabulate.__version__}]
        """)
        }
    )
    lake("run", "-p", project, "--dry-run")
    listed = lake.json("cache", "ls")
    assert [p["name"] for p in listed] == ["tabulate-0.9.0-py3.11"] and listed[0]["bytes"] > 0
    # The run's background server keeps the environment warm, so in use: prune spares it then.
    assert "tabulate-0.9.0-py3.11" not in lake("cache", "prune", "--dry-run").stdout
    lake.stop_server()
    assert "tabulate-0.9.0-py3.11" in lake("cache", "prune", "--dry-run").stdout
    assert len(lake.json("cache", "ls")) == 1
    removed = lake.json("cache", "prune", "--max-size", "0")
    assert [p["name"] for p in removed] == ["tabulate-0.9.0-py3.11"]
    assert lake.json("cache", "ls") == []
    lake("run", "-p", project, "--dry-run")  # reinstalled on demand
    assert len(lake.json("cache", "ls")) == 1
    proc = lake("cache", "prune", "--max-size", "lots", check=False)
    assert proc.returncode == 1 and "--max-size" in proc.stderr


def test_models_have_no_network_unless_they_ask_for_it(lake, make_project):
    import socket
    import threading

    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(8)
    port = server.getsockname()[1]
    threading.Thread(target=lambda: [server.accept() for _ in range(8)], daemon=True).start()
    probe = f"""
    import socket
    try:
        socket.create_connection(("127.0.0.1", {port}), timeout=2).close()
        return [{{"network": "connected"}}]
    except OSError:
        return [{{"network": "blocked"}}]
"""
    project = make_project(
        {
            "models.py": HEADER
            + textwrap.dedent("""
        @bauplan.model(materialization_strategy="REPLACE")
        def offline(z=bauplan.Model("taxi_zones")):""")
            + textwrap.indent(textwrap.dedent(probe), "    ")
            + textwrap.dedent("""

        @bauplan.model(materialization_strategy="REPLACE", internet_access=True)
        def online(z=bauplan.Model("taxi_zones")):""")
            + textwrap.indent(textwrap.dedent(probe), "    ")
        }
    )
    lake("run", "-p", project)
    assert lake.query("SELECT network FROM offline", "dev") == [{"network": "blocked"}]
    assert lake.query("SELECT network FROM online", "dev") == [{"network": "connected"}]
    server.close()


@pytest.mark.parametrize("zygotes", ["1", "0"])
def test_a_model_over_its_memory_limit_is_stopped(lake, make_project, zygotes):
    # Without zygotes the worker is a grandchild of the sandbox launcher the engine started:
    # the limit must reach it too.
    lake.env["SLUICE_ZYGOTES"] = zygotes
    project = make_project(
        {
            "models.py": HEADER
            + textwrap.dedent("""
        @bauplan.model()
        @bauplan.resources(memory="200M")
        def hungry(z=bauplan.Model("taxi_zones")):
            import numpy as np
            big = np.ones(80_000_000)  # 640 MB
            return [{"sum": float(big.sum())}]

        @bauplan.model()
        @bauplan.resources(memory="1G", cpus=1)
        def modest(z=bauplan.Model("taxi_zones")):
            import numpy as np
            return [{"sum": float(np.ones(1_000_000).sum())}]
        """)
        }
    )
    before = lake.head("dev")
    proc = lake("run", "-p", project, "--parallel", "1", check=False)
    assert proc.returncode == 1
    assert "model 'hungry'" in proc.stderr and "memory limit of 200M" in proc.stderr
    assert lake.head("dev") == before


def test_an_output_over_the_size_limit_fails_its_model_and_commits_nothing(lake, make_project):
    lake.env["SLUICE_MAX_OUTPUT_BYTES"] = "1000000"
    project = make_project(
        {
            "models.py": HEADER
            + textwrap.dedent("""
        @bauplan.model(materialization_strategy="REPLACE")
        def small(z=bauplan.Model("taxi_zones")):
            return [{"n": 1}]

        @bauplan.model(materialization_strategy="REPLACE")
        def huge(z=bauplan.Model("taxi_zones")):
            import pyarrow as pa
            return pa.table({"n": pa.array(range(1_000_000), pa.int64())})
        """)
        }
    )
    before = lake.head("dev")
    proc = lake("run", "-p", project, check=False)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "model 'huge'" in proc.stderr
    assert "more than the limit of 1000000 bytes for one model's output" in proc.stderr, proc.stderr
    assert "SLUICE_MAX_OUTPUT_BYTES" in proc.stderr
    assert "Traceback" not in proc.stderr
    assert lake.head("dev") == before


def test_a_cpu_limit_caps_the_cpu_time_a_model_gets(lake, make_project):
    # A quarter of a CPU for two seconds of busy work: about half a second of CPU time.
    project = make_project(
        {
            "models.py": HEADER
            + textwrap.dedent("""
        import time

        @bauplan.model(materialization_strategy="REPLACE")
        @bauplan.resources(cpus=0.25)
        def throttled(z=bauplan.Model("taxi_zones")):
            start_wall, start_cpu = time.monotonic(), time.process_time()
            while time.monotonic() - start_wall < 2:
                pass
            return [{"cpu_seconds": time.process_time() - start_cpu}]
        """)
        }
    )
    lake("run", "-p", project)
    [row] = lake.query("SELECT cpu_seconds FROM throttled", "dev")
    assert 0.1 < row["cpu_seconds"] < 1.2, row  # unthrottled it would be close to 2


def test_info_says_how_workers_run(lake):
    info = lake.json("info")
    assert info["sandbox"].startswith("on (") and info["sandbox"].endswith("sluice-sandbox)")
    assert info["zygotes"] == "on"
    assert info["package_store"]
    # Whether worker heaps get huge pages, which decides if a hand-off grows with its size.
    setting = open("/sys/kernel/mm/transparent_hugepage/shmem_enabled").read().split("[")[1].split("]")[0]
    state = "off" if setting in ("never", "deny") else "on"
    huge = info["shared_huge_pages"]
    assert huge.startswith(f"{state} (shmem_enabled={setting}"), huge
    lake.env["SLUICE_ZYGOTES"] = "0"
    assert lake.json("info")["zygotes"].startswith("off")


def test_models_see_a_read_only_project_and_a_private_tmp(lake, make_project, tmp_path):
    import os
    import uuid

    host_file = f"/tmp/sluice-host-{uuid.uuid4().hex}"
    open(host_file, "w").write("host")
    scratch = f"/tmp/sluice-scratch-{uuid.uuid4().hex}"
    project = make_project(
        {
            "notes.txt": "readable",
            "models.py": HEADER
            + textwrap.dedent(f'''
        import errno
        import os

        def refused(path):
            try:
                open(path, "w").close()
                return "writable"
            except OSError as e:
                return errno.errorcode[e.errno]

        @bauplan.python("3.11", pip={{"tabulate": "0.9.0"}})
        @bauplan.model(materialization_strategy="REPLACE")
        def probe(z=bauplan.Model("taxi_zones")):
            import tabulate
            open("{scratch}", "w").write("mine")
            return [{{
                "project_read": open("notes.txt").read(),
                "project_write": refused("new_file.txt"),
                "host_tmp_visible": os.path.exists("{host_file}"),
                "own_tmp": open("{scratch}").read(),
                "site_write": refused(os.path.join(os.path.dirname(tabulate.__file__), "x.py")),
            }}]
        '''),
        }
    )
    try:
        lake("run", "-p", project)
        assert lake.query("SELECT * FROM probe", "dev") == [
            {
                "project_read": "readable",
                "project_write": "EROFS",
                "host_tmp_visible": False,
                "own_tmp": "mine",
                "site_write": "EROFS",
            }
        ]
        assert not (project / "new_file.txt").exists()
        assert not os.path.exists(scratch)  # the model's /tmp went away with it
    finally:
        os.remove(host_file)


def test_two_models_pin_pandas_1_and_pandas_2(lake, make_project):
    # pandas 1.5.3 was built against numpy 1 but does not say so; pinning numpy is what its
    # users do with any installer.
    project = make_project(
        {
            "models.py": HEADER
            + textwrap.dedent("""
        @bauplan.python("3.11", pip={"pandas": "1.5.3", "numpy": "<2"})
        @bauplan.model(materialization_strategy="REPLACE")
        def old_pandas(z=bauplan.Model("taxi_zones", columns=["zone_id", "borough"])):
            import numpy
            import pandas as pd
            df = z.to_pandas()
            return pd.DataFrame({"pandas": [pd.__version__], "numpy": [numpy.__version__],
                                 "zones": [len(df)]})

        @bauplan.python("3.11", pip={"pandas": "2.2"})
        @bauplan.model(materialization_strategy="REPLACE")
        def new_pandas(z=bauplan.Model("taxi_zones", columns=["zone_id", "borough"])):
            import pandas as pd
            df = z.to_pandas()
            return pd.DataFrame({"pandas": [pd.__version__], "zones": [len(df)]})
        """)
        }
    )
    lake("run", "-p", project)
    old = lake.query("SELECT * FROM old_pandas", "dev")[0]
    new = lake.query("SELECT * FROM new_pandas", "dev")[0]
    assert old["pandas"] == "1.5.3" and old["numpy"].startswith("1.")
    assert new["pandas"].startswith("2.2.")
    assert old["zones"] == new["zones"] == 12


ZYGOTE_PROJECT = HEADER + textwrap.dedent("""
    import os
    import sys

    @bauplan.python("3.11", pip={"tabulate": "0.9.0"})
    @bauplan.model(materialization_strategy="REPLACE")
    def first(z=bauplan.Model("taxi_zones")):
        return [{"parent": os.environ.get("SLUICE_ZYGOTE"), "preloaded": "tabulate" in sys.modules}]

    @bauplan.python("3.11", pip={"tabulate": "0.9.0"})
    @bauplan.model(materialization_strategy="REPLACE")
    def second(z=bauplan.Model("taxi_zones")):
        import tabulate  # imported in a function body only, yet the zygote has it
        return [{"parent": os.environ.get("SLUICE_ZYGOTE"), "preloaded": True}]

    @bauplan.python("3.11", pip={"tabulate": "0.8.10"})
    @bauplan.model(materialization_strategy="REPLACE")
    def other_environment(z=bauplan.Model("taxi_zones")):
        return [{"parent": os.environ.get("SLUICE_ZYGOTE"), "preloaded": "tabulate" in sys.modules}]
    """)


def test_models_of_one_environment_fork_from_one_warm_zygote(lake, make_project):
    project = make_project({"models.py": ZYGOTE_PROJECT})
    lake("run", "-p", project)
    first = lake.query("SELECT * FROM first", "dev")[0]
    second = lake.query("SELECT * FROM second", "dev")[0]
    other = lake.query("SELECT * FROM other_environment", "dev")[0]
    assert first["preloaded"] and other["preloaded"]
    assert first["parent"] == second["parent"]  # the same zygote
    assert other["parent"] != first["parent"]  # its own environment, its own zygote


def test_without_zygotes_each_model_starts_a_fresh_interpreter(lake, make_project):
    project = make_project({"models.py": ZYGOTE_PROJECT})
    lake.env["SLUICE_ZYGOTES"] = "0"
    lake("run", "-p", project)
    first = lake.query("SELECT * FROM first", "dev")[0]
    second = lake.query("SELECT * FROM second", "dev")[0]
    assert not first["preloaded"]  # only the module's top level ran before the call
    assert first["parent"] is None and second["parent"] is None  # no zygote forked either
