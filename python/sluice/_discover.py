"""Static discovery of Python models: `python -m sluice._discover PROJECT_DIR FILE...`.

Reads each file with `ast` (no user code runs, nothing is imported) and prints one JSON
document: {"models": [...], "errors": [{"file", "line", "message"}]}. The C++ project loader
(src/project) consumes it.
"""

import ast
import json
import os
import sys

MODEL_KWARGS = {
    "name",
    "columns",
    "partitioned_by",
    "materialization_strategy",
    "cache_strategy",
    "internet_access",
    "overwrite_filter",
    "materialize",
    "preview",
    "optimize_for",
}
STRATEGIES = {"NONE", "REPLACE", "APPEND", "OVERWRITE_PARTITIONS"}


class DiscoveryError(Exception):
    def __init__(self, node, message, hint=""):
        super().__init__(message)
        self.line = getattr(node, "lineno", 0)
        self.hint = hint


def _callee_name(node):
    """'model' for bauplan.model, sluice.model, model, x.y.model (called or not)."""
    if isinstance(node, ast.Call):
        node = node.func
    if isinstance(node, ast.Attribute):
        return node.attr
    if isinstance(node, ast.Name):
        return node.id
    return None


def _literal(node, what):
    try:
        return ast.literal_eval(node)
    except (ValueError, SyntaxError, TypeError):
        raise DiscoveryError(node, f"{what} must be a literal value, not `{ast.unparse(node)}`") from None


def _call_args(decorator):
    if not isinstance(decorator, ast.Call):
        return [], {}
    args = [_literal(a, "decorator argument") for a in decorator.args]
    kwargs = {}
    for kw in decorator.keywords:
        if kw.arg is None:
            raise DiscoveryError(decorator, "**kwargs in a decorator cannot be read statically")
        kwargs[kw.arg] = _literal(kw.value, f"argument {kw.arg}=")
    return args, kwargs


def _string_list(value, node, what):
    if value is None:
        return []
    if isinstance(value, str):
        return [value]
    if isinstance(value, (list, tuple)) and all(isinstance(v, str) for v in value):
        return list(value)
    raise DiscoveryError(node, f"{what} must be a list of strings")


def _overwrite_filter(value, node):
    if value is None:
        return ""
    if not isinstance(value, str):
        raise DiscoveryError(node, "overwrite_filter= must be a string (an SQL condition)")
    return value


def _input_from_default(param, default):
    """Model("name", columns=..., filter=..., ref=...) or Parameter("name") defaults."""
    kind = _callee_name(default) if isinstance(default, ast.Call) else None
    if kind not in ("Model", "Parameter"):
        return None, None
    args, kwargs = _call_args(default)
    name = args[0] if args else kwargs.get("name")
    if not isinstance(name, str) or not name:
        raise DiscoveryError(default, f"{kind}() for parameter '{param}' needs a name string")
    if kind == "Parameter":
        return None, name
    filter_ = kwargs.get("filter")
    if filter_ is not None and not isinstance(filter_, str):
        raise DiscoveryError(default, "filter= must be a string")
    return {
        "name": name,
        "param": param,
        "columns": _string_list(kwargs.get("columns"), default, "columns="),
        "filter": filter_ or "",
        "ref": kwargs.get("ref") or "",
        "line": default.lineno,
    }, None


# bauplan decorators whose runtime Sluice does not have: refused at plan time, never run halfway.
_UNSUPPORTED_DECORATORS = {
    "pyspark": (
        "@pyspark models need a Spark runtime, which Sluice does not have",
        "read the inputs as Arrow and use DuckDB, Polars or pandas in the model instead",
    ),
    "synthetic_model": (
        "@synthetic_model is not supported by Sluice",
        "produce the table with a @model, or create it with: sluice table create",
    ),
}


