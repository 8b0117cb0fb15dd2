"""`sluice.Client` (also `bauplan.Client`): the catalog, runs, queries and jobs from Python,
with bauplan's methods, arguments, return objects (sluice.schema, sluice.state) and typed
errors (sluice.exceptions).

Every call is one request to the Sluice JSON API. Remote: `Client(endpoint=...)`,
$SLUICE_ENDPOINT or the profile's endpoint (see sluice._config), with the API key as a
bearer token. Embedded (no endpoint): the data home's background server over its unix socket
($SLUICE_HOME/server.sock), started with `sluice server start` when absent, so a catalog call
costs about a millisecond instead of a process; if that server cannot start, each call runs
`sluice api` (a warning says why). Tables come back as pyarrow Tables (Arrow IPC, never JSON
rows).
"""

import contextlib
import datetime
import json
import os
import pathlib
import re
import shutil
import subprocess
import threading
import time
import urllib.parse
import warnings

from sluice import _cel, _config, exceptions, schema, state
from sluice._transport import HttpTransport, ProcessTransport
from sluice.info import InfoState, OrganizationInfo, RunnerNodeInfo, UserInfo
from sluice.schema import Branch, Commit, Job, JobContext, JobLogEvent, Namespace, Ref, Table, Tag

__all__ = ["Client"]


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
    raise exceptions.InternalError("cannot find the sluice binary", hint="set SLUICE_BINARY")


def _quote(name):
    return urllib.parse.quote(str(name), safe="")


# -- argument forms ----------------------------------------------------------------------


def _text(value, what):
    """A name given as a string or as one of the client's objects (Namespace, Table, Ref)."""
    if isinstance(value, str):
        if not value:
            raise ValueError(f"{what} must not be empty")
        return value
    if isinstance(value, Table):
        return value.fqn
    if isinstance(value, (Namespace, Ref)):
        return value.name
    raise TypeError(f"{what} must be a string or a {what} object, not {type(value).__name__}")


def _ref(value, what="ref"):
    """A ref argument: a string, or a Ref object (read at its commit: "name@hash")."""
    if isinstance(value, Ref):
        return str(value)
    return _text(value, what)


def _branch(value, what="branch"):
    """A branch argument: a string or a Branch; a tag or a commit is not a branch."""
    if isinstance(value, Ref) and not isinstance(value, Branch):
        raise exceptions.NotABranchRefError(
            f"{what}: {value.type.name.lower()} '{value}' is not a branch",
            kind=exceptions.ApiErrorKind.NotABranchRef(str(value)),
        )
    return _text(value, what)


def _tag(value, what="tag"):
    if isinstance(value, Ref) and not isinstance(value, Tag):
        raise exceptions.NotATagRefError(
            f"{what}: '{value}' is not a tag", kind=exceptions.ApiErrorKind.NotATagRef(str(value))
        )
    return _text(value, what)


def _on_off(value, name, default):
    """bauplan's "on"/"off" flags, also taken as booleans."""
    if value is None:
        return default
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.lower() in ("on", "true", "yes", "1"):
        return True
    if isinstance(value, str) and value.lower() in ("off", "false", "no", "0"):
        return False
    raise ValueError(f"{name} must be 'on', 'off', True or False, not {value!r}")


def _preview(value):
    if value is None or value is False:
        return "off"
    if value is True:
        return "on"
    if isinstance(value, str) and value.lower() in ("on", "off", "head", "tail"):
        return value.lower()
    raise ValueError(f"preview must be 'on', 'off', 'head' or 'tail', not {value!r}")


def _date_filter(value, name):
    """A date filter (commits, jobs): a datetime (naive is UTC) or an ISO string; anything else
    is refused rather than silently matching everything."""
    if value is None:
        return None
    parsed = schema._datetime(value) if isinstance(value, (str, datetime.datetime)) else None
    if parsed is None:
        raise ValueError(f"{name} must be a datetime or an ISO date string, not {value!r}")
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=datetime.UTC)


def _matches(pattern, value):
    """bauplan's name filters: a regular expression searched in the name (or plain text)."""
    if pattern is None:
        return True
    try:
        return re.search(pattern, value or "") is not None
    except re.error:
        return pattern in (value or "")


def _limited(items, limit):
    if limit is not None and (not isinstance(limit, int) or isinstance(limit, bool) or limit < 0):
        raise ValueError(f"limit must be a non-negative integer, not {limit!r}")
    for count, item in enumerate(items):
        if limit is not None and count >= limit:
            return
        yield item


def _commit_note_query(commit_body, commit_properties):
    """bauplan's commit_body/commit_properties as query parameters, for a DELETE."""
    query = {"commit_body": commit_body}
    if commit_properties:
        query["commit_properties"] = json.dumps({str(k): str(v) for k, v in commit_properties.items()})
    return query


def _split_table(table, namespace):
    """(name for the API, namespace or None): a Table object carries its namespace; a
    namespace both in the name and as an argument must agree."""
    ns = _text(namespace, "namespace") if namespace is not None else None
    if isinstance(table, Table):
        if ns and ns != table.namespace:
            raise exceptions.NamespaceUnresolvedError(
                f"table '{table.fqn}' is in namespace '{table.namespace}', not '{ns}'",
                kind=exceptions.ApiErrorKind.NamespaceUnresolved(table.name, ns),
            )
        return table.fqn, None
    name = _text(table, "table")
    if ns and "." in name and name.split(".", 1)[0] != ns:
        raise exceptions.NamespaceUnresolvedError(
            f"table '{name}' names namespace '{name.split('.', 1)[0]}' but namespace='{ns}' was given",
            kind=exceptions.ApiErrorKind.NamespaceUnresolved(name, ns),
        )
    return name, ns


# -- scans -------------------------------------------------------------------------------

_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
# DuckDB's reserved keywords (duckdb_keywords() WHERE keyword_category = 'reserved', DuckDB
# 1.4.4 as pinned in requirements.in; tests/python/test_client.py checks they still agree): a
# column named like one must be quoted.
_RESERVED = frozenset(
    """all analyse analyze and any array as asc asymmetric both case cast check collate column constraint
    create default deferrable desc describe distinct do else end except false fetch for foreign from group
    having in initially intersect into lambda lateral leading limit not null offset on only or order pivot
    pivot_longer pivot_wider placing primary qualify references returning select show some summarize
    symmetric table then to trailing true union unique unpivot using variadic when where window
    with""".split()
)


