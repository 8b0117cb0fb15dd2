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
        models = report.get("models") or []
        # Model times are on the engine's monotonic clock: placed after the run's start.
        clock = [m[k] for m in models for k in ("worker_start", "user_start") if m.get(k)]
        base = min(clock) if clock else 0.0

        def wall(seconds):
            return _dt.datetime.fromtimestamp(started_ns / 1e9 + seconds - base, tz=_dt.UTC)

        for model in models:
            name = model.get("name", "")
            if model.get("user_start"):
                started[name] = wall(model["user_start"])
            if model.get("user_return"):
                stopped[name] = wall(model["user_return"])
        for line in report.get("output") or []:
            logs.append(JobLogEvent.from_json(line))
        for warning in report.get("warnings") or []:
            logs.append(JobLogEvent.from_json({"message": warning, "level": "WARN", "stream": "STDERR"}))
        status = report.get("job_status") or ("RUNNING" if report.get("job_id") else "FAILED")
        return cls(
            report=report,
            ctx=ctx,
            job_id=report.get("job_id"),
            job_status=status,
            error=report.get("error"),
            run_branch=report.get("run_branch"),
            models=report.get("models", []),
            warnings=report.get("warnings", []),
            started_at_ns=started_ns,
            ended_at_ns=ended,
            duration=seconds if ended else None,
            duration_ns=ended - started_ns if ended else None,
            tasks_started=started,
            tasks_stopped=stopped,
            user_logs=logs,
        )

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
