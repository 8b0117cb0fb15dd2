"""Hand-off benchmark: a producer returns 8 float64 columns of `size_mb` MiB in all; three relays
each add a derived column (the rest of their input handed on as it is) and a consumer sums one
column: five models, four hand-offs. Sluice reports when each model returned and when the next
one started (CLOCK_MONOTONIC, comparable across processes)."""

import bauplan


@bauplan.model()
def producer(size_mb=bauplan.Parameter("size_mb")):
    import numpy as np
    import pyarrow as pa

    rows = int(size_mb) * (1 << 20) // (8 * 8)
    rng = np.random.default_rng(0)
    return pa.table({f"c{i}": rng.random(rows) for i in range(8)})


def relay(data, name):
    import pyarrow.compute as pc

    return data.append_column(name, pc.multiply(data["c0"], 2.0))


@bauplan.model()
def relay1(data=bauplan.Model("producer")):
    return relay(data, "d1")


@bauplan.model()
def relay2(data=bauplan.Model("relay1")):
    return relay(data, "d2")


@bauplan.model()
def relay3(data=bauplan.Model("relay2")):
    return relay(data, "d3")


@bauplan.model()
def consumer(data=bauplan.Model("relay3")):
    import pyarrow.compute as pc

    total = pc.sum(data["d3"]).as_py()
    print(f"sum(d3) = {total:.3f} over {data.num_rows} rows, {data.num_columns} columns")
    return [{"sum": total}]
