"""The DuckDB database a query worker runs its queries in (sluice._query), and the only files
that database may open.

A persistent query worker (one per principal, kept by the server: src/exec/query_worker.h)
keeps one database for every query it serves, so that DuckDB's caches stay warm across
queries: Parquet footers (parquet_metadata_cache), the bytes it read (its external file
cache), its buffer pool and thread pool. A query worker started for one query uses a database
of its own the same way and drops it at the end.

What the SQL may read is set once, before the configuration is locked: the one directory
`self.links`. Every data file a query is handed comes as a descriptor; the worker keeps one
descriptor per file (by device and inode: files are immutable once committed, and a held
descriptor keeps its inode from being reused) and names it by a path derived from that
identity alone, `<links>/<dev>-<ino>.parquet`, a symbolic link to /proc/self/fd/N. So a path
DuckDB has cached always means the same file, and before each query the directory holds
exactly that query's files: a query never reads a file it was not handed, not even one an
earlier query of the same worker was.

Nothing else of the database outlives a query: each runs on a connection of its own (temporary
views, session settings and prepared statements go with it), the views it needs in named
schemas are dropped after it, and the SQL cannot change a setting (only one query is accepted,
and the configuration is locked).
"""

import os
import shutil
import tempfile

from sluice._duckdb import connection as _duckdb_connection

# Descriptors held for files before the database is replaced (its caches go with it): well
# under the sandbox's descriptor limit, with room for a query's own.
MAX_HELD_FILES = 512


class Database:
    def __init__(self):
        self.links = tempfile.mkdtemp(prefix="sluice-query-files-")
        self.spill = tempfile.mkdtemp(prefix="sluice-query-spill-")
        self.held = {}  # (st_dev, st_ino) -> the descriptor kept open for that file
        self.queries = 0
        con = _duckdb_connection()
        for setting in (
            "SET GLOBAL TimeZone='UTC'",
            # Parquet footers, read once per file for the life of the database.
            "SET parquet_metadata_cache = true",
            f"SET temp_directory = '{self.spill}'",
            f"SET allowed_directories = ['{self.links}/']",
            "SET enable_external_access = false",
            "SET lock_configuration = true",
        ):
            con.execute(setting)
        self.db = con

    def connect(self):
        """A connection of this query's own."""
        return self.db.cursor()

    def path_of(self, fd):
        """The stable path of the file open as `fd` (which is taken: kept open, or closed when
        a descriptor of the same file is already held), linked for the current query."""
        info = os.fstat(fd)
        key = (info.st_dev, info.st_ino)
        held = self.held.get(key)
        if held is None:
            self.held[key] = held = fd
        else:
            os.close(fd)
        path = f"{self.links}/{key[0]}-{key[1]}.parquet"
        try:
            os.symlink(f"/proc/self/fd/{held}", path)
        except FileExistsError:
            pass
        return path

    def end_query(self):
        """After each query: its files unlinked (the descriptors stay held), what it spilled
        removed."""
        self.queries += 1
        for name in os.listdir(self.links):
            os.unlink(os.path.join(self.links, name))
        for name in os.listdir(self.spill):
            path = os.path.join(self.spill, name)
            if os.path.isdir(path) and not os.path.islink(path):
                shutil.rmtree(path, ignore_errors=True)
            else:
                os.unlink(path)

    def worn_out(self):
        """Whether it holds so many files that a fresh database should take over."""
        return len(self.held) > MAX_HELD_FILES

    def close(self):
        try:
            self.db.close()
        except Exception:
            pass
        for fd in self.held.values():
            os.close(fd)
        self.held.clear()
        shutil.rmtree(self.links, ignore_errors=True)
        shutil.rmtree(self.spill, ignore_errors=True)
