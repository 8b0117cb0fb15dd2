"""The objects the client returns (also `bauplan.schema`): refs, commits, namespaces, tables
and jobs, with bauplan's names and attributes, built from the JSON API's answers.

Objects are plain read-only values. Enumerations (RefType, JobKind, JobState, ...) compare
equal to their own members and to their names as strings ("COMPLETE" == JobState.COMPLETE).
"""

import datetime as _dt
import enum
import re
import uuid


class _Enum(enum.Enum):
    def __int__(self):
        return self.value

    def __str__(self):
        return self.name

    def __repr__(self):
        return f"{type(self).__name__}.{self.name}"

    def __eq__(self, other):
        if isinstance(other, str):
            return other.upper() == self.name.upper()
        return enum.Enum.__eq__(self, other)

    def __ne__(self, other):
        return not self.__eq__(other)

    def __hash__(self):
        return hash(self.name)

    @classmethod
    def parse(cls, value, default=None):
        if isinstance(value, cls):
            return value
        text = str(value or "").replace("-", "_").replace(" ", "_").upper()
        for member in cls:
            if member.name.upper() == text:
                return member
        return default if default is not None else list(cls)[-1]


class RefType(_Enum):
    BRANCH = 0
    TAG = 1
    DETACHED = 2


class JobKind(_Enum):
    UNSPECIFIED = 0
    RUN = 1
    QUERY = 2
    TABLE_IMPORT = 3
    TABLE_PLAN_CREATE = 4
    TABLE_PLAN_CREATE_APPLY = 5
    IMPORT_PLAN_CREATE = 6
    IMPORT_PLAN_APPLY = 7


class JobState(_Enum):
    UNSPECIFIED = 0
    NOT_STARTED = 1
    RUNNING = 2
    COMPLETE = 3
    ABORT = 4
    FAIL = 5
    OTHER = 6


class JobLogLevel(_Enum):
    ERROR = 0
    WARN = 1
    INFO = 2
    DEBUG = 3
    TRACE = 4


class JobLogStream(_Enum):
    STDOUT = 0
    STDERR = 1


class TableKind(_Enum):
    Table = 0
    ExternalTable = 1


def _datetime(value):
    """An aware UTC datetime from epoch milliseconds, seconds or an ISO string."""
    if value is None or value == "" or value == 0:
        return None
    if isinstance(value, _dt.datetime):
        return value
    if isinstance(value, (int, float)):
        seconds = value / 1000 if value > 1e11 else value
        return _dt.datetime.fromtimestamp(seconds, tz=_dt.UTC)
    try:
        return _dt.datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError:
        return None


class _Value:
    """Read-only attributes set once; repr names the identifying ones."""

    _repr_fields = ("name",)

    def __init__(self, **fields):
        for key, value in fields.items():
            object.__setattr__(self, key, value)

    def __setattr__(self, key, value):
        raise AttributeError(f"{type(self).__name__} is read-only")

    def __repr__(self):
        shown = ", ".join(f"{f}={getattr(self, f, None)!r}" for f in self._repr_fields)
        return f"{type(self).__name__}({shown})"

    def __eq__(self, other):
        return type(self) is type(other) and self.__dict__ == other.__dict__

    def __hash__(self):
        return hash((type(self).__name__, *(str(getattr(self, f, None)) for f in self._repr_fields)))


class Actor(_Value):
    """A commit's author or committer: `name` and `email` (None when unknown)."""

    _repr_fields = ("name", "email")

    @classmethod
    def parse(cls, text):
        match = re.fullmatch(r"\s*(.*?)\s*<([^>]*)>\s*", text or "")
        if match:
            return cls(name=match.group(1), email=match.group(2) or None)
        return cls(name=text or "", email=None)


