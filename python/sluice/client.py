"""`sluice.Client` (also `bauplan.Client`): the catalog, runs and queries from Python.

The embedded client drives the `sluice` binary of this installation against a data home
(`SLUICE_HOME`), with JSON output, and raises typed errors (sluice.exceptions). Tables come
back as pyarrow Tables through an Arrow IPC file, not through JSON.
"""
import json
import os
import pathlib
import shutil
import subprocess
import tempfile

from sluice import exceptions


def _find_binary():
    explicit = os.environ.get("SLUICE_BINARY")
    if explicit:
        return explicit
    built = pathlib.Path(__file__).resolve().parents[2] / "build" / "sluice"
    if built.exists():
        return str(built)
    found = shutil.which("sluice")
    if found:
        return found
    raise exceptions.InternalError("cannot find the sluice binary", "set SLUICE_BINARY")


class RunState:
    """What a run did. `job_status` is "SUCCESS" or "FAILED"; runs do not raise."""

    def __init__(self, report):
        self.report = report
        self.job_id = report.get("job_id")
        self.job_status = report.get("job_status", "FAILED")
        self.error = report.get("error")
        self.run_branch = report.get("run_branch")
        self.models = report.get("models", [])

    def __repr__(self):
        return f"RunState(job_id={self.job_id!r}, job_status={self.job_status!r})"


class Client:
    def __init__(self, home=None, binary=None):
        self._env = dict(os.environ)
        if home is not None:
            self._env["SLUICE_HOME"] = str(home)
        self._binary = binary or _find_binary()

    # -- plumbing ------------------------------------------------------------------------

    def _call(self, *args, parse=True):
        proc = subprocess.run([self._binary, "-O", "json", *map(str, args)], env=self._env,
                              capture_output=True, text=True)
        if proc.returncode != 0:
            raise self._error(proc)
        return json.loads(proc.stdout) if parse and proc.stdout.strip() else None

    @staticmethod
    def _error(proc):
        for line in reversed(proc.stderr.strip().splitlines()):
            try:
                error = json.loads(line)["error"]
                return exceptions.from_report(error["kind"], error["message"], error.get("hint", ""))
            except (ValueError, KeyError, TypeError):
                continue
        return exceptions.InternalError(proc.stderr.strip() or f"sluice exited {proc.returncode}")

    @staticmethod
    def _ref_args(ref):
        return ["--ref", ref] if ref else []

    # -- branches, tags, commits ---------------------------------------------------------

    def get_branches(self, name=None):
        return self._call("branch", "ls", *(["--name", name] if name else []))

    def has_branch(self, branch):
        return any(b["name"] == branch for b in self.get_branches())

    def get_branch(self, branch):
        return self._call("branch", "get", branch)

    def create_branch(self, branch, from_ref):
        self._call("branch", "create", branch, "--from-ref", from_ref, parse=False)
        return self.get_branch(branch)

    def delete_branch(self, branch):
        self._call("branch", "rm", branch, parse=False)
        return True

    def rename_branch(self, branch, new_branch):
        self._call("branch", "rename", branch, new_branch, parse=False)
        return True

    def merge_branch(self, source_ref, into_branch):
        return self._call("branch", "merge", source_ref, "--into-branch", into_branch)

    def diff(self, from_ref, to_ref):
        return self._call("branch", "diff", from_ref, to_ref)

    def create_tag(self, tag, from_ref):
        self._call("tag", "create", tag, "--from-ref", from_ref, parse=False)
        return True

    def get_tags(self):
        return self._call("tag", "ls")

    def delete_tag(self, tag):
        self._call("tag", "rm", tag, parse=False)
        return True

    def get_commits(self, ref, limit=None, message=None, author=None):
        args = ["commit", ref]
        if limit:
            args += ["--max-count", limit]
        if message:
            args += ["--message", message]
        if author:
            args += ["--author", author]
        return self._call(*args)

    # -- namespaces and tables -----------------------------------------------------------

    def get_namespaces(self, ref=None):
        return self._call("namespace", "ls", *self._ref_args(ref))

    def create_namespace(self, namespace, branch):
        self._call("namespace", "create", namespace, "--branch", branch, parse=False)
        return True

    def delete_namespace(self, namespace, branch):
        self._call("namespace", "rm", namespace, "--branch", branch, parse=False)
        return True

    def get_tables(self, ref=None, namespace=None):
        args = ["table", "ls", *self._ref_args(ref)]
        if namespace:
            args += ["--namespace", namespace]
        return self._call(*args)

    def get_table(self, table, ref=None):
        return self._call("table", "get", table, *self._ref_args(ref))

    def has_table(self, table, ref=None):
        try:
            self.get_table(table, ref)
            return True
        except exceptions.NotFoundError:
            return False

    def create_table(self, table, search_uri, branch=None):
        return self.import_data(table, search_uri, branch)

    def import_data(self, table, search_uri, branch=None):
        return self._call("table", "import", table, "--search-uri", search_uri,
                          *(["--branch", branch] if branch else []))

    def delete_table(self, table, branch, if_exists=False):
        self._call("table", "rm", table, "--branch", branch,
                   *(["--if-exists"] if if_exists else []), parse=False)
        return True

    def revert_table(self, table, source_ref, into_branch):
        return self._call("table", "revert", table, "--source-ref", source_ref,
                          "--into-branch", into_branch)

    # -- runs and queries ----------------------------------------------------------------

    def run(self, project_dir, ref=None, namespace=None, parameters=None, strict=False,
            dry_run=False, transaction=True):
        args = ["run", "--project-dir", project_dir, *self._ref_args(ref)]
        if namespace:
            args += ["--namespace", namespace]
        for key, value in (parameters or {}).items():
            args += ["--param", f"{key}={value}"]
        if strict:
            args.append("--strict")
        if dry_run:
            args.append("--dry-run")
        if not transaction:
            args.append("--no-transaction")
        proc = subprocess.run([self._binary, "-O", "json", *map(str, args)], env=self._env,
                              capture_output=True, text=True)
        if proc.stdout.strip():
            return RunState(json.loads(proc.stdout))
        raise self._error(proc)  # the run could not start: a bad project or ref

    def query(self, query, ref=None, namespace=None):
        from sluice import _arena

        with tempfile.TemporaryDirectory() as tmp:
            out = os.path.join(tmp, "result.arrow")
            args = ["query", query, *self._ref_args(ref), "--all-rows", "--arrow-out", out]
            if namespace:
                args += ["--namespace", namespace]
            self._call(*args, parse=False)
            return _arena.read_table(out).combine_chunks()

    def scan(self, table, ref=None, columns=None, filters=None):
        select = ", ".join(f'"{c}"' for c in columns) if columns else "*"
        sql = f"SELECT {select} FROM {table}" + (f" WHERE {filters}" if filters else "")
        return self.query(sql, ref=ref)
