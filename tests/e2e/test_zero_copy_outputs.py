"""Zero-copy hand-off (issue 10 §3): a model's output stays in the memory its worker built it
in (the shared heap, or its inputs' memory) and the next model and the table write read it
there. Checked through the real binary: the run report says how many bytes were handed on
without a copy, and every value arrives as the producer made it, the same as with the copy
path (SLUICE_SHARED_HEAP=off)."""

import json
import os
import pathlib
import textwrap

MODELS = textwrap.dedent("""\
    import bauplan


    @bauplan.model()
    def wide(trips=bauplan.Model("taxi_trips", columns=["zone_id"])):
        import numpy as np
        import pyarrow as pa

        rows = 1 << 20
        rng = np.random.default_rng(7)
        ids = np.arange(rows, dtype=np.int64)
        names = pa.array([f"zone-{i % 263}" for i in range(rows)])
        return pa.table(
            {
                "id": ids,
                "x": rng.random(rows),
                "name": names,
                "kind": names.dictionary_encode(),
                "maybe": pa.array(np.where(ids % 5 == 0, None, ids), type=pa.int64()),
                "flag": pa.array(ids % 3 == 0),
                "pair": pa.StructArray.from_arrays([pa.array(ids), pa.array(ids * 2.0)], ["a", "b"]),
                "tags": pa.ListArray.from_arrays(
                    pa.array(np.arange(0, 2 * rows + 1, 2, dtype=np.int32)), pa.array(np.arange(2 * rows) % 7)
                ),
            }
        )


    @bauplan.model()
    def window(wide=bauplan.Model("wide")):
        # A projection and a slice of the input: the same buffers, handed on.
        return wide.select(["id", "x", "name", "pair", "tags"]).slice(1000, 500_000)


    @bauplan.model(materialization_strategy="REPLACE")
    def summary(window=bauplan.Model("window"), wide=bauplan.Model("wide")):
        import pyarrow.compute as pc

        return [
            {
                "rows": window.num_rows,
                "first_id": window["id"][0].as_py(),
                "x_sum": round(pc.sum(window["x"]).as_py(), 6),
                "names": pc.count_distinct(window["name"]).as_py(),
                "pair_b": pc.sum(pc.struct_field(window["pair"], "b")).as_py(),
                "tags": pc.sum(pc.list_flatten(window["tags"])).as_py(),
                "maybe_nulls": wide["maybe"].null_count,
                "kinds": len(wide["kind"].chunk(0).dictionary),
                "flags": pc.sum(wide["flag"]).as_py(),
            }
        ]


    @bauplan.model(materialization_strategy="REPLACE")
    def wide_table(wide=bauplan.Model("wide")):
        return wide.drop_columns(["pair", "tags"])  # Iceberg tables hold no nested types yet
    """)

SQL = "SELECT zone_id, count(*) AS trips, sum(miles) AS miles FROM taxi_trips GROUP BY zone_id"


def run_report(lake, project, **env):
    proc = lake("-O", "json", "run", "-p", project, check=False, timeout=600)
    assert proc.returncode == 0, proc.stderr
    return {m["name"]: m for m in json.loads(proc.stdout)["models"]}


def test_outputs_are_handed_on_in_place_and_arrive_whole(lake, make_project):
    project = make_project({"models.py": MODELS, "zones_by_trips.sql": SQL})
    models = run_report(lake, project)
    # The producer's columns stay in its heap; the projection and slice stay in the producer's
    # heap too (its input's memory); small outputs are ordinary IPC files.
    assert models["wide"]["output_shared_bytes"] > 20 << 20
    assert models["window"]["output_shared_bytes"] > 10 << 20
    assert models["wide_table"]["output_shared_bytes"] > 20 << 20
    assert models["summary"]["output_shared_bytes"] == 0
    shared = lake.query("SELECT * FROM summary", "dev")

    # The same pipeline with every output copied gives the same values, cell for cell.
    lake.env["SLUICE_SHARED_HEAP"] = "off"
    lake.stop_server()
    try:
        copied_models = run_report(lake, project)
    finally:
        del lake.env["SLUICE_SHARED_HEAP"]
        lake.stop_server()
    assert all(m["output_shared_bytes"] == 0 for m in copied_models.values())
    copied = lake.query("SELECT * FROM summary", "dev")
    assert shared == copied
    assert "500000" in json.dumps(shared)  # the slice's rows

    # The table written from a heap table: every value of it, as pyarrow would read it.
    counts = lake.query(
        "SELECT count(*) AS n, count(maybe) AS m, sum(id) AS s, count(DISTINCT kind) AS k, "
        "sum(CASE WHEN flag THEN 1 ELSE 0 END) AS f FROM wide_table",
        "dev",
    )
    rows = 1 << 20
    (got,) = counts
    assert {k: int(v) for k, v in got.items()} == {
        "n": rows,
        "m": rows - (rows + 4) // 5,
        "s": rows * (rows - 1) // 2,
        "k": 263,
        "f": (rows + 2) // 3,
    }


