"""DuckDB connections as every Sluice worker opens them, and identifier quoting. Imports
nothing heavy (not pyarrow, which costs more than DuckDB itself): a query worker started for
the first query of a server (sluice._query_worker) needs only this and DuckDB."""


class _Connections:
    ready = None  # opened ahead of the task (prepare), taken by the next connection()


def prepare():
    """Opens the DuckDB connection the task will use while the worker still waits for its
    task: a new database costs about 20 ms, which a worker forked ahead keeps off the path."""
    _Connections.ready = connection()


def connection():
    """A new in-memory database with extensions never installed nor loaded, in UTC."""
    if _Connections.ready is not None:
        con, _Connections.ready = _Connections.ready, None
        return con
    import duckdb

    con = duckdb.connect()
    for setting in (
        "SET autoinstall_known_extensions=false",
        "SET autoload_known_extensions=false",
        "SET TimeZone='UTC'",
    ):
        try:
            con.execute(setting)
        except Exception:  # older or newer DuckDB without the setting
            pass
    return con


def quote(identifier):
    """A DuckDB identifier that stays one name whatever it contains."""
    return '"' + identifier.replace('"', '""') + '"'
