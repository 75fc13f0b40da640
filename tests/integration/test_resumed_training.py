"""A training run whose worker was killed resumes from its checkpoint on the next delivery, and the sweep re-queues it.

The worker is started by the test on a queue of its own, killed outright (SIGKILL of its main process and its pool)
after the run wrote a checkpoint, and started again; the task's message is sent again, as a broker with acks_late
redelivers it (Redis after its visibility timeout; the filesystem broker of the tests never does).
"""
import os
import signal
import subprocess
import time

import pytest
from django.conf import settings

from annotation.vocabulary import TaskKind
from config.sweep import runs_sweep
from modeling.critic import services as critic_services, storage, training_job
from modeling.critic.data import heldout_split, judgement_last_id
from modeling.critic.models import CriticVersion
from modeling.critic.tasks import critic_retrain
from tests.conftest import LOOPBACK_ENDPOINTS, REPO_ROOT, _celery_command, _database_url, _stop_worker
from tests.evaluation.judgement_builders import annotators_make, judgements_add
from tests.work_data import project_images

READY_TIMEOUT_S = 90
TRAINING_TIMEOUT_S = 240
STEPS, CHECKPOINT_EVERY = 80, 5
RESUMABLE = {
    "optimisation": {"max_steps": STEPS, "batch_size": 2, "vision_warmup_steps": 0, "checkpoint_every": CHECKPOINT_EVERY},
    "data": {"heldout_fraction": 0.3}, "evaluate_base": False,
}


def _resumable_version(project, overrides=RESUMABLE) -> CriticVersion:
    """A queued tiny-critic version that writes a checkpoint every few steps (not enqueued)."""
    images = project_images(project, 24)
    train_ids, _ = heldout_split(project=project, fraction=0.3)
    train = [image for image in images if image.pk in set(train_ids.tolist())]
    judgements_add(project, [(image, 1 + i % 5) for i, image in enumerate(train)], annotators_make(project, 2), kind=TaskKind.RATING)
    base_dir, _ = storage.critic_tiny_base_ensure(storage.critic_base_dir())
    chosen = critic_services._merged(critic_services.training_settings_default(tiny=True), overrides)
    version = CriticVersion.objects.create(
        project=project, number=1, base_model_dir=str(base_dir), is_tiny=True, training_settings=chosen,
        last_judgement_id=judgement_last_id(project=project),
    )
    version.artifact_dir = f"{project.pk}/{version.pk}"
    version.save(update_fields=["artifact_dir"])
    return version


class _Workers:
    """Start (and restart) a `celery worker -c 1` on the test database, consuming only `queue`."""

    def __init__(self, env: dict, queue: str, log_dir):
        self.env, self.queue, self.log_dir, self.process, self.started = env, queue, log_dir, None, 0

    def start(self) -> subprocess.Popen:
        self.started += 1
        self.log_path = self.log_dir / f"worker-{self.started}.log"
        with self.log_path.open("wb") as log_file:
            self.process = subprocess.Popen(
                _celery_command("worker", "-Q", self.queue, "-c", "1", "--without-gossip", "--without-mingle", "-l", "info",
                                "-n", f"{self.queue}-{self.started}@%h"),
                cwd=REPO_ROOT, env=self.env, stdout=log_file, stderr=subprocess.STDOUT, start_new_session=True,
            )
        deadline = time.monotonic() + READY_TIMEOUT_S
        while not any(line.rstrip().endswith("ready.") for line in self.log_path.read_text(errors="replace").splitlines()):
            if self.process.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"the worker did not start:\n{self.log()}")
            time.sleep(0.2)
        return self.process

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")[-5000:]

    def kill(self) -> None:
        """SIGKILL of the main process, then of its whole group (the pool), as the OOM killer or a container stop does."""
        import psutil

        pool = psutil.Process(self.process.pid).children()
        os.kill(self.process.pid, signal.SIGKILL)
        self.process.wait(timeout=10)
        os.killpg(self.process.pid, signal.SIGKILL)
        psutil.wait_procs(pool, timeout=10)


@pytest.fixture
def workers(django_db_blocker, tmp_path, worker_media_dir):
    from django.db import connection

    with django_db_blocker.unblock():
        database_url = _database_url(connection.settings_dict)
    env = {
        **os.environ, "LOUPE_ENV": "test", "DATABASE_URL": database_url, "CELERY_BROKER_URL": settings.CELERY_BROKER_URL,
        "LOUPE_VAR_DIR": str(settings.VAR_DIR), "MEDIA_ROOT": str(worker_media_dir), "LOG_LEVEL": "INFO", "PYTHONUNBUFFERED": "1",
        "OMP_NUM_THREADS": "1", **LOOPBACK_ENDPOINTS,
    }
    pool = _Workers(env, f"loupe-resume-{os.getpid()}-{time.monotonic_ns()}", tmp_path)
    try:
        yield pool
    finally:
        if pool.process is not None:
            _stop_worker(pool.process)


