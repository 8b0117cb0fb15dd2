"""Spill benchmark: a chain of four models, each returning 8 float64 columns of `size_mb` MiB
in all; each step doubles every column of the one before. Run as a dry run, every
intermediate stays live until the run ends, so the chain holds 4 x size_mb."""

import bauplan


def _double(table):
    import pyarrow as pa
    import pyarrow.compute as pc

    return pa.table({name: pc.multiply(table[name], 2.0) for name in table.column_names})


@bauplan.model()
def produce(size_mb=bauplan.Parameter("size_mb")):
    import numpy as np
    import pyarrow as pa

    rows = int(size_mb) * (1 << 20) // (8 * 8)
    rng = np.random.default_rng(0)
    return pa.table({f"c{i}": rng.random(rows) for i in range(8)})


@bauplan.model()
def step1(data=bauplan.Model("produce")):
    return _double(data)


@bauplan.model()
def step2(data=bauplan.Model("step1")):
    return _double(data)


@bauplan.model()
def step3(data=bauplan.Model("step2")):
    import pyarrow.compute as pc

    out = _double(data)
    print(f"sum(c0) = {pc.sum(out['c0']).as_py():.3f}")
    return out
