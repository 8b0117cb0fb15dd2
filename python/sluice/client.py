"""`sluice.Client` (also `bauplan.Client`): the catalog, runs and queries from Python.

Embedded (the default): drives the `sluice` binary of this installation against a data home
(`SLUICE_HOME`) with JSON output. Remote: `Client(endpoint="http://host:8181")` or
`SLUICE_ENDPOINT` talks to `sluice serve`'s JSON API. Both raise the typed errors of
sluice.exceptions and return tables as pyarrow Tables (Arrow IPC, never JSON rows).
"""
import json
import os
import pathlib
import re
import shutil
import subprocess
import tempfile
import urllib.error
import urllib.parse
import urllib.request

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


def _quote(name):
    return urllib.parse.quote(str(name), safe="")


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


class _Http:
    """The JSON API of `sluice serve`."""

    def __init__(self, endpoint):
        self.endpoint = endpoint.rstrip("/")

    def __call__(self, method, path, body=None, raw=False, **query):
        url = f"{self.endpoint}/api/v1/{path}"
        query = {k: v for k, v in query.items() if v is not None}
        if query:
            url += "?" + urllib.parse.urlencode(query)
        data = json.dumps(body).encode() if body is not None else None
        request = urllib.request.Request(url, data=data, method=method,
                                         headers={"Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(request) as response:
                payload = response.read()
        except urllib.error.HTTPError as e:
            try:
                error = json.loads(e.read())["error"]
            except (ValueError, KeyError):
                raise exceptions.InternalError(f"HTTP {e.code} from {url}")
            raise exceptions.from_report(error["kind"], error["message"], error.get("hint", ""))
        except urllib.error.URLError as e:
            raise exceptions.InternalError(f"cannot reach {self.endpoint}: {e.reason}",
                                           "start it with: sluice serve")
        return payload if raw else json.loads(payload)


class Client:
    def __init__(self, home=None, binary=None, endpoint=None):
        self._env = dict(os.environ)
        if home is not None:
            self._env["SLUICE_HOME"] = str(home)
        endpoint = endpoint or (None if home is not None else os.environ.get("SLUICE_ENDPOINT"))
        self._http = _Http(endpoint) if endpoint else None
        self._binary = None if self._http else (binary or _find_binary())

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
        if self._http:
            return self._http("GET", "branches", name=name)
        return self._call("branch", "ls", *(["--name", name] if name else []))

    def has_branch(self, branch):
        return any(b["name"] == branch for b in self.get_branches())

    def get_branch(self, branch):
        if self._http:
            return self._http("GET", f"branches/{_quote(branch)}")
        return self._call("branch", "get", branch)

    def create_branch(self, branch, from_ref):
        if self._http:
            self._http("POST", "branches", {"name": branch, "from_ref": from_ref})
            return self.get_branch(branch)
        self._call("branch", "create", branch, "--from-ref", from_ref, parse=False)
        return self.get_branch(branch)

    def delete_branch(self, branch):
        if self._http:
            self._http("DELETE", f"branches/{_quote(branch)}")
            return True
        self._call("branch", "rm", branch, parse=False)
        return True

    def rename_branch(self, branch, new_branch):
        if self._http:
            self._http("POST", f"branches/{_quote(branch)}/rename", {"new_name": new_branch})
            return True
        self._call("branch", "rename", branch, new_branch, parse=False)
        return True

    def merge_branch(self, source_ref, into_branch):
        if self._http:
            return self._http("POST", f"branches/{_quote(into_branch)}/merge", {"source_ref": source_ref})
        return self._call("branch", "merge", source_ref, "--into-branch", into_branch)

    def diff(self, from_ref, to_ref):
        if self._http:
            return self._http("GET", "diff", **{"from": from_ref, "to": to_ref})
        return self._call("branch", "diff", from_ref, to_ref)

    def create_tag(self, tag, from_ref):
        if self._http:
            self._http("POST", "tags", {"name": tag, "from_ref": from_ref})
            return True
        self._call("tag", "create", tag, "--from-ref", from_ref, parse=False)
        return True

    def get_tags(self):
        if self._http:
            return self._http("GET", "tags")
        return self._call("tag", "ls")

    def delete_tag(self, tag):
        if self._http:
            self._http("DELETE", f"tags/{_quote(tag)}")
            return True
        self._call("tag", "rm", tag, parse=False)
        return True

    def get_commits(self, ref, limit=None, message=None, author=None):
        if self._http:
            commits = self._http("GET", "commits", ref=ref, limit=limit or 0)
            return [c for c in commits if (not author or c["author"] == author)
                    and (not message or re.search(message, c["message"], re.IGNORECASE))]
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
        if self._http:
            return self._http("GET", "namespaces", ref=ref)
        return self._call("namespace", "ls", *self._ref_args(ref))

    def create_namespace(self, namespace, branch):
        if self._http:
            self._http("POST", "namespaces", {"name": namespace, "branch": branch})
            return True
        self._call("namespace", "create", namespace, "--branch", branch, parse=False)
        return True

    def delete_namespace(self, namespace, branch):
        if self._http:
            self._http("DELETE", f"namespaces/{_quote(namespace)}", branch=branch)
            return True
        self._call("namespace", "rm", namespace, "--branch", branch, parse=False)
        return True

    def get_tables(self, ref=None, namespace=None):
        if self._http:
            return self._http("GET", "tables", ref=ref, namespace=namespace)
        args = ["table", "ls", *self._ref_args(ref)]
        if namespace:
            args += ["--namespace", namespace]
        return self._call(*args)

    def get_table(self, table, ref=None):
        if self._http:
            return self._http("GET", f"tables/{_quote(table)}", ref=ref)
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
        if self._http:
            return self._http("POST", f"tables/{_quote(table)}/import",
                              {"search_uri": str(search_uri), "branch": branch or "main"})
        return self._call("table", "import", table, "--search-uri", search_uri,
                          *(["--branch", branch] if branch else []))

    def delete_table(self, table, branch, if_exists=False):
        if self._http:
            self._http("DELETE", f"tables/{_quote(table)}", branch=branch,
                       if_exists="true" if if_exists else None)
            return True
        self._call("table", "rm", table, "--branch", branch,
                   *(["--if-exists"] if if_exists else []), parse=False)
        return True

    def revert_table(self, table, source_ref, into_branch):
        if self._http:
            return self._http("POST", f"tables/{_quote(table)}/revert",
                              {"source_ref": source_ref, "into_branch": into_branch})
        return self._call("table", "revert", table, "--source-ref", source_ref,
                          "--into-branch", into_branch)

    # -- runs and queries ----------------------------------------------------------------

    def run(self, project_dir, ref=None, namespace=None, parameters=None, strict=False,
            dry_run=False, transaction=True):
        if self._http:
            report = self._http("POST", "runs", {
                "project_dir": str(project_dir), "ref": ref or "main", "namespace": namespace or "",
                "parameters": {k: str(v) for k, v in (parameters or {}).items()},
                "strict": strict, "dry_run": dry_run, "transaction": transaction})
            return RunState(report)
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

        if self._http:
            import pyarrow as pa

            payload = self._http("POST", "query", {"sql": query, "ref": ref or "main",
                                                   "namespace": namespace or "bauplan"}, raw=True)
            return pa.ipc.open_file(pa.py_buffer(payload)).read_all()

        with tempfile.TemporaryDirectory() as tmp:
            out = os.path.join(tmp, "result.arrow")
            args = ["query", query, *self._ref_args(ref), "--all-rows", "--arrow-out", out]
            if namespace:
                args += ["--namespace", namespace]
            self._call(*args, parse=False)
            return _arena.read_table(out)  # mapped; the file's pages outlive its name

    def scan(self, table, ref=None, columns=None, filters=None):
        select = ", ".join(f'"{c}"' for c in columns) if columns else "*"
        sql = f"SELECT {select} FROM {table}" + (f" WHERE {filters}" if filters else "")
        return self.query(sql, ref=ref)