def _wait(version: CriticVersion, workers: _Workers, done, what: str) -> None:
    deadline = time.monotonic() + TRAINING_TIMEOUT_S
    while True:
        version.refresh_from_db()
        if done(version):
            return
        if time.monotonic() > deadline or version.status in (CriticVersion.Status.FAILED, CriticVersion.Status.CANCELLED):
            pytest.fail(f"waiting for {what}: v{version.number} {version.status} step {version.step}: {version.error}\n{workers.log()}")
        time.sleep(0.2)


@pytest.mark.worker
@pytest.mark.django_db(transaction=True)
def test_a_killed_worker_s_run_resumes_from_its_checkpoint_with_the_same_number_of_steps(workers, worker_media_root, project):
    """SIGKILL mid-run after a checkpoint, a new worker, the message again: the run goes on from the checkpoint
    (attempt 2) and ends ready with all its optimiser steps; the resume-only files are gone from the artifact."""
    version = _resumable_version(project)
    workers.start()
    critic_retrain.apply_async(args=[version.pk], queue=workers.queue)
    folder = storage.version_path(version)
    _wait(version, workers, lambda v: v.status == CriticVersion.Status.TRAINING and training_job.can_resume(folder), "a checkpoint")
    workers.kill()
    version.refresh_from_db()
    assert version.status == CriticVersion.Status.TRAINING and version.step < STEPS, "the run ended before the kill"

    workers.start()
    critic_retrain.apply_async(args=[version.pk], queue=workers.queue)  # the redelivery
    _wait(version, workers, lambda v: v.status == CriticVersion.Status.READY, "the resumed run to finish")
    assert version.attempt == 2
    assert version.metrics["resumed_from_step"] >= CHECKPOINT_EVERY and version.metrics["resumed_from_step"] % CHECKPOINT_EVERY == 0
    assert version.metrics["optimizer_steps"] == STEPS and version.total_steps == STEPS
    assert version.training_settings["scale"] == {"processes": 1, "strategy": "ddp", "global_batch_size": 2, "gradient_accumulation_steps": 1}
    assert not training_job.can_resume(folder) and not (folder / training_job.CHECKPOINT_DIR).exists()
    assert version.can_be_activated and version.artifact_sha256  # a resumed run is a normal ready version


@pytest.mark.django_db
def test_the_sweep_requeues_a_stale_run_that_has_a_checkpoint(project, django_capture_on_commit_callbacks):
    """A training run that lost its worker after writing a checkpoint goes back to the queue with its task sent again;
    one without a checkpoint is failed as before."""
    from datetime import timedelta

    from django.utils import timezone

    from modeling.critic.core.checkpoint import checkpoint_save
    import torch

    version = _resumable_version(project)
    stale = timezone.now() - timedelta(seconds=settings.LOUPE_RUN_STALE_AFTER_S + 60)
    CriticVersion.objects.filter(pk=version.pk).update(status=CriticVersion.Status.TRAINING, heartbeat_at=stale, worker="elsewhere:1", attempt=1)
    folder = storage.version_path(version)
    folder.mkdir(parents=True, exist_ok=True)
    (folder / training_job.TRAINING_SET_FILE).write_bytes(b"")
    layer = torch.nn.Linear(2, 2)
    optimizer = torch.optim.AdamW(layer.parameters())
    checkpoint_save(folder / training_job.CHECKPOINT_DIR, model=layer, trainable_names=["weight"], optimizer=optimizer,
                    scheduler=torch.optim.lr_scheduler.LambdaLR(optimizer, lambda step: 1.0), position={"processes": 1})
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        changed = runs_sweep()
    version.refresh_from_db()
    assert changed["modeling.CriticVersion"] == 1 and version.status == CriticVersion.Status.QUEUED and not version.error
    assert len(callbacks) == 1  # critic_retrain sent again once the sweep's transaction commits

    training_job.resume_files_remove(folder)
    CriticVersion.objects.filter(pk=version.pk).update(status=CriticVersion.Status.TRAINING, heartbeat_at=stale)
    assert runs_sweep()["modeling.CriticVersion"] == 1
    version.refresh_from_db()
    assert version.status == CriticVersion.Status.FAILED and "Retry" in version.error
