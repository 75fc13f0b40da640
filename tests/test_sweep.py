"""The periodic sweep (config/sweep.py): stale runs of every kind failed, leases expired, old task results pruned."""
from datetime import timedelta

import pytest
from django.conf import settings as django_settings
from django.utils import timezone
from django_celery_results.models import TaskResult

from annotation.models import ImportBatch, Lease
from config.runs import run_stale_after
from config.sweep import run_models, runs_sweep
from evaluation.models import ScalingRun
from exports.models import ExportJob
from modeling.critic.models import CriticVersion
from studies.models import Study, System
from system_benchmarks.models import BenchmarkRun
from tests.factories import WorkItemFactory

pytestmark = pytest.mark.django_db


def _one_of_each(project, researcher, *, heartbeat_at) -> list:
    """A working row of each of the five run kinds, last heard from at `heartbeat_at`, on another host."""
    alive = {"worker": "elsewhere:1", "heartbeat_at": heartbeat_at, "attempt": 1}
    study = Study.objects.create(project=project, name=f"study {heartbeat_at.timestamp()}", created_by=researcher)
    number = CriticVersion.objects.filter(project=project).count() + 1
    return [
        CriticVersion.objects.create(project=project, number=number, status=CriticVersion.Status.TRAINING, base_model_dir="/x", **alive),
        BenchmarkRun.objects.create(project=project, system_kind="endpoint", subset_size=1, status=BenchmarkRun.Status.RUNNING, **alive),
        System.objects.create(study=study, name="endpoint", kind=System.Kind.ENDPOINT, status=System.Status.RUNNING, **alive),
        ScalingRun.objects.create(project=project, status=ScalingRun.Status.RUNNING, **alive),
        ExportJob.objects.create(project=project, formats=["csv"], status=ExportJob.Status.RUNNING, **alive),
        ImportBatch.objects.create(project=project, source=ImportBatch.Source.UPLOAD, status=ImportBatch.Status.RUNNING, **alive),
    ]


def test_every_run_kind_is_swept():
    """The sweep finds the six run kinds through the kernel's abstract model."""
    assert {model._meta.label for model in run_models()} == {
        "modeling.CriticVersion", "system_benchmarks.BenchmarkRun", "studies.System", "evaluation.ScalingRun", "exports.ExportJob",
        "annotation.ImportBatch",
    }


def test_stale_runs_of_each_kind_are_failed_and_fresh_ones_are_left(project, researcher):
    """A run of each kind (six) silent past the stale limit ends failed with the reason; one that beats keeps running."""
    stale = _one_of_each(project, researcher, heartbeat_at=timezone.now() - run_stale_after() - timedelta(seconds=5))
    fresh = _one_of_each(project, researcher, heartbeat_at=timezone.now())
    changed = runs_sweep()
    assert all(changed[row._meta.label] == 1 for row in stale)
    for row in stale:
        row.refresh_from_db()
        assert row.status == row.RUN_FAILED, row
        assert row.error.startswith("The worker stopped answering") and row.finished_at is not None
    for row in fresh:
        before = row.status
        row.refresh_from_db()
        assert row.status == before and not row.error and row.finished_at is None


def test_queued_and_finished_runs_are_not_touched(project):
    """Only working rows can go stale: queued and finished ones are left as they are."""
    queued = ExportJob.objects.create(project=project, formats=["csv"])
    done = ScalingRun.objects.create(project=project, status=ScalingRun.Status.DONE, heartbeat_at=timezone.now() - timedelta(days=2))
    runs_sweep()
    queued.refresh_from_db()
    done.refresh_from_db()
    assert (queued.status, done.status) == (ExportJob.Status.QUEUED, ScalingRun.Status.DONE)


def test_expired_leases_are_expired_and_live_ones_kept(project, annotator_member):
    """A lease past its expiry is closed (its item goes back to the queue); one still running is kept."""
    annotator = annotator_member
    now = timezone.now()
    expired = Lease.objects.create(
        item=WorkItemFactory(project=project), annotator=annotator, issued_at=now - timedelta(hours=1), expires_at=now - timedelta(minutes=1),
    )
    live = Lease.objects.create(
        item=WorkItemFactory(project=project), annotator=annotator, issued_at=now, expires_at=now + timedelta(minutes=10),
    )
    assert runs_sweep()["leases"] == 1
    expired.refresh_from_db()
    live.refresh_from_db()
    assert expired.status == Lease.Status.EXPIRED and expired.closed_at == expired.expires_at
    assert live.status == Lease.Status.ACTIVE


def test_task_results_older_than_result_expires_are_pruned():
    """Task results older than CELERY_RESULT_EXPIRES are deleted; newer ones are kept."""
    old = TaskResult.objects.create(task_id="old", status="SUCCESS")
    new = TaskResult.objects.create(task_id="new", status="SUCCESS")
    TaskResult.objects.filter(pk=old.pk).update(
        date_done=timezone.now() - timedelta(seconds=django_settings.CELERY_RESULT_EXPIRES) - timedelta(hours=1),
    )
    runs_sweep()
    assert list(TaskResult.objects.values_list("task_id", flat=True)) == [new.task_id]


def test_the_sweep_is_scheduled_by_beat_on_the_default_queue():
    """Beat runs the sweep every LOUPE_RUN_SWEEP_EVERY_S; the task is registered and routed to `default`."""
    from config.celery import app

    app.loader.import_default_modules()
    entry = django_settings.CELERY_BEAT_SCHEDULE["runs-sweep"]
    assert entry["task"] == "config.runs_sweep" and entry["task"] in app.tasks
    assert app.amqp.router.route({}, entry["task"])["queue"].name == "default"
    assert django_settings.CELERY_RESULT_EXPIRES > 0 and str(django_settings.CELERY_BEAT_SCHEDULE_FILENAME).startswith(str(django_settings.VAR_DIR))


def test_a_step_that_raises_is_logged_and_the_other_steps_still_run(project, annotator_member, monkeypatch, caplog):
    """E.g. the broker is down while a lost chunk is re-sent: lease expiry and the rest of the pass go on."""
    from config import sweep

    def broker_down():
        raise ConnectionError("broker unreachable")

    monkeypatch.setitem(sweep._STEPS, "broken step", broker_down)
    now = timezone.now()
    expired = Lease.objects.create(
        item=WorkItemFactory(project=project), annotator=annotator_member, issued_at=now - timedelta(hours=1), expires_at=now - timedelta(minutes=1),
    )
    changed = runs_sweep()
    assert changed["broken step"] == 0 and changed["leases"] == 1
    expired.refresh_from_db()
    assert expired.status == Lease.Status.EXPIRED
    assert "Sweep: step broken step failed" in caplog.text
