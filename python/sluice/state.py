"""What a run, import or table plan did (also `bauplan.state`): `job_id`, `job_status`
("SUCCESS", "FAILED", "RUNNING" for a detached job), `error`, and `ctx`, the arguments it
was started with."""
import datetime as _dt

from sluice.schema import JobLogEvent, _Value


class _State(_Value):
    _repr_fields = ("job_id", "job_status")


class RunExecutionContext(_State):
    _repr_fields = ("ref", "project_dir")


class RunState(_State):
    """A run's outcome. Runs do not raise for a failed model: check `job_status`.
    Also keeps Sluice's report: `report`, `run_branch`, `models`, `warnings`."""

    @classmethod
    def from_report(cls, report, ctx, started_ns):
        seconds = report.get("seconds")
        ended = started_ns + int(seconds * 1e9) if isinstance(seconds, (int, float)) else None
        logs, started, stopped = [], {}, {}
        for model in report.get("models") or []:
            name = model.get("name", "")
            for line in model.get("output") or []:
                logs.append(JobLogEvent.from_json({"message": line, "model": name}))
            if model.get("user_start"):
                started[name] = _dt.datetime.fromtimestamp(model["user_start"], tz=_dt.timezone.utc)
            if model.get("user_return"):
                stopped[name] = _dt.datetime.fromtimestamp(model["user_return"], tz=_dt.timezone.utc)
        for line in report.get("output") or []:
            logs.append(JobLogEvent.from_json(line))
        for warning in report.get("warnings") or []:
            logs.append(JobLogEvent.from_json({"message": warning, "level": "WARN", "stream": "STDERR"}))
        status = report.get("job_status") or ("RUNNING" if report.get("job_id") else "FAILED")
        return cls(report=report, ctx=ctx, job_id=report.get("job_id"), job_status=status,
                   error=report.get("error"), run_branch=report.get("run_branch"),
                   models=report.get("models", []), warnings=report.get("warnings", []),
                   started_at_ns=started_ns, ended_at_ns=ended,
                   duration=seconds if ended else None,
                   duration_ns=ended - started_ns if ended else None,
                   tasks_started=started, tasks_stopped=stopped, user_logs=logs)

    def __getitem__(self, key):
        return self.report[key]


class TableDataImportContext(_State):
    _repr_fields = ("table_name", "branch_name")


class TableDataImportState(_State):
    pass


ImportState = TableDataImportState


class TableCreatePlanContext(_State):
    _repr_fields = ("table_name", "branch_name")


class TableCreatePlanState(_State):
    pass


class TableCreatePlanApplyState(_State):
    pass


class ExternalTableCreateContext(_State):
    _repr_fields = ("table_name", "branch_name")


class ExternalTableCreateState(_State):
    pass
