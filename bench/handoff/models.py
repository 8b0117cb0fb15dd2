"""Hand-off benchmark: a producer returns 8 float64 columns of `size_mb` MiB in all; the
consumer sums one column. Sluice reports when the producer returned and when the consumer
started (CLOCK_MONOTONIC, comparable across processes)."""

import bauplan


@bauplan.model()
def producer(size_mb=bauplan.Parameter("size_mb")):
    import numpy as np
    import pyarrow as pa

    rows = int(size_mb) * (1 << 20) // (8 * 8)
    rng = np.random.default_rng(0)
    return pa.table({f"c{i}": rng.random(rows) for i in range(8)})


@bauplan.model()
def consumer(data=bauplan.Model("producer")):
    import pyarrow.compute as pc

    total = pc.sum(data["c0"]).as_py()
    print(f"sum(c0) = {total:.3f} over {data.num_rows} rows")
    return [{"sum": total}]
