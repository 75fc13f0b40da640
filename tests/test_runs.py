"""The run-row kernel (config/runs.py): claim, heartbeat, finish, fail, the one stale rule and the keepalive thread."""
import socket
import subprocess
import sys
import time
from datetime import timedelta

import pytest
from django.utils import timezone

from config.processes import worker_identity
from config.runs import (
    run_claim, run_fail, run_finish, run_heartbeat, run_is_stale, run_keepalive, run_stale_after, runs_stale_fail,
)
from evaluation.models import ScalingRun
from modeling.critic.models import CriticVersion
from system_benchmarks.models import BenchmarkRun

pytestmark = pytest.mark.django_db


def _dead_pid() -> int:
    process = subprocess.Popen([sys.executable, "-c", "pass"])
    process.wait()
    return process.pid


def _running(project, *, heartbeat_ago: timedelta = timedelta(0), worker: str = "elsewhere:1", attempt: int = 1) -> ScalingRun:
    return ScalingRun.objects.create(
        project=project, status=ScalingRun.Status.RUNNING, worker=worker, attempt=attempt,
        heartbeat_at=timezone.now() - heartbeat_ago, started_at=timezone.now() - heartbeat_ago,
    )


def test_claim_of_a_queued_row_marks_it_running_for_this_process(project):
    """A queued row is claimed: running, attempt 1, this process as its worker, a fresh heartbeat, the given fields set."""
    run = ScalingRun.objects.create(project=project)
    claimed = run_claim(ScalingRun, run.pk, fields={"last_judgement_id": 7})
    run.refresh_from_db()
    assert claimed is not None and claimed.pk == run.pk
    assert (run.status, run.attempt, run.worker, run.last_judgement_id) == (ScalingRun.Status.RUNNING, 1, worker_identity(), 7)
    assert run.heartbeat_at is not None and run.started_at is not None and run.finished_at is None


def test_claim_of_a_running_row_with_a_fresh_heartbeat_is_refused(project):
    """A second delivery while the worker still beats is dropped and changes nothing."""
    run = _running(project)
    assert run_claim(ScalingRun, run.pk) is None
    run.refresh_from_db()
    assert (run.status, run.attempt, run.worker) == (ScalingRun.Status.RUNNING, 1, "elsewhere:1")


def test_claim_of_a_stale_row_takes_it_over_with_the_next_attempt(project):
    """A running row silent for longer than the stale limit is taken over by the next delivery: attempt + 1."""
    run = _running(project, heartbeat_ago=run_stale_after() + timedelta(seconds=1))
    claimed = run_claim(ScalingRun, run.pk)
    assert claimed is not None
    run.refresh_from_db()
    assert (run.status, run.attempt, run.worker) == (ScalingRun.Status.RUNNING, 2, worker_identity())
    assert run.heartbeat_at > timezone.now() - timedelta(seconds=5)


def test_claim_takes_over_at_once_when_the_process_on_this_host_is_gone(project):
    """A fresh heartbeat does not keep a row whose process on this host is dead (the same-host process check)."""
    run = _running(project, worker=f"{socket.gethostname()}:{_dead_pid()}")
    assert run_is_stale(run)
    assert run_claim(ScalingRun, run.pk) is not None
    run.refresh_from_db()
    assert run.attempt == 2


def test_a_stale_row_of_a_kind_that_does_not_resume_is_failed_by_the_claim(project):
    """A critic version's training does not resume: the redelivery fails it with the reason and does not claim it."""
    version = CriticVersion.objects.create(
        project=project, number=1, status=CriticVersion.Status.EVALUATING, base_model_dir="/x", attempt=1,
        worker=f"{socket.gethostname()}:{_dead_pid()}", heartbeat_at=timezone.now(),
    )
    assert run_claim(CriticVersion, version.pk) is None
    version.refresh_from_db()
    assert version.status == CriticVersion.Status.FAILED and "stopped answering" in version.error and version.finished_at


def test_claim_of_a_finished_row_does_nothing(project):
    """Done, failed or cancelled: a redelivered message changes nothing."""
    run = ScalingRun.objects.create(project=project, status=ScalingRun.Status.DONE)
    assert run_claim(ScalingRun, run.pk) is None
    assert run_claim(ScalingRun, run.pk + 1000) is None
    run.refresh_from_db()
    assert run.status == ScalingRun.Status.DONE and run.attempt == 0


