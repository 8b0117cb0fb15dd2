"""The decorators, markers and standard expectations, as user code sees them."""

import subprocess
import sys

import pyarrow as pa
import pytest
from worker_harness import PYTHON_DIR


def test_decorators_in_any_order_keep_the_function_callable():
    import bauplan

    def foreign(fn):
        return fn

    @foreign
    @bauplan.model(materialization_strategy="REPLACE", columns=["a"])
    @bauplan.python("3.11", pip={"pandas": "2.2"})
    def first(x=bauplan.Model("t", columns=["a"], filter="a > 1")):
        return x

    @bauplan.python("3.11")
    @bauplan.model
    def second(x=bauplan.Model("t")):
        return x

    assert first(5) == 5 and second(7) == 7
    assert first.__sluice__["model"]["materialization_strategy"] == "REPLACE"
    assert first.__sluice__["python"]["pip"] == {"pandas": "2.2"}
    assert "model" in second.__sluice__ and "python" in second.__sluice__
    assert repr(bauplan.Model("t", columns=["a"])) == "Model('t', columns=['a'])"
    assert repr(bauplan.Parameter("p")) == "Parameter('p')"


def test_bad_arguments_are_clear_type_errors():
    import sluice

    with pytest.raises(TypeError):
        sluice.Model("t", columns="a b".split() + [3])
    with pytest.raises(ValueError, match="materialization_strategy"):
        sluice.model(materialization_strategy="SOMETIMES")
    with pytest.raises(TypeError):
        sluice.python(pip=["pandas"])


def test_importing_sluice_is_cheap():
    code = "import sys, bauplan, sluice; print('pyarrow' in sys.modules, 'pandas' in sys.modules)"
    out = subprocess.run(
        [sys.executable, "-c", code],
        env={"PYTHONPATH": str(PYTHON_DIR)},
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert out.strip() == "False False"


def test_standard_expectations():
    from bauplan.standard_expectations import (
        expect_column_accepted_values,
        expect_column_all_null,
        expect_column_all_unique,
        expect_column_equal_concatenation,
        expect_column_mean_greater_than,
        expect_column_mean_smaller_or_equal_than,
        expect_column_no_nulls,
        expect_column_not_unique,
        expect_column_some_null,
    )

    t = pa.table({"a": [1, 2, 3], "b": ["x", None, "x"], "c": [None, None, None], "ab": ["1x", None, "3x"]})
    assert expect_column_no_nulls(t, "a") and not expect_column_no_nulls(t, "b")
    assert expect_column_some_null(t, "b") and expect_column_all_null(t, "c")
    assert expect_column_all_unique(t, "a") and expect_column_not_unique(t, "b")
    assert expect_column_accepted_values(t, "a", [1, 2, 3])
    assert not expect_column_accepted_values(t, "a", [1, 2])
    assert expect_column_mean_greater_than(t, "a", 1.5)
    assert expect_column_mean_smaller_or_equal_than(t, "a", 2)
    assert not expect_column_equal_concatenation(t, "ab", ["a", "b"])
    import pandas as pd

    assert expect_column_all_unique(pd.DataFrame({"a": [1, 2]}), "a")
    with pytest.raises(KeyError):
        expect_column_no_nulls(t, "missing")
