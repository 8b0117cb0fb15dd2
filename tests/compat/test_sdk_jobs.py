"""The SDK's jobs (issue 8 §4 through §3): detached runs, get_job(s), logs, contexts and
cancellation, embedded (the run goes on in the data home's server) and remote."""

import time
import types

import pytest

from bauplan import exceptions
from bauplan.schema import Job, JobContext, JobKind, JobLogEvent, JobState

MODELS = """
    import bauplan

    @bauplan.model(materialization_strategy="REPLACE")
    @bauplan.python("3.11")
    def fares(titanic=bauplan.Model("titanic", columns=["PassengerId", "Fare"])):
        print("fares seen:", titanic.num_rows)
        return titanic
    """
SLOW = """
    import bauplan

    @bauplan.model()
    @bauplan.python("3.11")
    def slow(titanic=bauplan.Model("titanic")):
        import time
        time.sleep(60)
        return titanic
    """


def wait_for(client, job_id, states=("COMPLETE", "FAIL", "ABORT"), timeout=120):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        job = client.get_job(job_id)
        if job.status in states:
            return job
        time.sleep(0.2)
    raise AssertionError(f"job {job_id} still {client.get_job(job_id).status}")


def test_a_detached_run_is_a_job(client, make_project):
    project = make_project({"models.py": MODELS})
    started = client.run(str(project), ref="tester.dev", detach=True)
    assert started.job_id and started.job_status == "RUNNING" and started.ctx.detach is True
    job = wait_for(client, started.job_id)
    assert isinstance(job, Job) and job.status == JobState.COMPLETE and job.kind == JobKind.RUN
    assert job.user == "tester" and job.human_readable_status == "complete"
    assert job.created_at is not None and job.finished_at >= job.started_at
    assert client.has_table("fares", "tester.dev")
    # Listing: lazy, newest first, with bauplan's filters in their several forms.
    jobs = client.get_jobs()
    assert isinstance(jobs, types.GeneratorType)
    assert job.id in {j.id for j in jobs}
    assert [j.id for j in client.get_jobs(filter_by_ids=job.id)] == [job.id]
    assert job.id in {j.id for j in client.get_jobs(filter_by_kinds=JobKind.RUN)}
    assert job.id in {j.id for j in client.get_jobs(filter_by_kinds=["run"], filter_by_statuses="complete")}
    assert job.id not in {j.id for j in client.get_jobs(filter_by_statuses=[JobState.FAIL])}
    assert job.id not in {j.id for j in client.get_jobs(filter_by_users="somebody_else")}
    assert len(list(client.get_jobs(limit=1, all_users=True))) == 1
    assert list(client.get_jobs(filter_by_created_after=job.created_at.replace(year=2100))) == []
    # Logs and context.
    logs = client.get_job_logs(job)
    assert all(isinstance(e, JobLogEvent) for e in logs)
    assert any("fares seen: 6" in e.message for e in logs)
    ctx = client.get_job_context(job.id, include_logs=True, include_snapshot=True)
    assert isinstance(ctx, JobContext) and ctx.id == job.id and ctx.ref == "tester.dev"
    assert [n.name for n in ctx.dag_nodes] == ["fares"]
    assert any("fares seen" in e.message for e in ctx.logs) and "models.py" in ctx.snapshot_dict
    assert [c.id for c in client.get_job_contexts([job])] == [job.id]
    # A finished job cannot be cancelled.
    with pytest.raises(exceptions.ConflictError):
        client.cancel_job(job.id)


def test_cancel_a_running_job(client, make_project):
    project = make_project({"models.py": SLOW})
    before = client.get_branch("tester.dev").hash
    started = client.run(str(project), ref="tester.dev", detach=True)
    wait_for(client, started.job_id, states=("RUNNING",), timeout=60)
    assert client.cancel_job(started.job_id) is None
    job = wait_for(client, started.job_id, timeout=60)
    assert job.status == JobState.ABORT
    assert client.get_branch("tester.dev").hash == before  # nothing merged


def test_jobs_errors(client):
    with pytest.raises(exceptions.JobNotFoundError) as error:
        client.get_job("0123456789ab")
    assert isinstance(error.value, exceptions.ResourceNotFoundError)
    with pytest.raises(exceptions.BadRequestError):
        client.get_job("../../etc/passwd")
    with pytest.raises(exceptions.NotFoundError):
        client.cancel_job("0123456789ab")
    with pytest.raises(TypeError):
        client.get_job_logs(12)