def _model(fn, path):
    spec = None
    expectation = False
    python = {}
    resources = {}
    for decorator in fn.decorator_list:
        name = _callee_name(decorator)
        if name == "model":
            _, spec = _call_args(decorator)
            spec = dict(spec)
        elif name == "expectation":
            expectation = True
            _call_args(decorator)
        elif name == "python":
            args, kwargs = _call_args(decorator)
            python = {
                "version": args[0] if args else kwargs.get("version"),
                "pip": kwargs.get("pip") or (args[1] if len(args) > 1 else None) or {},
            }
        elif name == "resources":
            _, kwargs = _call_args(decorator)
            resources = {k: str(v) for k, v in kwargs.items() if v is not None}
        elif name in _UNSUPPORTED_DECORATORS:
            message, hint = _UNSUPPORTED_DECORATORS[name]
            raise DiscoveryError(decorator, f"'{fn.name}': {message}", hint)
    if spec is None and not expectation:
        return None
    spec = spec or {}
    unknown = set(spec) - MODEL_KWARGS
    if unknown:
        raise DiscoveryError(fn, f"unknown argument(s) to model(): {', '.join(sorted(unknown))}")
    strategy = spec.get("materialization_strategy") or "NONE"
    if not isinstance(strategy, str) or strategy.upper() not in STRATEGIES:
        raise DiscoveryError(
            fn, f"materialization_strategy={strategy!r}: expected one of " + ", ".join(sorted(STRATEGIES))
        )
    pip = python.get("pip") or {}
    if not isinstance(pip, dict):
        raise DiscoveryError(fn, "python(pip=...) must be a dict of package -> version")
    inputs, parameters = [], {}
    args = fn.args
    positional = args.posonlyargs + args.args
    defaults = [None] * (len(positional) - len(args.defaults)) + list(args.defaults)
    pairs = list(zip(positional, defaults)) + list(zip(args.kwonlyargs, args.kw_defaults))
    for arg, default in pairs:
        if default is None:
            continue
        model_input, parameter = _input_from_default(arg.arg, default)
        if model_input:
            inputs.append(model_input)
        elif parameter:
            parameters[arg.arg] = parameter
    line = fn.decorator_list[0].lineno if fn.decorator_list else fn.lineno
    return {
        "name": spec.get("name") or fn.name,
        "function": fn.name,
        "file": path,
        "line": fn.lineno,
        "decorator_line": line,
        "kind": "expectation" if expectation else "python",
        "inputs": inputs,
        "parameters": parameters,
        "columns": _string_list(spec.get("columns"), fn, "columns="),
        "materialization": strategy.upper(),
        "partitioned_by": _string_list(spec.get("partitioned_by"), fn, "partitioned_by="),
        "overwrite_filter": _overwrite_filter(spec.get("overwrite_filter"), fn),
        "python_version": str(python.get("version") or ""),
        "pip": {str(k): str(v) for k, v in pip.items()},
        "resources": resources,
        "internet_access": bool(spec.get("internet_access") or False),
    }


def discover(project_dir, files):
    models, errors = [], []
    for path in files:
        full = os.path.join(project_dir, path)
        try:
            with open(full, encoding="utf-8") as f:
                source = f.read()
            tree = ast.parse(source, filename=path)
        except SyntaxError as e:
            errors.append({"file": path, "line": e.lineno or 0, "message": f"syntax error: {e.msg}"})
            continue
        except (OSError, UnicodeDecodeError) as e:
            errors.append({"file": path, "line": 0, "message": str(e)})
            continue
        for node in tree.body:
            if not isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                continue
            try:
                model = _model(node, path)
            except DiscoveryError as e:
                errors.append({"file": path, "line": e.line, "message": str(e), "hint": e.hint})
                continue
            if model:
                models.append(model)
    return {"models": models, "errors": errors}


def main(argv):
    if len(argv) < 2:
        print("usage: python -m sluice._discover PROJECT_DIR FILE...", file=sys.stderr)
        return 2
    print(json.dumps(discover(argv[1], argv[2:])))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