def test_claim_of_a_queued_row_with_a_cancel_asked_for_ends_it_cancelled(project):
    """A cancel asked for before a worker took the row ends it cancelled instead of running it."""
    run = BenchmarkRun.objects.create(project=project, system_kind="endpoint", subset_size=1, cancel_requested=True)
    assert run_claim(BenchmarkRun, run.pk) is None
    run.refresh_from_db()
    assert run.status == BenchmarkRun.Status.CANCELLED and run.finished_at is not None


def test_heartbeat_writes_the_time_and_the_progress(project):
    """A heartbeat renews the row's sign of life and writes progress fields in the same update."""
    run = BenchmarkRun.objects.create(project=project, system_kind="endpoint", subset_size=1, status="running")
    old = timezone.now() - timedelta(hours=1)
    BenchmarkRun.objects.filter(pk=run.pk).update(heartbeat_at=old, updated_at=old)
    run_heartbeat(BenchmarkRun, run.pk, n_answered=3)
    run.refresh_from_db()
    assert run.n_answered == 3 and run.heartbeat_at > old and run.updated_at > old


def test_finish_ends_the_run_done_with_its_results(project):
    """Finish: the kind's done status, a finish time and the result fields."""
    run = _running(project)
    run_finish(ScalingRun, run.pk, n_items=5)
    run.refresh_from_db()
    assert (run.status, run.n_items) == (ScalingRun.Status.DONE, 5) and run.finished_at is not None


def test_fail_ends_the_run_failed_with_the_reason(project):
    """Fail: failed (or the status given), the reason people read, a finish time."""
    run = _running(project)
    run_fail(ScalingRun, run.pk, "The fit did not converge.")
    run.refresh_from_db()
    assert (run.status, run.error) == (ScalingRun.Status.FAILED, "The fit did not converge.") and run.finished_at is not None
    other = BenchmarkRun.objects.create(project=project, system_kind="endpoint", subset_size=1, status="running")
    run_fail(BenchmarkRun, other.pk, "Cancelled.", status=BenchmarkRun.Status.CANCELLED)
    other.refresh_from_db()
    assert other.status == BenchmarkRun.Status.CANCELLED


def test_the_stale_limit_is_one_setting(project, settings):
    """The one stale rule reads LOUPE_RUN_STALE_AFTER_S at call time."""
    run = _running(project, heartbeat_ago=timedelta(seconds=90))
    settings.LOUPE_RUN_STALE_AFTER_S = 120
    assert not run_is_stale(run)
    settings.LOUPE_RUN_STALE_AFTER_S = 60
    assert run_is_stale(run)
    assert runs_stale_fail(ScalingRun) == 1


@pytest.mark.django_db(transaction=True)
def test_keepalive_beats_while_the_work_goes_on_and_stops_when_the_row_ends(project, settings):
    """The keepalive thread renews the heartbeat of a claimed row, and stops by itself once the row has ended."""
    settings.LOUPE_RUN_HEARTBEAT_S = 0.05
    run = ScalingRun.objects.create(project=project)
    run_claim(ScalingRun, run.pk)
    ScalingRun.objects.filter(pk=run.pk).update(heartbeat_at=timezone.now() - timedelta(hours=1))
    keepalive = run_keepalive(ScalingRun, run.pk)
    try:
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:
            run.refresh_from_db()
            if run.heartbeat_at > timezone.now() - timedelta(minutes=1):
                break
            time.sleep(0.02)
        assert run.heartbeat_at > timezone.now() - timedelta(minutes=1)
        run_finish(ScalingRun, run.pk)
        keepalive._thread.join(timeout=5)
        assert not keepalive._thread.is_alive()
    finally:
        keepalive.stop()


def test_the_heartbeat_comes_well_inside_the_stale_limit(settings):
    """The default keepalive beats several times within the stale limit, so one late beat never fails a live run."""
    assert 0 < settings.LOUPE_RUN_HEARTBEAT_S * 3 <= settings.LOUPE_RUN_STALE_AFTER_S


def test_a_dead_workers_run_is_ended_within_five_minutes(settings):
    """By default a run silent past the stale limit is failed by the next sweep: both together stay under 5 minutes."""
    sweep_every_s = settings.CELERY_BEAT_SCHEDULE["runs-sweep"]["schedule"]
    assert settings.LOUPE_RUN_STALE_AFTER_S + sweep_every_s <= 300
