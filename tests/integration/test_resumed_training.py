"""A training run whose worker was killed resumes from its checkpoint on the next delivery, and the sweep re-queues it.

The worker is started by the test on a queue of its own, killed outright (SIGKILL of its main process and its pool)
after the run wrote a checkpoint, and started again; the task's message is sent again, as a broker with acks_late
redelivers it (Redis after its visibility timeout; the filesystem broker of the tests never does).
"""
import time

import pytest
from django.conf import settings

from config.sweep import runs_sweep
from modeling.critic import storage, training_job
from modeling.critic.models import CriticVersion
from modeling.critic.tasks import critic_retrain
from tests.modeling.critic.scorable import trainable_version

READY_TIMEOUT_S = 90
TRAINING_TIMEOUT_S = 240
STEPS, CHECKPOINT_EVERY = 80, 5
RESUMABLE = {
    "optimisation": {"max_steps": STEPS, "batch_size": 2, "vision_warmup_steps": 0, "checkpoint_every": CHECKPOINT_EVERY},
    "data": {"heldout_fraction": 0.3}, "evaluate_base": False,
}


@pytest.fixture
def workers(queue_workers):
    """Workers on a queue of this test's own, started (and restarted) by the test (conftest's `queue_workers`)."""
    return queue_workers("loupe-resume", ready_timeout_s=READY_TIMEOUT_S, OMP_NUM_THREADS="1")


def _wait(version: CriticVersion, workers, done, what: str) -> None:
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
    version = trainable_version(project, RESUMABLE)
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

    version = trainable_version(project, RESUMABLE)
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
