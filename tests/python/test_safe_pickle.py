"""The restricted unpickler for what function workers send back (python/sluice/_safe_pickle.py):
data comes through whole; anything that would act in the caller is refused, named."""

import datetime
import decimal
import os
import pickle
import subprocess

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest

from sluice import _channel, _executor, _safe_pickle


def round_trip(value):
    # As a worker pickles a result: without reducers for exceptions that something imported
    # here may have registered (tblib's, with dask.multiprocessing, in another test).
    _executor._drop_exception_reducers()
    return _safe_pickle.load_part(_channel.Part.dump(value))


def test_data_of_every_common_kind_comes_through():
    trips = pd.DataFrame(
        {
            "PULocationID": np.arange(50_000) % 7,
            "fare": np.arange(50_000) * 0.5,
            "tpep_pickup_datetime": pd.date_range("2024-01-01", periods=50_000, freq="s"),
            "zone": pd.Categorical(["a", "b"] * 25_000),
        }
    )
    assert round_trip(trips).equals(trips)
    table = pa.Table.from_pandas(trips)
    assert round_trip(table).equals(table)
    array = np.arange(10_000_000)  # 80 MB: out of band, in a memfd
    assert np.array_equal(round_trip(array), array)
    values = [
        {"a": (1, 2.5, "x", b"y", None)},
        datetime.datetime(2024, 1, 1, tzinfo=datetime.UTC),
        decimal.Decimal("1.25"),
        pd.Timestamp("2024-01-01", tz="UTC"),
        pd.NA,
        pa.array([1, None]),
        ValueError("bad fare"),
    ]
    got = round_trip(values)
    assert got[:4] == values[:4]
    assert got[4] is pd.NA
    assert got[5].equals(values[5])
    assert type(got[6]) is ValueError and got[6].args == ("bad fare",)


class _Act:
    def __init__(self, fn, *args):
        self.fn, self.args = fn, args

    def __reduce__(self):
        return (self.fn, self.args)


@pytest.mark.parametrize(
    "fn, args",
    [
        (os.system, ("true",)),
        (subprocess.Popen, (["true"],)),
        (eval, ("1",)),
        (getattr, (1, "real")),
        (pd.read_pickle, ("/etc/hostname",)),
        (np.memmap, ("/tmp/sluice-safe-pickle-test", "uint8", "w+", 0, (1,))),
        (pa.OSFile, ("/tmp/sluice-safe-pickle-test", "w")),
        (pd.eval, ("1 + 1",)),
        (__import__, ("os",)),
    ],
)
def test_anything_that_acts_is_refused_and_named(fn, args, tmp_path):
    data = pickle.dumps(_Act(fn, *args), protocol=5)
    with pytest.raises(_safe_pickle.UnsafeResultError, match="the result names"):
        _safe_pickle.loads(data)
    assert not os.path.exists("/tmp/sluice-safe-pickle-test")


def test_a_module_outside_the_allowed_ones_is_not_even_imported():
    data = pickle.dumps(_Act(print), protocol=5).replace(b"builtins", b"antigrav")
    with pytest.raises(_safe_pickle.UnsafeResultError):
        _safe_pickle.loads(data)
    import sys

    assert "antigrav" not in sys.modules