class Ref(_Value):
    """A branch, tag or commit: `name`, `hash` (the commit id) and `type`. `str(ref)` is
    "name@hash", which the client accepts wherever a ref is expected."""

    _repr_fields = ("name", "hash")

    def __init__(self, name, hash=None, type=None):
        super().__init__(name=name, hash=hash or "", type=type or RefType.DETACHED)

    def __str__(self):
        if not self.hash:
            return self.name
        return f"{self.name}@{self.hash}" if self.name else f"@{self.hash}"

    @staticmethod
    def from_json(data):
        """A Ref from the API's {"name", "kind", "commit"}."""
        commit = data.get("commit")
        commit_id = commit.get("id") if isinstance(commit, dict) else commit
        kind = data.get("kind") or ("branch" if data.get("is_branch") else "tag")
        cls = {"branch": Branch, "tag": Tag}.get(kind, DetachedRef)
        return cls(data.get("name", ""), commit_id)


class Branch(Ref):
    def __init__(self, name, hash=None, type=None):
        super().__init__(name, hash, RefType.BRANCH)


class Tag(Ref):
    def __init__(self, name, hash=None, type=None):
        super().__init__(name, hash, RefType.TAG)


class DetachedRef(Ref):
    def __init__(self, name, hash=None, type=None):
        super().__init__(name, hash, RefType.DETACHED)


class Commit(_Value):
    """A commit: `ref` (a Ref whose hash is this commit's id), `message` (its first line is
    `subject`, the rest `body`), `author` (an Actor), dates, `parent_hashes`, `properties`."""

    _repr_fields = ("hash", "message")

    @classmethod
    def from_json(cls, data, ref_name=""):
        message = data.get("message") or ""
        subject, _, body = message.partition("\n")
        author = Actor.parse(data.get("author", ""))
        when = _datetime(data.get("timestamp_ms"))
        parents = list(data.get("parents") or [])
        ref = Ref(ref_name, data.get("id", ""), RefType.DETACHED)
        return cls(
            hash=data.get("id", ""),
            ref=ref,
            message=message or None,
            subject=subject or None,
            body=body.strip() or None,
            author=author,
            authors=[author],
            committer=author,
            signed_off_by=[],
            authored_date=when,
            committed_date=when,
            parent_hashes=parents,
            parent_ref=Ref(ref_name, parents[0], RefType.DETACHED) if parents else None,
            parent_merge_ref=None,
            properties=dict(data.get("properties") or {}),
        )


class Namespace(_Value):
    def __init__(self, name):
        super().__init__(name=name)

    def __str__(self):
        return self.name


class TableField(_Value):
    """A column: `id` (its Iceberg field id), `name`, `type`, `required`."""

    _repr_fields = ("name", "type")


class PartitionField(_Value):
    """A partition field: `name` and `transform` ("identity", "day", ...)."""

    _repr_fields = ("name", "transform")


