"""Unpickling what a sandboxed function worker sends back (python/sluice/parallel.py).

The worker runs confined because its code and its packages are not trusted; a plain
pickle.loads of its answer would run whatever it names (os.system, subprocess.Popen,
pandas.read_pickle of a planted file) in the unconfined client. Here a pickle may only name:
- classes (types, nothing callable but a type) of the data modules: builtins, collections,
  datetime, decimal, fractions, uuid, zoneinfo, numpy's core, pandas' data structures, pyarrow.lib
  (but none of their types that open files, streams, memory maps or filesystems), and classes
  the client's own __main__ defines;
- the reconstruction functions those libraries pickle with (listed below).
Anything else fails the result with UnsafeResultError naming it.
"""

import io
import pickle

from sluice import _channel, exceptions


class UnsafeResultError(exceptions.SluiceError):
    """A worker's result names something that could act when unpickled; it was not loaded."""


_CLASS_MODULES = (
    "builtins",
    "collections",
    "datetime",
    "decimal",
    "fractions",
    "uuid",
    "zoneinfo",
    "__main__",
)
# pandas' data structures only: not computation (eval, expressions), io or plotting.
_CLASS_PREFIXES = (
    "numpy._core.",
    "numpy.core.",
    "numpy.ma.",
    "pandas.core.frame",
    "pandas.core.series",
    "pandas.core.indexes.",
    "pandas.core.arrays.",
    "pandas.core.dtypes.",
    "pandas.core.internals.",
    "pandas._libs.",
)
_CLASS_EXACT_MODULES = ("numpy", "pandas", "pyarrow.lib", "pyarrow", "numpy.ma")
# Types of those modules that touch files, processes or memory maps when constructed.
_REFUSED_CLASSES = {("numpy", "memmap"), ("numpy._core.memmap", "memmap"), ("numpy.core.memmap", "memmap")}
_REFUSED_NAME_PARTS = (
    "File",
    "Stream",
    "Memory",
    "Mapped",
    "Reader",
    "Writer",
    "Codec",
    "Pool",
    "Store",
    "Path",
)
_REFUSED_MODULE_PARTS = (".io", "pandas.io", ".io.", "plotting", "testing")

# Singletons pickled by name.
_VALUES = {("builtins", "Ellipsis"), ("builtins", "NotImplemented"), ("pandas._libs.missing", "NA")}

_FUNCTIONS = {
    ("copyreg", "_reconstructor"),
    ("numpy._core.multiarray", "_reconstruct"),
    ("numpy._core.multiarray", "scalar"),
    ("numpy._core.numeric", "_frombuffer"),
    ("numpy.core.multiarray", "_reconstruct"),
    ("numpy.core.multiarray", "scalar"),
    ("numpy.core.numeric", "_frombuffer"),
    ("numpy.ma.core", "_mareconstruct"),
    ("pandas._libs.internals", "_unpickle_block"),
    ("pandas._libs.tslibs.nattype", "__nat_unpickle"),
    ("pandas._libs.tslibs.timedeltas", "_timedelta_unpickle"),
    ("pandas._libs.tslibs.timestamps", "_unpickle_timestamp"),
    ("pandas.core.internals.blocks", "new_block"),
    ("pyarrow.lib", "_reconstruct_record_batch"),
    ("pyarrow.lib", "_reconstruct_table"),
    ("pyarrow.lib", "_restore_array"),
    ("pyarrow.lib", "chunked_array"),
    ("pyarrow.lib", "py_buffer"),
    ("pyarrow.lib", "scalar"),
    ("pyarrow.lib", "schema"),
    ("pyarrow.lib", "field"),
    ("pyarrow.lib", "type_for_alias"),
    ("pyarrow.lib", "unify_schemas"),
}
# Arrow's type factories (timestamp, list_, struct, dictionary, decimal128, ...) build types only.
_ARROW_TYPE_FACTORIES = {
    "binary",
    "date32",
    "date64",
    "decimal128",
    "decimal256",
    "dictionary",
    "duration",
    "fixed_size_list",
    "large_binary",
    "large_list",
    "large_string",
    "list_",
    "map_",
    "month_day_nano_interval",
    "string",
    "struct",
    "time32",
    "time64",
    "timestamp",
    "utf8",
    "large_utf8",
    "binary_view",
    "string_view",
    "list_view",
    "large_list_view",
    "run_end_encoded",
    "float16",
}


def _allowed_function(module, name):
    if (module, name) in _FUNCTIONS:
        return True
    if module == "pyarrow.lib" and name in _ARROW_TYPE_FACTORIES:
        return True
    if module.startswith("pandas._libs.") and name.startswith("__pyx_unpickle_"):
        return True
    if module.startswith("pandas.core.indexes.") and name.startswith("_new_"):
        return True
    return False


def _class_module_allowed(module):
    if module in _CLASS_MODULES or module in _CLASS_EXACT_MODULES:
        return True
    if any(part in module for part in _REFUSED_MODULE_PARTS):
        return False
    return module.startswith(_CLASS_PREFIXES)


class _Unpickler(pickle.Unpickler):
    def find_class(self, module, name):
        if _allowed_function(module, name):
            return super().find_class(module, name)
        if not _class_module_allowed(module) or (module, name) in _REFUSED_CLASSES:
            raise UnsafeResultError(f"the result names {module}.{name}, which is not data")
        if module not in ("__main__", "builtins") and any(part in name for part in _REFUSED_NAME_PARTS):
            raise UnsafeResultError(f"the result names {module}.{name}, which is not data")
        if module == "__main__":
            import sys

            found = getattr(sys.modules.get("__main__"), name, None)
        else:
            found = super().find_class(module, name)
        if isinstance(found, type) or (module, name) in _VALUES:
            return found
        raise UnsafeResultError(f"the result names {module}.{name}, which is not a class of data")


def loads(data, buffers=()):
    """pickle.loads, restricted to data as the module docstring says."""
    return _Unpickler(io.BytesIO(data), buffers=buffers).load()


def load_part(part):
    """A worker's part (python/sluice/_channel.py), unpickled with `loads`."""
    try:
        return part.load(loads)
    except _channel.MalformedMessage as e:
        raise UnsafeResultError(str(e)) from None
    except UnsafeResultError as e:
        raise UnsafeResultError(
            str(e), hint="return plain data (numbers, strings, containers, numpy, pandas, Arrow)"
        ) from None