def _identifier(name):
    """A name as SQL: plain names stay unquoted (they resolve case-insensitively, like the
    rest of Sluice); anything else is quoted, so it can only ever be a name."""
    if _IDENTIFIER.fullmatch(name) and name.lower() not in _RESERVED:
        return name
    return '"' + name.replace('"', '""') + '"'


def _subqueries(node):
    if isinstance(node, dict):
        if node.get("class") == "SUBQUERY" or node.get("type") in ("SUBQUERY", "SELECT_NODE"):
            return True
        return any(_subqueries(v) for v in node.values())
    if isinstance(node, list):
        return any(_subqueries(v) for v in node)
    return False


def _balanced(text):
    """Whether every parenthesis outside quotes closes one opened before it, all quotes are
    closed and there is no comment: the check a scan filter gets when DuckDB's parser is absent."""
    depth, quote = 0, None
    for i, ch in enumerate(text):
        if quote:
            quote = None if ch == quote else quote  # a doubled quote closes and reopens
        elif ch in "'\"":
            quote = ch
        elif text.startswith(("--", "/*"), i):
            return False
        elif ch in "()":
            depth += 1 if ch == "(" else -1
            if depth < 0:
                return False
    return depth == 0 and quote is None


def _check_filter(filters, sql):
    """A scan filter must be one boolean expression over the table's columns: `sql` (the scan
    with the filter in place) must parse as a single plain SELECT with no subquery."""
    if not isinstance(filters, str) or not filters.strip():
        raise exceptions.InvalidFilterError(f"filters must be a non-empty string, not {filters!r}")
    if "\x00" in filters:
        raise exceptions.InvalidFilterError("filters must not contain NUL characters")
    try:
        import duckdb
    except ImportError:  # no parser here: refuse anything that could end the WHERE early
        if (
            ";" in filters
            or re.search(r"\b(select|union|from)\b", filters, re.IGNORECASE)
            or not _balanced(filters)
        ):
            message = f"filter {filters!r} is not a single boolean expression"
            raise exceptions.InvalidFilterError(message) from None
        return
    from sluice._sql_analysis import serialize_sql

    tree = serialize_sql(duckdb, sql)
    if tree.get("error"):
        raise exceptions.InvalidFilterError(
            f"filter {filters!r} is not a boolean expression: {tree.get('error_message', 'parse error')}"
        )
    statements = tree.get("statements") or []
    node = statements[0].get("node", {}) if len(statements) == 1 else {}
    if (
        len(statements) != 1
        or node.get("type") != "SELECT_NODE"
        or node.get("modifiers")
        or node.get("group_expressions")
        or node.get("having")
        or node.get("qualify")
        or _subqueries(node.get("where_clause"))
        or _subqueries(node.get("from_table"))
    ):
        raise exceptions.InvalidFilterError(
            f"filter {filters!r} must be one boolean expression (no ';', no subquery, no set operation)"
        )


def _scan_sql(table, columns, filters, limit):
    if columns is None or list(columns) == ["*"]:
        select = "*"
    else:
        if isinstance(columns, str) or not all(isinstance(c, str) and c for c in columns):
            raise ValueError(f"columns must be a list of column names, not {columns!r}")
        select = ", ".join("*" if c == "*" else _identifier(c) for c in columns) or "*"
    source = ".".join(_identifier(part) for part in table.split(".", 1))
    sql = f"SELECT {select} FROM {source}"
    if filters is not None:
        sql += f" WHERE (\n{filters}\n)"
        _check_filter(filters, sql)
    if limit is not None:
        if not isinstance(limit, int) or isinstance(limit, bool) or limit < 0:
            raise ValueError(f"limit must be a non-negative integer, not {limit!r}")
        sql += f" LIMIT {limit}"
    return sql


class _JsonRowsWriter:
    """Query rows written as they arrive: one JSON array ("json") or a line a row ("jsonl")."""

    def __init__(self, path, as_array):
        self._out = open(path, "w")
        self._as_array = as_array
        self._first = True
        if as_array:
            self._out.write("[")

    def write_batch(self, batch):
        for row in batch.to_pylist():
            text = json.dumps(row, default=str)
            if self._as_array:
                self._out.write(text if self._first else ", " + text)
            else:
                self._out.write(text + "\n")
            self._first = False

    def close(self):
        if self._as_array:
            self._out.write("]")
        self._out.close()


# How much longer than its time limit a query's answer may take to come (the worker's kill,
# the error's way back).
_QUERY_ANSWER_GRACE_SECONDS = 5