class Table(_Value):
    """A table at a ref: `name`, `namespace`, `fqn`, `kind`, `fields`, `records`, `partitions`,
    `metadata_location`, ... Tables listed by get_tables load their details on first use."""

    _repr_fields = ("fqn",)
    _details = (
        "fields",
        "records",
        "size",
        "snapshots",
        "current_snapshot_id",
        "current_schema_id",
        "partitions",
        "properties",
        "last_updated_at",
        "id",
    )

    def __init__(self, name, namespace, loader=None, **fields):
        object.__setattr__(self, "_loader", loader)
        super().__init__(name=name, namespace=namespace, **fields)

    def __str__(self):
        return self.fqn

    @property
    def fqn(self):
        return f"{self.namespace}.{self.name}"

    def __getattr__(self, key):
        # Only reached for attributes not set yet: a listed table's details.
        if key in Table._details and self.__dict__.get("_loader"):
            loaded = self.__dict__["_loader"]()
            object.__setattr__(self, "_loader", None)
            for field in Table._details:
                object.__setattr__(self, field, getattr(loaded, field))
            return getattr(self, key)
        if key in Table._details:
            return None
        raise AttributeError(key)

    def is_managed(self):
        return self.kind == TableKind.Table

    def is_external(self):
        return self.kind == TableKind.ExternalTable

    def __eq__(self, other):
        return isinstance(other, Table) and (self.fqn, self.metadata_location) == (
            other.fqn,
            other.metadata_location,
        )

    def __hash__(self):
        return hash(self.fqn)

    @staticmethod
    def split_name(qualified, namespace=None):
        if "." in qualified:
            ns, _, name = qualified.partition(".")
            return ns, name
        return namespace or "bauplan", qualified

    @staticmethod
    def _names(data):
        if data.get("table") and data.get("namespace"):
            return data["namespace"], data["table"]
        return Table.split_name(data.get("name", ""), data.get("namespace"))

    @staticmethod
    def _kind(data):
        external = data.get("external") or str(data.get("kind", "")).upper() in ("EXTERNAL_TABLE", "EXTERNAL")
        return TableKind.ExternalTable if external else TableKind.Table

    @classmethod
    def from_listing(cls, data, loader):
        ns, name = cls._names(data)
        return cls(
            name, ns, loader=loader, kind=cls._kind(data), metadata_location=data.get("metadata_location")
        )

    @classmethod
    def from_json(cls, data):
        ns, name = cls._names(data)
        fields = []
        for i, f in enumerate(data.get("fields") or [], start=1):
            fields.append(
                TableField(
                    id=f.get("id", f.get("field_id", i)),
                    name=f.get("name"),
                    type=f.get("type"),
                    required=not f.get("nullable", True),
                )
            )
        partitions = [
            PartitionField(
                name=p.get("name") or p.get("source", ""), transform=p.get("transform", "identity")
            )
            for p in data.get("partitions") or []
        ]
        history = data.get("history") or []
        last = data.get("last_updated_ms") or (history[-1].get("timestamp_ms") if history else None)
        table_uuid = data.get("uuid") or data.get("table_uuid")
        try:
            table_id = (
                uuid.UUID(str(table_uuid))
                if table_uuid
                else uuid.uuid5(uuid.NAMESPACE_URL, data.get("metadata_location") or f"{ns}.{name}")
            )
        except ValueError:
            table_id = uuid.uuid5(uuid.NAMESPACE_URL, str(table_uuid))
        return cls(
            name,
            ns,
            kind=cls._kind(data),
            fields=fields,
            records=data.get("records"),
            size=data.get("size"),
            snapshots=len(history) if history else (1 if data.get("snapshot_id") is not None else 0),
            current_snapshot_id=data.get("snapshot_id"),
            current_schema_id=data.get("schema_id", 0),
            partitions=partitions,
            properties=dict(data.get("properties") or {}),
            last_updated_at=_datetime(last),
            id=table_id,
            metadata_location=data.get("metadata_location"),
        )


class DAGNode(_Value):
    _repr_fields = ("id", "name")


class DAGEdge(_Value):
    _repr_fields = ("source_model", "destination_model")


class JobLogEvent(_Value):
    """One line of a job's log: `message`, `level` (JobLogLevel), `stream` (JobLogStream)."""

    _repr_fields = ("level", "message")

    @classmethod
    def from_json(cls, data):
        if isinstance(data, str):
            data = {"message": data}
        return cls(
            message=data.get("message", data.get("line", "")),
            level=JobLogLevel.parse(data.get("level"), JobLogLevel.INFO),
            stream=JobLogStream.parse(data.get("stream"), JobLogStream.STDOUT),
            model=data.get("model"),
            type=data.get("type", "user"),
            timestamp=_datetime(data.get("time") or data.get("timestamp_ms") or data.get("timestamp")),
        )


_HUMAN_STATUS = {
    JobState.NOT_STARTED: "not started",
    JobState.RUNNING: "running",
    JobState.COMPLETE: "complete",
    JobState.ABORT: "aborted",
    JobState.FAIL: "failed",
    JobState.OTHER: "other",
    JobState.UNSPECIFIED: "unspecified",
}


