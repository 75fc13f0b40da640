"""The critic's tasks through a real worker and broker: retrain end to end; a killed run fails and leaves the active version alone."""
import time

import pytest
from django.utils import timezone

from annotation.vocabulary import TaskKind
from modeling.critic import services as critic_services
from modeling.critic.data import heldout_split
from modeling.critic.models import CriticScore, CriticVersion
from tests.evaluation.judgement_builders import annotators_make, judgements_add
from tests.work_data import project_images

pytestmark = [pytest.mark.worker, pytest.mark.django_db(transaction=True)]

QUICK = {"optimisation": {"max_steps": 2, "batch_size": 2, "vision_warmup_steps": 2}, "data": {"heldout_fraction": 0.3}}
LONG = {"optimisation": {"max_steps": 400, "batch_size": 2, "vision_warmup_steps": 0}, "data": {"heldout_fraction": 0.3}}


def _labelled(project):
    images = project_images(project, 24)
    train_ids, _ = heldout_split(project=project, fraction=0.3)
    train = [image for image in images if image.pk in set(train_ids.tolist())]
    judgements_add(project, [(image, 1 + i % 5) for i, image in enumerate(train)], annotators_make(project, 2), kind=TaskKind.RATING)
    return images


def _wait(version, done, *, timeout_s=120, worker=None):
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        version.refresh_from_db()
        if done(version):
            return version
        time.sleep(0.2)
    log = worker.log_tail() if worker else ""
    pytest.fail(f"v{version.number} stuck at {version.status} step {version.step}: {version.error}\n{log}")


def test_retrain_and_scoring_run_on_the_worker(celery_worker, worker_media_root, project):
    """Retrain through the broker ends ready with metrics; promoting it scores the pool on the worker."""
    images = _labelled(project)
    version = critic_services.critic_version_request(project=project, overrides=QUICK)
    version = _wait(version, lambda v: not v.is_pending, worker=celery_worker)
    assert version.status == CriticVersion.Status.READY, version.error
    assert version.metrics["evaluated"] and version.n_judgements > 0 and version.attempt == 1
    critic_services.critic_version_promote(version=version)
    _wait(version, lambda v: v.score_status in ("done", "failed"), worker=celery_worker)
    assert version.score_status == "done" and CriticScore.objects.filter(version=version).count() == len(images)


def test_killed_training_fails_leaves_active_alone_and_retry_starts_clean(celery_worker, worker_media_root, project):
    """SIGKILL of the pool process mid-training: the redelivered task marks the run failed, the active version
    stays active, and Retry makes a fresh version that starts from step 0 (cancelled here to end quickly)."""
    import psutil

    _labelled(project)
    active = CriticVersion.objects.create(
        project=project, number=1, status=CriticVersion.Status.ACTIVE, base_model_dir="/x", metrics={"evaluated": True},
        artifact_sha256="0" * 64, activated_at=timezone.now(),
    )
    version = critic_services.critic_version_request(project=project, overrides=LONG)
    version = _wait(version, lambda v: v.status == "training" and v.step >= 2, worker=celery_worker)
    children = psutil.Process(celery_worker.process.pid).children()
    assert children, "the worker has no pool process"
    children[0].kill()

    version = _wait(version, lambda v: not v.is_pending, worker=celery_worker)
    assert version.status == CriticVersion.Status.FAILED and "stopped mid-run" in version.error, version.error
    assert version.step < 400 and not version.artifact_sha256
    active.refresh_from_db()
    assert active.status == CriticVersion.Status.ACTIVE
    log = celery_worker.log_tail()
    assert "WorkerLostError" in log or "signal 9" in log

    retry = critic_services.critic_version_retry(version=version)
    assert retry.pk != version.pk and retry.parent_id == version.pk
    retry = _wait(retry, lambda v: v.status == "training" and v.step >= 1, worker=celery_worker)
    assert retry.attempt == 1 and retry.total_steps == 400 and not retry.error
    critic_services.critic_version_cancel(version=retry)
    retry = _wait(retry, lambda v: not v.is_pending, worker=celery_worker)
    assert retry.status == CriticVersion.Status.CANCELLED
    assert CriticVersion.objects.get(status=CriticVersion.Status.ACTIVE) == active