class Client:
    """A client of a Sluice data home (embedded) or of `sluice serve` (remote).

    Client(profile=None, api_key=None, client_timeout=None, config_file_path=None) as in
    bauplan, plus Sluice's `home=` (a data home directory: embedded) and `endpoint=`.
    """

    def __init__(
        self,
        profile=None,
        api_key=None,
        client_timeout=None,
        config_file_path=None,
        *,
        home=None,
        endpoint=None,
        binary=None,
    ):
        settings = _config.resolve(
            profile=profile,
            api_key=api_key,
            endpoint=None if home is not None else endpoint,
            config_file_path=config_file_path,
        )
        if home is not None:
            settings.endpoint = endpoint  # an explicit data home is embedded unless told otherwise
        self.profile = settings.profile
        self._settings = settings
        self._timeout = client_timeout
        self._env = dict(os.environ)
        if home is not None:
            self._env["SLUICE_HOME"] = str(pathlib.Path(home).resolve())
        self._binary = binary
        self._transport = None
        self._connecting = threading.Lock()  # one (re)connection at a time, shared by threads
        if settings.endpoint:
            self._transport = HttpTransport(
                endpoint=settings.endpoint, api_key=settings.api_key, timeout=client_timeout
            )
        else:
            self._binary = binary or _find_binary()

    # -- plumbing ------------------------------------------------------------------------

    @property
    def endpoint(self):
        return self._settings.endpoint

    def _home(self):
        home = self._env.get("SLUICE_HOME") or os.path.join(os.path.expanduser("~"), ".sluice")
        return os.path.abspath(home)

    def _connect(self):
        """The embedded transport: the data home's server, started when absent."""
        socket_path = os.path.join(self._home(), "server.sock")
        if os.path.exists(socket_path):
            transport = HttpTransport(
                socket_path=socket_path, api_key=self._settings.api_key, timeout=self._timeout
            )
            try:
                transport.request("GET", "info", timeout=5)
                return transport
            except exceptions.BauplanError:
                transport.close()
        proc = subprocess.run(
            [self._binary, "-O", "json", "server", "start"], env=self._env, capture_output=True, text=True
        )
        reason = " ".join(proc.stderr.split())[:300] or f"exit {proc.returncode}"
        if proc.returncode == 0:
            try:
                socket_path = json.loads(proc.stdout).get("socket", socket_path)
                return HttpTransport(
                    socket_path=socket_path, api_key=self._settings.api_key, timeout=self._timeout
                )
            except (ValueError, AttributeError):
                reason = f"unreadable answer from 'sluice server start': {proc.stdout[:200]!r}"
        warnings.warn(
            f"sluice: the data home's background server could not start ({reason}); "
            "each call runs a sluice process instead (slower)",
            RuntimeWarning,
            stacklevel=4,
        )
        return ProcessTransport(self._binary, self._env)

    def _current_transport(self, failed=None):
        """The transport calls go through, connected on first use; `failed`: the one a call
        just found gone, replaced unless another thread has replaced it already."""
        with self._connecting:
            if failed is not None and self._transport is failed:
                failed.close()
                self._transport = None
            if self._transport is None:
                self._transport = self._connect()
            return self._transport

    def _api(self, method, path, body=None, query=None, subject=None, raw=False, timeout=None, stream=False):
        """The answer's JSON; with `raw`, its bytes; with `stream` (and raw), a file object that
        reads the answer as it arrives (close it)."""
        transport = self._current_transport()
        if body is not None and not self._settings.endpoint:
            # Embedded: the data home's server may have been started by another user's
            # environment; commits and jobs are this process's user's.
            body = {"author": self._local_user(), **body}
        try:
            status, content_type, payload = transport.request(
                method, path, body=body, query=query, timeout=timeout or self._timeout, stream=stream
            )
        except exceptions.ServiceUnavailableError:
            if self._settings.endpoint:
                raise
            # The data home's server went away (it stops when idle): start it again, once.
            transport = self._current_transport(failed=transport)
            status, content_type, payload = transport.request(
                method, path, body=body, query=query, timeout=timeout or self._timeout, stream=stream
            )
        if status >= 400:
            try:
                error = json.loads(payload)["error"]
            except (ValueError, KeyError, TypeError):
                raise exceptions.from_http(
                    status,
                    f"HTTP {status} from {transport.describe()}: {payload[:200].decode(errors='replace')}",
                ) from None
            if status == 401:
                raise exceptions.UnauthorizedError(
                    error.get("message", "unauthorized"), hint=error.get("hint", ""), code=401
                )
            if status == 403:
                raise exceptions.ForbiddenError(
                    error.get("message", "forbidden"), hint=error.get("hint", ""), code=403
                )
            raise exceptions.from_report(
                error.get("kind", ""),
                error.get("message", ""),
                error.get("hint", ""),
                subject=subject,
                code=status,
            )
        if raw:
            return payload
        return json.loads(payload) if payload else None

    def _local_user(self):
        """The engine's rule for who is acting: $SLUICE_USER, else $USER, else "sluice"."""
        return self._env.get("SLUICE_USER") or self._env.get("USER") or "sluice"

    def _default_branch(self, branch):
        return _branch(branch) if branch is not None else (self._settings.active_branch or "main")

    def _default_ref(self, ref):
        return _ref(ref) if ref is not None else (self._settings.active_branch or "main")

    def close(self):
        if self._transport is not None:
            self._transport.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    # -- info ----------------------------------------------------------------------------

    def info(self, *, client_timeout=None):
        from sluice import __version__

        data = self._api("GET", "info", timeout=client_timeout) or {}
        username = (data.get("user") if self._settings.endpoint else self._local_user()) or ""
        first, _, last = username.partition(" ")
        user = (
            UserInfo(id=username, username=username, first_name=first, last_name=last, full_name=username)
            if username
            else None
        )
        org = data.get("organization")
        organization = (
            OrganizationInfo(
                id=org.get("id", ""),
                name=org.get("name", ""),
                slug=org.get("slug", ""),
                default_parameter_secret_key=None,
                default_parameter_secret_public_key=None,
            )
            if org
            else None
        )
        runners = [RunnerNodeInfo(hostname=h) for h in data.get("runners") or []]
        return InfoState(
            client_version=__version__,
            server_version=data.get("version"),
            user=user,
            organization=organization,
            runners=runners,
        )

    # -- branches ------------------------------------------------------------------------

    def get_branches(self, *, name=None, user=None, limit=None):
        query = {"name": name} if name and re.fullmatch(r"[\w.\-]+", name) else None
        for item in _limited(
            (
                r
                for r in self._api("GET", "branches", query=query)
                if _matches(name, r["name"]) and (user is None or r["name"].startswith(f"{user}."))
            ),
            limit,
        ):
            yield Ref.from_json(item)

    def get_branch(self, branch):
        name = _branch(branch)
        try:
            data = self._api("GET", f"branches/{_quote(name)}", subject="branch")
        except exceptions.RefNotFoundError as e:
            raise exceptions.BranchNotFoundError(
                e.message, hint=e.hint, code=404, kind=exceptions.ApiErrorKind.BranchNotFound(name)
            ) from None
        if not data.get("is_branch", True):
            raise exceptions.NotABranchRefError(
                f"'{name}' is a tag, not a branch", kind=exceptions.ApiErrorKind.NotABranchRef(name)
            )
        return Branch(data.get("name", name), (data.get("commit") or {}).get("id"))

    def has_branch(self, branch):
        try:
            self.get_branch(branch)
            return True
        except (exceptions.BranchNotFoundError, exceptions.NotABranchRefError):
            return False

    def create_branch(self, branch, from_ref, *, if_not_exists=False):
        name, source = _branch(branch), _ref(from_ref, "from_ref")
        try:
            return Ref.from_json(
                self._api("POST", "branches", {"name": name, "from_ref": source}, subject="branch")
            )
        except exceptions.BranchExistsError:
            if if_not_exists:
                return self.get_branch(name)
            raise

    def delete_branch(self, branch, *, if_exists=False):
        name = _branch(branch)
        try:
            self._api("DELETE", f"branches/{_quote(name)}", subject="branch")
        except (exceptions.BranchNotFoundError, exceptions.RefNotFoundError):
            if if_exists:
                return False
            raise
        return True

    def rename_branch(self, branch, new_branch):
        old, new = _branch(branch), _branch(new_branch, "new_branch")
        self._api("POST", f"branches/{_quote(old)}/rename", {"new_name": new}, subject="branch")
        return self.get_branch(new)

    def merge_branch(
        self, source_ref, into_branch, *, commit_message=None, commit_body=None, commit_properties=None
    ):
        source, into = _ref(source_ref, "source_ref"), _branch(into_branch, "into_branch")
        body = {"source_ref": source}
        if commit_message is not None:
            body["commit_message"] = commit_message
        if commit_body is not None:
            body["commit_body"] = commit_body
        if commit_properties:
            body["commit_properties"] = {str(k): str(v) for k, v in commit_properties.items()}
        answer = self._api("POST", f"branches/{_quote(into)}/merge", body, subject="branch")
        return Branch(into, (answer.get("commit") or {}).get("id"))

    def diff(self, from_ref, to_ref):
        """Sluice's extra: what changed, table by table, between two refs."""
        return self._api("GET", "diff", query={"from": _ref(from_ref), "to": _ref(to_ref)}, subject="ref")

    # -- tags ----------------------------------------------------------------------------

    def get_tags(self, *, filter_by_name=None, limit=None):
        for item in _limited(
            (r for r in self._api("GET", "tags") if _matches(filter_by_name, r["name"])), limit
        ):
            yield Ref.from_json(item)

    def get_tag(self, tag):
        name = _tag(tag)
        for item in self._api("GET", "tags"):
            if item["name"] == name:
                return Ref.from_json(item)
        raise exceptions.TagNotFoundError(
            f"tag '{name}' not found", code=404, kind=exceptions.ApiErrorKind.TagNotFound(name)
        )

    def has_tag(self, tag):
        try:
            self.get_tag(tag)
            return True
        except exceptions.TagNotFoundError:
            return False

    def create_tag(self, tag, from_ref, *, if_not_exists=False):
        name, source = _tag(tag), _ref(from_ref, "from_ref")
        try:
            return Ref.from_json(self._api("POST", "tags", {"name": name, "from_ref": source}, subject="tag"))
        except exceptions.AlreadyExistsError:
            if if_not_exists and self.has_tag(name):
                return self.get_tag(name)
            raise

    def delete_tag(self, tag, *, if_exists=False):
        name = _tag(tag)
        try:
            self._api("DELETE", f"tags/{_quote(name)}", subject="tag")
        except (exceptions.TagNotFoundError, exceptions.RefNotFoundError):
            if if_exists:
                return False
            raise
        return True

    def rename_tag(self, tag, new_tag):
        old, new = _tag(tag), _tag(new_tag, "new_tag")
        self._api("POST", f"tags/{_quote(old)}/rename", {"new_name": new}, subject="tag")
        return self.get_tag(new)

    # -- commits -------------------------------------------------------------------------

    def get_commits(
        self,
        ref,
        *,
        filter_by_message=None,
        filter_by_author_username=None,
        filter_by_author_name=None,
        filter_by_author_email=None,
        filter_by_authored_date=None,
        filter_by_authored_date_start_at=None,
        filter_by_authored_date_end_at=None,
        filter_by_parent_hash=None,
        filter_by_properties=None,
        filter=None,
        limit=None,
    ):
        ref_text = _ref(ref)
        ref_name = ref.name if isinstance(ref, Ref) else ref_text.split("@")[0]
        # A CEL expression over `commit` (sluice/_cel.py), parsed before any request.
        cel = _cel.compile_filter(filter) if filter is not None else None
        exact = _date_filter(filter_by_authored_date, "filter_by_authored_date")
        start = _date_filter(filter_by_authored_date_start_at, "filter_by_authored_date_start_at")
        end = _date_filter(filter_by_authored_date_end_at, "filter_by_authored_date_end_at")
        filtered = any(
            v is not None
            for v in (
                filter_by_message,
                filter_by_author_username,
                filter_by_author_name,
                filter_by_author_email,
                filter_by_authored_date,
                filter_by_authored_date_start_at,
                filter_by_authored_date_end_at,
                filter_by_parent_hash,
                filter_by_properties,
                filter,
            )
        )

        def keep(c):
            a = c.author
            return (
                _matches(filter_by_message, c.message)
                and _matches(filter_by_author_username, a.name)
                and _matches(filter_by_author_name, a.name)
                and (filter_by_author_email is None or _matches(filter_by_author_email, a.email))
                and (exact is None or c.authored_date == exact)
                and (start is None or c.authored_date >= start)
                and (end is None or c.authored_date <= end)
                and (filter_by_parent_hash is None or filter_by_parent_hash in c.parent_hashes)
                and all(c.properties.get(k) == str(v) for k, v in (filter_by_properties or {}).items())
                and (cel is None or cel(_cel.commit_variables(c)))
            )

        query = {"ref": ref_text, "limit": 0 if filtered or not limit else limit}
        commits = self._api("GET", "commits", query=query, subject="ref")
        yield from _limited((c for c in (Commit.from_json(d, ref_name) for d in commits) if keep(c)), limit)

    # -- namespaces ----------------------------------------------------------------------

    def _namespace_names(self, ref):
        names = self._api("GET", "namespaces", query={"ref": ref}, subject="ref")
        return [n if isinstance(n, str) else n.get("name") for n in names]

    def get_namespaces(self, ref, *, filter_by_name=None, limit=None):
        names = self._namespace_names(_ref(ref))
        yield from _limited((Namespace(n) for n in names if _matches(filter_by_name, n)), limit)

    def get_namespace(self, namespace, ref):
        name, ref_text = _text(namespace, "namespace"), _ref(ref)
        try:
            answer = self._api(
                "GET", f"namespaces/{_quote(name)}", query={"ref": ref_text}, subject="namespace"
            )
            return Namespace(answer.get("name", name))
        except exceptions.ApiMethodError:  # a server without the route: look in the list
            if name in self._namespace_names(ref_text):
                return Namespace(name)
        raise exceptions.NamespaceNotFoundError(
            f"namespace '{name}' not found at '{ref_text}'",
            code=404,
            kind=exceptions.ApiErrorKind.NamespaceNotFound(name, ref_text, None),
        )

    def has_namespace(self, namespace, ref):
        try:
            self.get_namespace(namespace, ref)
            return True
        except exceptions.NamespaceNotFoundError:
            return False

    def create_namespace(
        self, namespace, branch, *, commit_body=None, commit_properties=None, if_not_exists=False
    ):
        name, target = _text(namespace, "namespace"), _branch(branch)
        body = {"name": name, "branch": target}
        if commit_body is not None:
            body["commit_body"] = commit_body
        if commit_properties:
            body["commit_properties"] = {str(k): str(v) for k, v in commit_properties.items()}
        try:
            self._api("POST", "namespaces", body, subject="namespace")
        except exceptions.NamespaceExistsError:
            if not if_not_exists:
                raise
        return Namespace(name)

    def delete_namespace(
        self, namespace, branch, *, if_exists=False, commit_body=None, commit_properties=None
    ):
        name, target = _text(namespace, "namespace"), _branch(branch)
        try:
            self._api(
                "DELETE",
                f"namespaces/{_quote(name)}",
                query={"branch": target, **_commit_note_query(commit_body, commit_properties)},
                subject="namespace",
            )
        except exceptions.NamespaceNotFoundError:
            if not if_exists:
                raise
        return self.get_branch(target)

    # -- tables --------------------------------------------------------------------------

    def get_tables(self, ref, *, filter_by_name=None, filter_by_namespace=None, limit=None):
        ref_text = _ref(ref)
        ns = _text(filter_by_namespace, "namespace") if filter_by_namespace is not None else None
        listing = self._api("GET", "tables", query={"ref": ref_text, "namespace": ns}, subject="ref")

        def tables():
            for item in listing:
                table = Table.from_listing(item, None)
                if not _matches(filter_by_name, table.name):
                    continue
                fqn = table.fqn
                yield Table.from_listing(item, lambda fqn=fqn: self.get_table(fqn, ref_text))

        yield from _limited(tables(), limit)

    def get_table(self, table, ref, *, namespace=None):
        name, ns = _split_table(table, namespace)
        data = self._api(
            "GET", f"tables/{_quote(name)}", query={"ref": _ref(ref), "namespace": ns}, subject="table"
        )
        return Table.from_json(data)

    def has_table(self, table, ref, *, namespace=None):
        try:
            self.get_table(table, ref, namespace=namespace)
            return True
        except exceptions.TableNotFoundError:
            return False

    def delete_table(
        self, table, branch, *, namespace=None, if_exists=False, commit_body=None, commit_properties=None
    ):
        name, ns = _split_table(table, namespace)
        target = _branch(branch)
        self._api(
            "DELETE",
            f"tables/{_quote(name)}",
            query={
                "branch": target,
                "namespace": ns,
                "if_exists": "true" if if_exists else None,
                **_commit_note_query(commit_body, commit_properties),
            },
            subject="table",
        )
        return self.get_branch(target)

    def revert_table(
        self,
        table,
        *,
        namespace=None,
        source_ref,
        into_branch,
        replace=None,
        commit_body=None,
        commit_properties=None,
    ):
        name, ns = _split_table(table, namespace)
        body = {
            "source_ref": _ref(source_ref, "source_ref"),
            "into_branch": _branch(into_branch, "into_branch"),
            "namespace": ns,
            "replace": bool(replace),
        }
        if commit_body is not None:
            body["commit_body"] = commit_body
        if commit_properties:
            body["commit_properties"] = {str(k): str(v) for k, v in commit_properties.items()}
        answer = self._api("POST", f"tables/{_quote(name)}/revert", body, subject="table")
        commit = answer.get("commit")
        return Branch(body["into_branch"], commit.get("id") if isinstance(commit, dict) else commit)

    def create_table(
        self,
        table,
        search_uri,
        *,
        branch=None,
        namespace=None,
        partitioned_by=None,
        replace=None,
        args=None,
        priority=None,
        client_timeout=None,
    ):
        name, ns = _split_table(table, namespace)
        target = self._default_branch(branch)
        body = {
            "search_uri": str(search_uri),
            "branch": target,
            "namespace": ns,
            "partitioned_by": partitioned_by,
            "replace": bool(replace),
            "args": args or {},
            "priority": priority,
        }
        answer = self._api(
            "POST", f"tables/{_quote(name)}/create", body, subject="table", timeout=client_timeout
        )
        if isinstance(answer, dict) and isinstance(answer.get("table"), dict):
            return Table.from_json(answer["table"])
        return self.get_table(name, target, namespace=ns)

    def import_data(
        self,
        table,
        search_uri,
        *,
        branch=None,
        namespace=None,
        continue_on_error=False,
        import_duplicate_files=False,
        best_effort=False,
        preview=None,
        args=None,
        priority=None,
        client_timeout=None,
        detach=False,
    ):
        name, ns = _split_table(table, namespace)
        target = self._default_branch(branch)
        body = {
            "search_uri": str(search_uri),
            "branch": target,
            "namespace": ns,
            "continue_on_error": bool(continue_on_error),
            "import_duplicate_files": bool(import_duplicate_files),
            "best_effort": bool(best_effort),
            "preview": _preview(preview),
            "args": args or {},
            "priority": priority,
            "detach": bool(detach),
        }
        ctx = state.TableDataImportContext(
            table_name=name.split(".", 1)[-1],
            namespace=ns or Table.split_name(name)[0],
            branch_name=target,
            search_string=str(search_uri),
            continue_on_error=bool(continue_on_error),
            import_duplicate_files=bool(import_duplicate_files),
            best_effort=bool(best_effort),
            preview=_preview(preview),
            transformation_query=None,
        )
        answer = self._api(
            "POST", f"tables/{_quote(name)}/import", body, subject="table", timeout=client_timeout
        )
        return state.TableDataImportState(
            ctx=ctx,
            job_id=answer.get("job_id"),
            error=answer.get("error"),
            job_status=answer.get("job_status")
            or ("RUNNING" if detach and answer.get("job_id") else "SUCCESS"),
            rows=answer.get("rows"),
            files=answer.get("files"),
            commit=answer.get("commit"),
        )

    def plan_table_creation(
        self,
        table,
        search_uri,
        *,
        branch=None,
        namespace=None,
        partitioned_by=None,
        replace=None,
        args=None,
        priority=None,
        client_timeout=None,
    ):
        name, ns = _split_table(table, namespace)
        target = self._default_branch(branch)
        ctx = state.TableCreatePlanContext(
            table_name=name.split(".", 1)[-1],
            namespace=ns or Table.split_name(name)[0],
            branch_name=target,
            search_string=str(search_uri),
            table_partitioned_by=partitioned_by,
            table_replace=bool(replace),
        )
        body = {
            "table": name,
            "search_uri": str(search_uri),
            "branch": target,
            "namespace": ns,
            "partitioned_by": partitioned_by,
            "replace": bool(replace),
            "args": args or {},
            "priority": priority,
        }
        try:
            answer = self._api("POST", "table_plans", body, subject="table", timeout=client_timeout)
        except (exceptions.BadRequestError, exceptions.BauplanJobError) as e:
            failed = state.TableCreatePlanState(
                ctx=ctx,
                job_id=None,
                job_status="FAILED",
                error=e.message,
                plan=None,
                can_auto_apply=False,
                files_to_be_imported=[],
            )
            raise exceptions.TableCreatePlanStatusError(e.message, failed) from e
        planned = state.TableCreatePlanState(
            ctx=ctx,
            job_id=answer.get("job_id"),
            job_status=answer.get("job_status", "SUCCESS"),
            error=answer.get("error"),
            plan=answer.get("plan"),
            can_auto_apply=bool(answer.get("can_auto_apply")),
            conflicts=answer.get("conflicts", []),
            files_to_be_imported=list(answer.get("files_to_be_imported") or answer.get("files") or []),
        )
        if planned.can_auto_apply:
            # As bauplan does: a plan without conflicts is applied at once.
            self.apply_table_creation_plan(
                planned, args=args, priority=priority, client_timeout=client_timeout
            )
        return planned

    def apply_table_creation_plan(self, plan, *, args=None, priority=None, client_timeout=None):
        if isinstance(plan, state.TableCreatePlanState):
            text, branch = plan.plan, plan.ctx.branch_name
        elif isinstance(plan, str):
            text, branch = plan, None
        else:
            raise TypeError(f"plan must be a TableCreatePlanState or YAML text, not {type(plan).__name__}")
        if not text:
            raise exceptions.InvalidPlanError("the plan is empty (did planning fail?)")
        try:
            answer = self._api(
                "POST",
                "table_plans/apply",
                {"plan": text, "branch": branch, "args": args or {}, "priority": priority},
                subject="table",
                timeout=client_timeout,
            )
        except (exceptions.BadRequestError, exceptions.BauplanJobError) as e:
            failed = state.TableCreatePlanApplyState(job_id=None, job_status="FAILED", error=e.message)
            raise exceptions.TableCreatePlanApplyStatusError(e.message, failed) from e
        table = answer.get("table")
        return state.TableCreatePlanApplyState(
            job_id=answer.get("job_id"),
            job_status=answer.get("job_status", "SUCCESS"),
            error=answer.get("error"),
            table=Table.from_json(table) if isinstance(table, dict) else table,
        )

    def create_external_table_from_parquet(
        self,
        table,
        search_patterns,
        *,
        branch=None,
        namespace=None,
        overwrite=False,
        args=None,
        priority=None,
        client_timeout=None,
        detach=False,
    ):
        name, ns = _split_table(table, namespace)
        if isinstance(search_patterns, str) or not search_patterns:
            raise ValueError("search_patterns must be a non-empty list of URIs")
        target = self._default_branch(branch)
        ctx = state.ExternalTableCreateContext(
            table_name=name.split(".", 1)[-1], namespace=ns or Table.split_name(name)[0], branch_name=target
        )
        body = {
            "search_patterns": [str(p) for p in search_patterns],
            "branch": target,
            "namespace": ns,
            "overwrite": bool(overwrite),
            "args": args or {},
            "priority": priority,
            "detach": bool(detach),
        }
        answer = self._api(
            "POST", f"tables/{_quote(name)}/external", body, subject="table", timeout=client_timeout
        )
        return state.ExternalTableCreateState(
            ctx=ctx,
            job_id=answer.get("job_id"),
            job_status=answer.get("job_status", "SUCCESS"),
            error=answer.get("error"),
        )

    def create_external_table_from_metadata(
        self, table, metadata_json_uri, *, namespace, branch=None, overwrite=False
    ):
        name, ns = _split_table(table, namespace)
        if not metadata_json_uri or not isinstance(metadata_json_uri, str):
            raise ValueError("metadata_json_uri must be a non-empty string")
        target = self._default_branch(branch)
        answer = self._api(
            "POST",
            f"tables/{_quote(name)}/external",
            {
                "metadata_json_uri": metadata_json_uri,
                "branch": target,
                "namespace": ns,
                "overwrite": bool(overwrite),
            },
            subject="table",
        )
        if isinstance(answer, dict) and isinstance(answer.get("table"), dict):
            return Table.from_json(answer["table"])
        return self.get_table(name, target, namespace=ns)

    # -- runs ----------------------------------------------------------------------------

    def run(
        self,
        project_dir,
        *,
        ref=None,
        namespace=None,
        parameters=None,
        cache=None,
        transaction=None,
        dry_run=None,
        strict=None,
        preview=None,
        args=None,
        priority=None,
        client_timeout=None,
        detach=False,
    ):
        target = self._default_ref(ref)
        ns = _text(namespace, "namespace") if namespace is not None else ""
        params = {}
        for key, value in (parameters or {}).items():
            if value is not None:
                params[str(key)] = value
        ctx = state.RunExecutionContext(
            project_dir=str(project_dir),
            ref=target,
            namespace=ns or "bauplan",
            cache=_on_off(cache, "cache", True),
            transaction=_on_off(transaction, "transaction", True),
            dry_run=_on_off(dry_run, "dry_run", False),
            strict=_on_off(strict, "strict", False),
            preview=_preview(preview),
            debug=False,
            detach=bool(detach),
            snapshot_id="",
            snapshot_uri="",
        )
        body = {
            "project_dir": str(pathlib.Path(project_dir).resolve()),
            "ref": target,
            "namespace": ns,
            "parameters": params,
            "strict": ctx.strict,
            "dry_run": ctx.dry_run,
            "transaction": ctx.transaction,
            "cache": "on" if ctx.cache else "off",
            "preview": ctx.preview,
            "args": args or {},
            "priority": priority,
            "detach": bool(detach),
        }
        started = time.time_ns()
        if detach:
            report = self._api("POST", "runs", body, subject="ref", timeout=client_timeout)
            return state.RunState.from_report(report, ctx, started)
        # Streamed, to keep what the models print and the warnings as the run's user logs.
        body["stream"] = True
        payload = self._api("POST", "runs", body, subject="ref", raw=True, timeout=client_timeout)
        report, output = {}, []
        for line in payload.splitlines():
            if not line.strip():
                continue
            event = json.loads(line)
            kind = event.get("event")
            if kind == "output":
                output.append(
                    {"message": event.get("line", ""), "model": event.get("model"), "stream": "STDOUT"}
                )
            elif kind == "report":
                report = event.get("report") or {}
            elif kind == "plan" and event.get("job_id"):
                report.setdefault("job_id", event["job_id"])
            elif kind == "error":
                error = event.get("error") or {}
                raise exceptions.from_report(
                    error.get("kind", ""), error.get("message", ""), error.get("hint", ""), subject="ref"
                )
        report["output"] = output
        return state.RunState.from_report(report, ctx, started)

    # -- queries -------------------------------------------------------------------------

    def query(
        self,
        query,
        *,
        ref=None,
        max_rows=None,
        cache=None,
        namespace=None,
        args=None,
        priority=None,
        client_timeout=None,
    ):
        with self._query_stream(query, locals()) as reader:
            return reader.read_all()

    @contextlib.contextmanager
    def _query_stream(self, query, options):
        """The query's answer as a pyarrow RecordBatchReader over the server's Arrow IPC
        stream: batches arrive as the server sends them, `max_rows` is applied where the
        query runs, and the result is never held whole here unless the caller keeps it."""
        import pyarrow as pa

        if not isinstance(query, str) or not query.strip():
            raise ValueError("query must be a non-empty SQL string")
        max_rows = options.get("max_rows")
        if max_rows is not None and (
            not isinstance(max_rows, int) or isinstance(max_rows, bool) or max_rows < 0
        ):
            raise ValueError(f"max_rows must be a non-negative integer, not {max_rows!r}")
        body = {
            "sql": query,
            "ref": self._default_ref(options.get("ref")),
            "cache": "on" if _on_off(options.get("cache"), "cache", True) else "off",
            "args": options.get("args") or {},
            "priority": options.get("priority"),
            "output": "arrow_stream",
        }
        if options.get("namespace") is not None:
            body["namespace"] = _text(options["namespace"], "namespace")
        if max_rows is not None:
            body["max_rows"] = max_rows
        # The client's timeout is also the query's time limit on the server (bauplan's is how
        # long its client waits for the query): past it nobody reads the answer, so the worker
        # is stopped there instead of running on. The server's error saying so gets a few
        # seconds more to arrive than the query had.
        timeout = options.get("client_timeout") or self._timeout
        if timeout is not None and (
            isinstance(timeout, bool) or not isinstance(timeout, (int, float)) or timeout <= 0
        ):
            raise ValueError(f"client_timeout must be a number of seconds above 0, not {timeout!r}")
        if timeout is not None:
            body["timeout_seconds"] = timeout
        try:
            source = self._api(
                "POST",
                "query",
                body,
                raw=True,
                stream=True,
                subject="table",
                timeout=None if timeout is None else timeout + _QUERY_ANSWER_GRACE_SECONDS,
            )
        except exceptions.InvalidDataError as e:
            if type(e) is not exceptions.InvalidDataError:
                raise
            raise exceptions.InvalidQueryError(e.message, hint=e.hint, code=e.code) from None
        try:
            yield pa.ipc.open_stream(source)
        finally:
            source.close()

    # The query_to_* methods keep bauplan's keyword lists; each hands its options to query()
    # unchanged through _query_options(locals()).
    _QUERY_OPTIONS = ("ref", "max_rows", "cache", "namespace", "args", "priority", "client_timeout")

    @classmethod
    def _query_options(cls, scope):
        return {name: scope[name] for name in cls._QUERY_OPTIONS}

    def _query_to_file(self, path, query, options, open_writer):
        """Writes the answer batch by batch as it arrives, into a file beside `path` renamed
        over it at the end: a failed query leaves no partial file."""
        path = pathlib.Path(path)
        partial = path.with_name(f".{path.name}.{os.getpid()}.partial")
        try:
            with self._query_stream(query, self._query_options(options)) as reader:
                writer = open_writer(partial, reader.schema)
                try:
                    for batch in reader:
                        writer.write_batch(batch)
                finally:
                    writer.close()
            os.replace(partial, path)
        finally:
            partial.unlink(missing_ok=True)
        return path

    def query_to_generator(
        self,
        query,
        *,
        ref=None,
        max_rows=None,
        cache=None,
        namespace=None,
        args=None,
        priority=None,
        client_timeout=None,
    ):
        with self._query_stream(query, self._query_options(locals())) as reader:
            for batch in reader:
                yield from batch.to_pylist()

    def query_to_parquet_file(
        self,
        path,
        query,
        *,
        ref=None,
        max_rows=None,
        cache=None,
        namespace=None,
        args=None,
        priority=None,
        client_timeout=None,
    ):
        import pyarrow.parquet as pq

        return self._query_to_file(path, query, locals(), pq.ParquetWriter)

    def query_to_csv_file(
        self,
        path,
        query,
        *,
        ref=None,
        max_rows=None,
        cache=None,
        namespace=None,
        args=None,
        priority=None,
        client_timeout=None,
    ):
        import pyarrow.csv as pcsv

        return self._query_to_file(path, query, locals(), pcsv.CSVWriter)

    def query_to_json_file(
        self,
        path,
        query,
        *,
        file_format="json",
        ref=None,
        max_rows=None,
        cache=None,
        namespace=None,
        args=None,
        priority=None,
        client_timeout=None,
    ):
        if file_format not in ("json", "jsonl"):
            raise ValueError(f"file_format must be 'json' or 'jsonl', not {file_format!r}")

        return self._query_to_file(
            path, query, locals(), lambda path, schema: _JsonRowsWriter(path, as_array=file_format == "json")
        )

    def scan(
        self,
        table,
        *,
        ref=None,
        columns=None,
        filters=None,
        limit=None,
        cache=None,
        namespace=None,
        args=None,
        priority=None,
        client_timeout=None,
    ):
        name, ns = _split_table(table, namespace)
        sql = _scan_sql(name, columns, filters, limit)
        return self.query(
            sql,
            ref=ref,
            cache=cache,
            namespace=ns,
            args=args,
            priority=priority,
            client_timeout=client_timeout,
        )

    # -- jobs ----------------------------------------------------------------------------

    @staticmethod
    def _job_id(job):
        job_id = job.id if isinstance(job, Job) else _text(job, "job")
        if not re.fullmatch(r"[A-Za-z0-9-]{1,64}", job_id):
            raise exceptions.InvalidDataError(f"'{job_id}' is not a job id (letters, digits and '-')")
        return job_id

    def get_job(self, job_id):
        return Job.from_json(self._api("GET", f"jobs/{_quote(self._job_id(job_id))}", subject="job"))

    def _username(self):
        if getattr(self, "_user", None) is None:
            info = self.info()
            self._user = info.user.username if info.user else ""
        return self._user

    def get_jobs(
        self,
        *,
        all_users=False,
        filter_by_ids=None,
        filter_by_users=None,
        filter_by_kinds=None,
        filter_by_statuses=None,
        filter_by_created_after=None,
        filter_by_created_before=None,
        limit=None,
    ):
        def listed(value, convert):
            if value is None:
                return None
            values = [value] if isinstance(value, (str, schema._Enum, Job)) else list(value)
            return [convert(v) for v in values]

        ids = listed(filter_by_ids, self._job_id)
        users = listed(filter_by_users, str)
        kinds = listed(filter_by_kinds, schema.job_kind)
        statuses = listed(filter_by_statuses, schema.job_state)
        after = _date_filter(filter_by_created_after, "filter_by_created_after")
        before = _date_filter(filter_by_created_before, "filter_by_created_before")
        if users is None and not all_users:
            users = [self._username()]
        iso = lambda d: d.astimezone(datetime.UTC).isoformat().replace("+00:00", "Z")  # noqa: E731

        def keep(job):
            return (
                (ids is None or job.id in ids)
                and (users is None or job.user in users)
                and (kinds is None or job.kind in kinds)
                and (statuses is None or job.status in statuses)
                and (after is None or (job.created_at is not None and job.created_at > after))
                and (before is None or (job.created_at is not None and job.created_at < before))
            )

        def pages():
            # Newest first, a page at a time: the next page is what was created before the last.
            seen, until = set(), before
            while True:
                page = min(limit or 500, 500)
                query = {
                    "limit": page,
                    "id": ",".join(ids) if ids else None,
                    "user": ",".join(users) if users else None,
                    "kind": ",".join(k.name for k in kinds) if kinds else None,
                    "status": ",".join(s.name for s in statuses) if statuses else None,
                    "created_after": iso(after) if after else None,
                    "created_before": iso(until) if until else None,
                }
                answer = self._api("GET", "jobs", query=query, subject="job")
                items = answer.get("jobs", []) if isinstance(answer, dict) else answer
                fresh = [Job.from_json(d) for d in items]
                fresh = [j for j in fresh if j.id not in seen]
                for job in fresh:
                    seen.add(job.id)
                    yield job
                if len(items) < page or not fresh or fresh[-1].created_at is None:
                    return
                until = fresh[-1].created_at

        yield from _limited((j for j in pages() if keep(j)), limit)

    def get_job_logs(self, job):
        job_id, events, after = self._job_id(job), [], 0
        while True:
            answer = self._api(
                "GET", f"jobs/{_quote(job_id)}/logs", query={"after": after, "limit": 10000}, subject="job"
            )
            page = answer.get("logs", []) if isinstance(answer, dict) else answer
            events += [JobLogEvent.from_json(e) for e in page]
            following = answer.get("next_after") if isinstance(answer, dict) else None
            if not page or following is None or following == after:
                return events
            after = following

    def get_job_context(self, job, *, include_logs=False, include_snapshot=False):
        job_id = self._job_id(job)
        data = self._api(
            "GET",
            f"jobs/{_quote(job_id)}/context",
            subject="job",
            query={
                "include_logs": "true" if include_logs else "false",
                "include_snapshot": "true" if include_snapshot else "false",
            },
        )
        return JobContext.from_json({"id": job_id, **data}, data.get("logs") if include_logs else [])

    def get_job_contexts(self, jobs, *, include_logs=False, include_snapshot=False):
        if isinstance(jobs, (str, Job)):
            jobs = [jobs]
        return [
            self.get_job_context(j, include_logs=include_logs, include_snapshot=include_snapshot)
            for j in jobs
        ]

    def cancel_job(self, job_id):
        self._api("POST", f"jobs/{_quote(self._job_id(job_id))}/cancel", {}, subject="job")
        return None


# Kept importable from here for code written against earlier Sluice versions.
RunState = state.RunState