def job_state(value):
    """A JobState from the API's status text ("RUNNING", "SUCCESS", "FAILED", "complete")."""
    text = str(value or "").upper()
    aliases = {
        "SUCCESS": "COMPLETE",
        "SUCCEEDED": "COMPLETE",
        "DONE": "COMPLETE",
        "FAILED": "FAIL",
        "FAILURE": "FAIL",
        "ERROR": "FAIL",
        "CANCELLED": "ABORT",
        "CANCELED": "ABORT",
        "ABORTED": "ABORT",
        "KILLED": "ABORT",
        "PENDING": "NOT_STARTED",
        "QUEUED": "NOT_STARTED",
        "NOT STARTED": "NOT_STARTED",
    }
    return JobState.parse(aliases.get(text, text), JobState.OTHER)


def job_kind(value):
    text = str(value or "").upper().replace("-", "_").replace(" ", "_")
    aliases = {
        "IMPORT": "TABLE_IMPORT",
        "CREATE_TABLE": "TABLE_PLAN_CREATE",
        "TABLE_CREATE": "TABLE_PLAN_CREATE",
        "PLAN": "TABLE_PLAN_CREATE",
        "PLAN_APPLY": "TABLE_PLAN_CREATE_APPLY",
        "TABLE_PLAN_APPLY": "TABLE_PLAN_CREATE_APPLY",
    }
    return JobKind.parse(aliases.get(text, text), JobKind.UNSPECIFIED)


class Job(_Value):
    """A job (a run, query, import or table plan): `id`, `kind`, `status`, `user`, times."""

    _repr_fields = ("id", "kind", "status")

    @classmethod
    def from_json(cls, data):
        status = job_state(data.get("status") or data.get("state") or data.get("job_status"))
        return cls(
            id=data.get("id") or data.get("job_id", ""),
            kind=job_kind(data.get("kind")),
            status=status,
            human_readable_status=data.get("human_readable_status") or _HUMAN_STATUS[status],
            user=data.get("user", ""),
            runner=data.get("runner", ""),
            created_at=_datetime(data.get("created_at")),
            started_at=_datetime(data.get("started_at")),
            finished_at=_datetime(data.get("finished_at")),
            ref=data.get("ref"),
            tx_ref=data.get("tx_ref"),
            error=(data.get("error") or {}).get("message")
            if isinstance(data.get("error"), dict)
            else data.get("error"),
            project_name=data.get("project_name"),
            models=data.get("models", []),
        )


class JobContext(_Value):
    """What a job ran: `ref`, `tx_ref`, the DAG, project, and (when asked) logs and snapshot."""

    _repr_fields = ("id", "ref")

    @classmethod
    def from_json(cls, data, logs=None):
        dag = data.get("dag") or {}
        nodes = [
            DAGNode(id=n.get("id", n.get("name")), name=n.get("name"))
            if isinstance(n, dict)
            else DAGNode(id=n, name=n)
            for n in data.get("dag_nodes", dag.get("nodes", []))
        ]
        edges = [
            DAGEdge(
                source_model=e.get("source_model", e.get("from")),
                destination_model=e.get("destination_model", e.get("to")),
            )
            for e in data.get("dag_edges", dag.get("edges", []))
        ]
        return cls(
            id=data.get("id") or data.get("job_id", ""),
            ref=data.get("ref"),
            tx_ref=data.get("tx_ref") or data.get("run_branch"),
            project_id=data.get("project_id"),
            project_name=data.get("project_name"),
            dag_nodes=nodes,
            dag_edges=edges,
            logs=[JobLogEvent.from_json(e) for e in (logs or [])],
            snapshot_dict=dict(data.get("snapshot_dict") or data.get("snapshot") or {}),
        )