def test_a_sql_models_output_is_handed_on_in_place(lake, make_project):
    project = make_project(
        {
            "big.sql": "SELECT r.range AS id, r.range * 0.5 AS half, 'z' || (r.range % 97) AS zone "
            "FROM range(2000000) r, (SELECT min(zone_id) AS zone_id FROM taxi_trips) t",
            "models.py": textwrap.dedent("""\
                import bauplan


                @bauplan.model(materialization_strategy="REPLACE")
                def big_check(big=bauplan.Model("big")):
                    import pyarrow.compute as pc

                    half, zones = pc.sum(big["half"]).as_py(), pc.count_distinct(big["zone"]).as_py()
                    return [{"n": big.num_rows, "half": half, "zones": zones}]
                """),
        }
    )
    models = run_report(lake, project)
    assert models["big"]["output_shared_bytes"] > 16 << 20
    (got,) = lake.query("SELECT * FROM big_check", "dev")
    assert (int(got["n"]), float(got["half"]), int(got["zones"])) == (2000000, sum(range(2000000)) * 0.5, 97)


def test_a_forked_child_cannot_change_or_reuse_its_parents_heap(lake, make_project):
    project = make_project(
        {
            "models.py": textwrap.dedent("""\
                import bauplan


                @bauplan.model(materialization_strategy="REPLACE")
                def forked(trips=bauplan.Model("taxi_trips", columns=["zone_id"])):
                    import os
                    import numpy as np
                    import pyarrow as pa

                    values = np.ones(1 << 20)
                    pid = os.fork()
                    if pid == 0:
                        values[:] = 7.0  # the child's copy only
                        scratch = np.full(1 << 20, 3.0)  # allocated in the child, not in the heap
                        os._exit(0 if scratch.sum() == 3.0 * (1 << 20) else 1)
                    _, status = os.waitpid(pid, 0)
                    exit_code = os.waitstatus_to_exitcode(status)
                    return pa.table({"v": values, "child_exit": np.full(1 << 20, exit_code)})
                """),
        }
    )
    models = run_report(lake, project)
    assert models["forked"]["output_shared_bytes"] > 8 << 20
    (got,) = lake.query("SELECT sum(v) AS s, max(child_exit) AS e FROM forked", "dev")
    # The child's writes stayed in the child, and it allocated fine on its own.
    assert (float(got["s"]), int(got["e"])) == (float(1 << 20), 0)


def test_no_heap_outlives_its_run(lake, make_project):
    project = make_project({"models.py": MODELS})
    run_report(lake, project)
    # The heaps are memory files the engine (here the data home's background server) holds
    # while the run needs them: none is open after it, and nothing is left in /dev/shm.
    pid = lake.server_status()["pid"]
    fds = pathlib.Path(f"/proc/{pid}/fd")
    held = [os.readlink(fd) for fd in fds.iterdir() if "sluice-heap" in os.readlink(fd)]
    assert held == []
    lake.stop_server()
    shared = pathlib.Path(lake.json("info")["shared_memory"])
    # Only the recycled arena and the home's marker; no object of the run.
    left = [p.name for p in shared.rglob("*") if p.is_file() and "arena" not in p.parts and p.name != "home"]
    assert left == []


def test_buffers_built_after_an_input_was_read_are_not_taken_for_the_inputs(lake, make_project):
    # The consumer reads a heap table (the SQL model's), rebuilds it through pandas (new
    # bitmaps, from malloc) and returns it: no address of its own may be described as the
    # input's memory, even where an input's mapping was once.
    project = make_project(
        {
            "nullable.sql": "SELECT CASE WHEN r.range % 50 = 0 THEN NULL ELSE r.range * 1.0 END AS v, "
            "CASE WHEN r.range % 7 = 0 THEN NULL ELSE r.range END AS w, r.range AS id "
            "FROM range(1000000) r, (SELECT min(zone_id) AS zone_id FROM taxi_trips) t",
            "models.py": textwrap.dedent("""\
                import bauplan


                @bauplan.model(materialization_strategy="REPLACE")
                def through_pandas(rows=bauplan.Model("nullable")):
                    return rows.to_pandas()
                """),
        }
    )
    for _ in range(2):  # where malloc puts things varies
        run_report(lake, project)
        (got,) = lake.query(
            "SELECT count(*) AS n, count(v) AS v, count(w) AS w, sum(v) AS s FROM through_pandas", "dev"
        )
        expected_v = [i * 1.0 for i in range(1000000) if i % 50]
        assert (int(got["n"]), int(got["v"]), int(got["w"])) == (1000000, len(expected_v), 1000000 - 142858)
        assert float(got["s"]) == sum(expected_v)
