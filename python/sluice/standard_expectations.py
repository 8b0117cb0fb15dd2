"""Ready-made expectations: each takes a table (pyarrow, pandas or polars) and a column and
returns a bool."""


def _column(table, column):
    import pyarrow as pa

    if not isinstance(table, (pa.Table, pa.RecordBatch)):
        module = type(table).__module__.split(".")[0]
        if module == "pandas":
            table = pa.Table.from_pandas(table, preserve_index=False)
        elif module == "polars":
            table = table.to_arrow()
        else:
            raise TypeError(
                f"expected a pyarrow Table or a pandas/polars DataFrame, got {type(table).__name__}"
            )
    from sluice._names import resolve

    return table[resolve(column, table.column_names)]


def _pc():
    import pyarrow.compute as pc

    return pc


def expect_column_no_nulls(table, column_name):
    return _column(table, column_name).null_count == 0


def expect_column_some_null(table, column_name):
    return _column(table, column_name).null_count > 0


def expect_column_all_null(table, column_name):
    col = _column(table, column_name)
    return col.null_count == len(col)


def expect_column_all_unique(table, column_name):
    col = _column(table, column_name)
    return len(_pc().unique(col)) == len(col)


def expect_column_not_unique(table, column_name):
    return not expect_column_all_unique(table, column_name)


def expect_column_accepted_values(table, column_name, accepted_values):
    import pyarrow as pa

    col = _column(table, column_name)
    allowed = _pc().is_in(col, value_set=pa.array(list(accepted_values), type=col.type))
    return bool(_pc().all(_pc().fill_null(allowed, False)).as_py())


def _mean(table, column_name):
    return _pc().mean(_column(table, column_name)).as_py()


def expect_column_mean_greater_than(table, column_name, value):
    mean = _mean(table, column_name)
    return mean is not None and mean > value


def expect_column_mean_greater_or_equal_than(table, column_name, value):
    mean = _mean(table, column_name)
    return mean is not None and mean >= value


def expect_column_mean_smaller_than(table, column_name, value):
    mean = _mean(table, column_name)
    return mean is not None and mean < value


def expect_column_mean_smaller_or_equal_than(table, column_name, value):
    mean = _mean(table, column_name)
    return mean is not None and mean <= value


def expect_column_equal_concatenation(table, target_column, columns, separator=""):
    pc = _pc()
    parts = [pc.cast(_column(table, c), "string") for c in columns]
    joined = pc.binary_join_element_wise(*parts, separator)
    target = pc.cast(_column(table, target_column), "string")
    return bool(pc.all(pc.fill_null(pc.equal(joined, target), False)).as_py())
