"""Critic versions (modeling/critic/services.py, critic_runs.py, critic_data.py): data, training, promotion, scoring, prior."""
import os
import socket
import subprocess
import sys
from datetime import timedelta

import numpy as np
import pytest
from django.db import IntegrityError, transaction
from django.utils import timezone

from annotation.models import PairSource, SelectionStrategy, WorkItem
from annotation.vocabulary import TaskKind
from evaluation.models import ItemScore, ScalingRun
from modeling.critic import pool_scoring, runs as critic_runs, services as critic_services, storage
from modeling.selection import services as selection
from modeling.critic.data import CriticDataSettings, heldout_split, judgement_ids_load, scorer_config, training_set_build
from modeling.critic.models import CriticScore, CriticVersion
from tests.evaluation.judgement_builders import annotators_make, judgements_add
from tests.work_data import project_images

#: A few steps on two conversations a batch: enough to exercise the path, quick on CPU.
QUICK = {"optimisation": {"max_steps": 2, "batch_size": 2, "vision_warmup_steps": 2}, "data": {"heldout_fraction": 0.3}, "scoring_batch_size": 8}


@pytest.fixture(scope="module")
def tiny_base(tmp_path_factory):
    """One tiny random base critic for the module (the demo's default base, built offline)."""
    import torch

    torch.set_num_threads(2)
    directory, built = storage.critic_tiny_base_ensure(tmp_path_factory.mktemp("critic-base") / "tiny")
    assert built
    return directory


def test_the_default_base_is_the_demo_size_in_its_own_folder(tiny_base, settings, tmp_path):
    """The tiny base is DEMO_TINY_CRITIC (384 px through 48 px patches: 64 tokens a tile), a built base is
    kept, and the default folder is named by its size, so a var dir's older 64 px base ("tiny-base") stays
    for the versions trained from it."""
    import json
    from dataclasses import asdict

    from modeling.critic.core.tiny import DEMO_TINY_CRITIC

    assert json.loads((tiny_base / storage.TINY_MARKER).read_text()) == asdict(DEMO_TINY_CRITIC)
    assert json.loads((tiny_base / "config.json").read_text())["vision_config"]["image_size"] == 384
    assert storage.critic_tiny_base_ensure(tiny_base) == (tiny_base, False)
    settings.VAR_DIR, settings.LOUPE_CRITIC_BASE_DIR = str(tmp_path), ""
    assert storage.critic_base_dir() == tmp_path / "critic" / "tiny-base-384px" != tmp_path / "critic" / "tiny-base"


@pytest.fixture
def critic_settings(settings, tmp_path, tiny_base):
    settings.LOUPE_CRITIC_BASE_DIR = str(tiny_base)
    settings.LOUPE_CRITIC_DIR = tmp_path / "critic"
    settings.LOUPE_CRITIC_RETRAIN_EVERY = 0
    return settings


@pytest.fixture
def labelled(project):
    """24 real images; pairs and ratings on them, some excluded; returns (images, training ids, held-out ids)."""
    images = project_images(project, 24)
    train_ids, heldout_ids = heldout_split(project=project, fraction=0.3)
    assert len(heldout_ids) >= 3, "the fixed images must give a usable held-out split"
    by_id = {image.pk: image for image in images}
    train = [by_id[i] for i in train_ids]
    heldout = [by_id[i] for i in heldout_ids]
    annotators = annotators_make(project, 3)
    judgements_add(project, [(a, b, "a") for a, b in zip(train[:-1], train[1:])], annotators)
    judgements_add(project, [(image, 1 + i % 5) for i, image in enumerate(train)], annotators, kind=TaskKind.RATING)
    judgements_add(project, [(heldout[0], heldout[1], "b"), (heldout[1], heldout[2], "a")], annotators)
    judgements_add(project, [(heldout[0], train[0], "a")], annotators)
    return images, train, heldout


def _queue(project, **kwargs):
    return critic_services.critic_version_request(project=project, overrides=QUICK, **kwargs)


def _finished(project, number, *, status=CriticVersion.Status.READY, **fields):
    """A version row as a finished run leaves it (no training), for promotion tests."""
    return CriticVersion.objects.create(
        project=project, number=number, status=status, base_model_dir="/x", metrics={"evaluated": True},
        artifact_sha256="0" * 64, **fields,
    )


# ------------------------------------------------------------------------------------------- data


def test_training_set_never_holds_excluded_judgements_or_heldout_images(critic_settings, project, labelled):
    """Excluded judgements and anything touching a held-out image stay out; the split is fixed by content hash."""
    images, train, heldout = labelled
    annotators = annotators_make(project, 1)
    excluded = judgements_add(project, [(train[0], train[5], "b"), (train[2], train[7], "a")], annotators, excluded=True)
    data = CriticDataSettings(heldout_fraction=0.3, curriculum=False, mix={"scoring": 0.5, "relativity": 0.5})

    result = training_set_build(project=project, last_judgement_id=10**9, data=data)

    used = set(result.judgement_ids.tolist())
    assert used and not used & {j.pk for j in excluded}
    held = {str(image.pk) for image in heldout}
    assert not held & {key for c in result.conversations for key in c.images}
    assert set(result.heldout_image_ids.tolist()) == {image.pk for image in heldout}
    assert result.counts["scoring"] > 0 and result.counts["relativity"] > 0
    assert (result.heldout_image_ids == heldout_split(project=project, fraction=0.3)[1]).all()


def test_too_few_images_fail_the_version_with_a_reason(critic_settings, project):
    """A project too small for a held-out split ends failed with a message people can act on."""
    project_images(project, 2)
    version = _queue(project)
    result = critic_runs.critic_version_train(version.pk)
    assert result.status == CriticVersion.Status.FAILED and "held-out" in result.error


# --------------------------------------------------------------------------- training through scoring


def test_version_trains_scores_and_feeds_the_selection_prior(critic_settings, project, labelled, django_capture_on_commit_callbacks, monkeypatch):
    """A queued version trains to ready with metrics, a checksum and a judgement snapshot; once promoted and
    scored, the pair selector calibrates its scores into a prior and records the version on each pair."""
    from modeling.selection import tasks
    from modeling.critic import tasks as tasks_critic

    enqueued = []
    monkeypatch.setattr(tasks_critic.critic_retrain, "delay", lambda *a: enqueued.append(("retrain", a)))
    monkeypatch.setattr(tasks_critic.critic_score_pool, "delay", lambda *a: enqueued.append(("score", a)))
    monkeypatch.setattr(tasks.pair_queue_refill, "delay", lambda *a: enqueued.append(("refill", a)))
    monkeypatch.setattr(tasks.pair_queue_replan, "delay", lambda *a: enqueued.append(("replan", a)))
    images, train, heldout = labelled
    with django_capture_on_commit_callbacks(execute=True):
        version = _queue(project)
    assert enqueued == [("retrain", (version.pk,))] and version.status == CriticVersion.Status.QUEUED

    version = critic_runs.critic_version_train(version.pk)

    assert version.status == CriticVersion.Status.READY, version.error
    assert (version.step, version.total_steps) == (4, 4) and version.loss is not None  # 2 warm-up + 2 steps
    assert version.metrics["vision_warmup"]["steps"] == 2
    assert version.metrics["evaluated"] and version.metrics["n_heldout_images"] == len(heldout)
    assert version.metrics["pairwise"]["n"] == 2  # the two pairs inside the held-out split
    folder = storage.version_path(version)
    from modeling.critic.core.training import artifact_sha256

    assert artifact_sha256(folder)[0] == version.artifact_sha256
    snapshot = judgement_ids_load(folder / version.judgements_file)
    assert snapshot.size == version.n_judgements > 0
    assert critic_runs.critic_version_train(version.pk) is None  # a redelivered message does nothing

    with django_capture_on_commit_callbacks(execute=True):
        critic_services.critic_version_promote(version=version)
    assert ("score", (version.pk,)) in enqueued
    assert pool_scoring.critic_pool_score(version.pk) == len(images)
    assert CriticScore.objects.filter(version=version).count() == len(images)
    score = CriticScore.objects.filter(version=version).first()
    assert 0 <= score.score <= 100 and len(score.probabilities) == 5 and abs(sum(score.probabilities) - 1) < 1e-6
    assert pool_scoring.critic_pool_score(version.pk) == len(images)  # idempotent: rows upserted
    assert CriticScore.objects.filter(version=version).count() == len(images)

    # Human scores for the calibration, then a refill with the critic prior.
    run = ScalingRun.objects.create(project=project, status=ScalingRun.Status.DONE)
    ItemScore.objects.bulk_create([
        ItemScore(run=run, image=image, score=float(i) / 5, variance=0.3, ci_low=0, ci_high=0, score_0_100=0, n_comparisons=2 if i < 12 else 0)
        for i, image in enumerate(images)
    ])
    ids = np.asarray(sorted(image.pk for image in images))
    prior = selection.critic_prior_for_project(project, image_ids=ids)
    assert prior is not None and prior.critic_version_id == version.pk
    assert prior.prior_mean.shape == ids.shape and (prior.prior_var > 0).all()
    project.task_kinds, project.pair_source, project.selection_strategy, project.pair_batch_size = (
        [TaskKind.PAIR], PairSource.PROPOSED, SelectionStrategy.EIG_PRIOR, 4,
    )
    project.save()
    WorkItem.objects.filter(project=project, kind=TaskKind.PAIR).update(retired=True)  # the judged ones above
    result = selection.pair_queue_refill_run(project, rng=np.random.default_rng(0))
    assert result.critic_version_id == version.pk and result.strategy_used == SelectionStrategy.EIG_PRIOR
    proposed = WorkItem.objects.filter(project=project, kind=TaskKind.PAIR).exclude(strategy="")
    assert proposed.exists() and set(proposed.values_list("critic_version_id", flat=True)) == {version.pk}


def test_untrained_base_is_scored_on_the_same_heldout_images(critic_settings, project, labelled, client, researcher, monkeypatch, tiny_base):
    """Before -> after: the version keeps the base's held-out metrics, computed by the base with the run's settings."""
    from modeling.critic import tasks as tasks_critic
    from modeling.critic.core.loading import load_critic
    from modeling.critic.core.lora import CriticTrainingSettings, apply_training_settings
    from modeling.critic.core.scoring import score_images

    monkeypatch.setattr(tasks_critic.critic_retrain, "delay", lambda *a: None)
    _, _, heldout = labelled
    version = critic_runs.critic_version_train(_queue(project).pk)

    base = version.metrics["base"]
    assert base["n_heldout_images"] == version.metrics["n_heldout_images"] == len(heldout)
    assert base["pairwise"]["n"] == version.metrics["pairwise"]["n"] == 2
    assert set(base) >= {"scaling", "mos", "pairwise", "mean_variance"} and "base" not in base
    critic = load_critic(tiny_base)
    adapter = version.training_settings["adapter"]
    apply_training_settings(critic, CriticTrainingSettings(**dict(adapter, projections=tuple(adapter["projections"]))))
    ids = sorted(image.pk for image in heldout)
    load = critic_runs.image_loader(critic_runs.image_names(ids))
    # asked as the run asks: with the scoring prefix when the version's data settings have it (paper 001)
    untrained = score_images(critic, [load(str(i)) for i in ids], batch_size=8, config=scorer_config(version.training_settings))
    assert base["mean_variance"] == pytest.approx(float(np.mean(untrained.variances)), rel=1e-4)
    assert version.metrics["mean_variance"] != pytest.approx(base["mean_variance"], rel=1e-6)  # it trained

    client.force_login(researcher)
    page = client.get(f"/projects/{project.pk}/critic/versions/{version.pk}/")
    assert b'data-testid="critic-before-after"' in page.content and "→".encode() in page.content

    skipped = critic_services.critic_version_request(project=project, overrides={**QUICK, "evaluate_base": False})
    assert "base" not in critic_runs.critic_version_train(skipped.pk).metrics


def test_researcher_asks_a_version_for_descriptions_and_sees_them_arrive(critic_settings, project, labelled, client, researcher, monkeypatch, django_capture_on_commit_callbacks):
    """critic_generate's page: N images (held-out first) are queued, the part polls until their CriticText rows are there."""
    from modeling.critic import tasks as tasks_critic
    from modeling.critic.models import CriticText

    monkeypatch.setattr(tasks_critic.critic_retrain, "delay", lambda *a: None)
    queued = []
    monkeypatch.setattr(tasks_critic.critic_generate, "delay", lambda *a: queued.append(a))
    _, _, heldout = labelled
    version = critic_runs.critic_version_train(_queue(project).pk)
    client.force_login(researcher)
    url = f"/projects/{project.pk}/critic/versions/{version.pk}/generate/"
    htmx = {"HX-Request": "true"}

    for bad, message in (("0", "1 to 50 images"), ("51", "1 to 50 images"), ("three", "whole number")):
        with django_capture_on_commit_callbacks(execute=True):
            response = client.post(url, {"n": bad}, headers=htmx)
        assert message in response.content.decode() and 'role="alert"' in response.content.decode()
    assert queued == []

    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(url, {"n": "2"}, headers=htmx)
    text = response.content.decode()
    assert "<html" not in text and 'hx-trigger="every 2s"' in text and "0 of 2 written" in text
    heldout_ids = sorted(image.pk for image in heldout)
    assert queued == [(version.pk, heldout_ids[:2])]

    tasks_critic.critic_generate.apply(args=queued[0])  # the gpu task, run here
    assert CriticText.objects.filter(version=version).count() == 2
    poll = text.split('hx-get="')[1].split('"')[0].replace("&amp;", "&")
    done = client.get(poll, headers=htmx).content.decode()
    assert 'hx-trigger="every 2s"' not in done and done.count("held out</span>") == 2
    page = client.get(f"/projects/{project.pk}/critic/versions/{version.pk}/").content.decode()
    assert 'data-testid="critic-texts-table"' in page

    pending = critic_services.critic_version_request(project=project, overrides=QUICK)
    response = client.post(f"/projects/{project.pk}/critic/versions/{pending.pk}/generate/", {"n": "1"}, follow=True)
    assert "no trained adapter" in response.content.decode() and len(queued) == 1


def test_cancel_stops_a_running_version_and_saves_nothing(critic_settings, project, labelled, monkeypatch):
    """A cancel asked for mid-run stops training at the next step; the version ends cancelled without an artifact."""
    monkeypatch.setattr(critic_runs, "PROGRESS_EVERY_S", 0.0)
    original = critic_runs.TrainingProgress.__call__

    def progress_then_cancel(self, step, total, loss, eta):
        original(self, step, total, loss, eta)
        if step == 1:
            critic_services.critic_version_cancel(version=CriticVersion.objects.get(pk=self.version_id))

    monkeypatch.setattr(critic_runs.TrainingProgress, "__call__", progress_then_cancel)
    version = critic_services.critic_version_request(project=project, overrides={**QUICK, "optimisation": {"max_steps": 20, "batch_size": 2, "vision_warmup_steps": 2}})
    version = critic_runs.critic_version_train(version.pk)
    assert version.status == CriticVersion.Status.CANCELLED and version.step < 20
    assert not version.artifact_sha256 and not storage.version_path(version).exists()


def test_queued_version_is_cancelled_at_once(critic_settings, project):
    """Cancelling a queued version ends it; its task then finds nothing to do."""
    project_images(project, 3)
    version = critic_services.critic_version_cancel(version=_queue(project))
    assert version.status == CriticVersion.Status.CANCELLED
    assert critic_runs.critic_version_train(version.pk) is None


# ------------------------------------------------------------------------------ killed workers


def _dead_pid() -> int:
    process = subprocess.Popen([sys.executable, "-c", "pass"])
    process.wait()
    return process.pid


def test_redelivered_run_of_a_killed_worker_is_marked_failed_and_active_is_untouched(critic_settings, project):
    """The message comes back after its worker died: the version is marked failed, not trained again."""
    active = _finished(project, 1, status=CriticVersion.Status.ACTIVE, activated_at=timezone.now())
    version = CriticVersion.objects.create(
        project=project, number=2, status=CriticVersion.Status.TRAINING, base_model_dir="/x", attempt=1, step=4, total_steps=10,
        worker=f"{socket.gethostname()}:{_dead_pid()}", heartbeat_at=timezone.now(),
    )
    assert critic_runs.critic_version_train(version.pk) is None
    version.refresh_from_db()
    assert version.status == CriticVersion.Status.FAILED and "stopped mid-run" in version.error
    active.refresh_from_db()
    assert active.status == CriticVersion.Status.ACTIVE

    retry = critic_services.critic_version_retry(version=version)
    assert (retry.status, retry.parent_id, retry.attempt, retry.step, retry.number) == (CriticVersion.Status.QUEUED, version.pk, 0, 0, 3)


def test_duplicate_message_while_the_run_is_alive_is_dropped(critic_settings, project):
    """A second delivery while the first run still beats (a broker redelivering a long task) changes nothing."""
    version = CriticVersion.objects.create(
        project=project, number=1, status=CriticVersion.Status.TRAINING, base_model_dir="/x", attempt=1,
        worker=f"{socket.gethostname()}:{os.getpid()}", heartbeat_at=timezone.now(),
    )
    assert critic_runs.critic_version_train(version.pk) is None
    version.refresh_from_db()
    assert version.status == CriticVersion.Status.TRAINING and version.attempt == 1


def test_version_whose_worker_went_silent_is_failed_by_the_sweep(critic_settings, project):
    """No heartbeat for longer than the stale limit (config.runs): the version is failed when anyone looks."""
    from config.runs import run_stale_after

    version = CriticVersion.objects.create(
        project=project, number=1, status=CriticVersion.Status.TRAINING, base_model_dir="/x", worker="elsewhere:1",
        heartbeat_at=timezone.now() - run_stale_after() - timedelta(seconds=1),
    )
    assert critic_services.critic_versions_stale_fail(project=project) == 1
    version.refresh_from_db()
    assert version.status == CriticVersion.Status.FAILED


def test_cancel_of_a_version_whose_worker_is_gone_ends_it_at_once(critic_settings, project):
    """Cancel of a training version that lost its worker ends it cancelled now (no worker is left to read the flag)."""
    from config.runs import run_stale_after

    version = CriticVersion.objects.create(
        project=project, number=1, status=CriticVersion.Status.TRAINING, base_model_dir="/x", worker="elsewhere:1", attempt=1,
        heartbeat_at=timezone.now() - run_stale_after() - timedelta(seconds=1),
    )
    critic_services.critic_version_cancel(version=version)
    version.refresh_from_db()
    assert version.status == CriticVersion.Status.CANCELLED and version.finished_at is not None
    assert "stopped answering" in version.error and not version.is_pending


def test_cancel_of_a_live_training_version_only_asks(critic_settings, project):
    """A version whose worker still beats keeps training after Cancel; it stops at its next step."""
    version = CriticVersion.objects.create(
        project=project, number=1, status=CriticVersion.Status.TRAINING, base_model_dir="/x", worker="elsewhere:1", attempt=1,
        heartbeat_at=timezone.now(),
    )
    critic_services.critic_version_cancel(version=version)
    version.refresh_from_db()
    assert version.status == CriticVersion.Status.TRAINING and version.cancel_requested


def test_retrain_fails_a_stuck_version_and_queues_a_new_one(critic_settings, project):
    """Retrain while the pending version lost its worker: that one ends failed and a fresh version is queued."""
    from config.runs import run_stale_after

    stuck = CriticVersion.objects.create(
        project=project, number=1, status=CriticVersion.Status.TRAINING, base_model_dir="/x", worker="elsewhere:1", attempt=1,
        heartbeat_at=timezone.now() - run_stale_after() - timedelta(seconds=1),
    )
    version = _queue(project)
    stuck.refresh_from_db()
    assert version.pk != stuck.pk and version.status == CriticVersion.Status.QUEUED and version.number == 2
    assert stuck.status == CriticVersion.Status.FAILED and "stopped answering" in stuck.error


# ------------------------------------------------------------------------------ promotion, rollback


def test_only_finished_evaluated_versions_can_be_promoted(critic_settings, project):
    """Queued, failed or unevaluated versions are refused; nothing becomes active."""
    queued = CriticVersion.objects.create(project=project, number=1, base_model_dir="/x")
    unevaluated = CriticVersion.objects.create(project=project, number=2, status=CriticVersion.Status.READY, base_model_dir="/x")
    for version in (queued, unevaluated):
        with pytest.raises(critic_services.CriticStateError):
            critic_services.critic_version_promote(version=version)
    assert not CriticVersion.objects.filter(project=project, status=CriticVersion.Status.ACTIVE).exists()


def test_promotion_and_rollback_keep_exactly_one_active(critic_settings, project):
    """Promoting retires the active version; rolling back re-activates the one before; one active at every point."""
    first, second, third = (_finished(project, n) for n in (1, 2, 3))
    for version in (first, second, third):
        critic_services.critic_version_promote(version=version)
        assert list(CriticVersion.objects.filter(project=project, status="active").values_list("pk", flat=True)) == [version.pk]
    assert critic_services.critic_version_rollback(project=project).pk == second.pk
    assert critic_services.critic_version_rollback(project=project).pk == first.pk
    assert list(CriticVersion.objects.filter(project=project, status="active").values_list("pk", flat=True)) == [first.pk]
    with pytest.raises(critic_services.CriticStateError):
        critic_services.critic_version_rollback(project=project)
    assert set(CriticVersion.objects.filter(project=project).values_list("status", flat=True)) == {"active", "retired"}


def test_database_refuses_a_second_active_version(critic_settings, project):
    """The one-active constraint holds even for writes that skip the services."""
    _finished(project, 1, status=CriticVersion.Status.ACTIVE)
    with pytest.raises(IntegrityError), transaction.atomic():
        _finished(project, 2, status=CriticVersion.Status.ACTIVE)


def test_no_prior_without_an_active_scored_version(critic_settings, project):
    """A ready but not active version, or an active one without scores, gives no prior."""
    images = project_images(project, 4)
    _finished(project, 1)
    ids = np.asarray([image.pk for image in images])
    assert selection.critic_prior_for_project(project, image_ids=ids) is None
    _finished(project, 2, status=CriticVersion.Status.ACTIVE)
    assert selection.critic_prior_for_project(project, image_ids=ids) is None


# ------------------------------------------------------------------------------ automatic retrains


def test_retrain_is_queued_every_n_usable_judgements(critic_settings, project, labelled):
    """With LOUPE_CRITIC_RETRAIN_EVERY=5: one version once enough new judgements arrived, none while it is pending."""
    critic_settings.LOUPE_CRITIC_RETRAIN_EVERY = 5
    version = critic_services.critic_retrain_if_due(project=project)
    assert version is not None and version.trigger == CriticVersion.Trigger.JUDGEMENTS
    assert critic_services.critic_retrain_if_due(project=project) is None  # pending
    critic_services.critic_version_cancel(version=version)
    assert critic_services.critic_retrain_if_due(project=project) is None  # nothing new since
    _, train, _ = labelled
    judgements_add(project, [(image, 3) for image in train[:5]], annotators_make(project, 1), kind=TaskKind.RATING)
    assert critic_services.critic_retrain_if_due(project=project) is not None
    critic_settings.LOUPE_CRITIC_RETRAIN_EVERY = 0
    assert critic_services.critic_retrain_if_due(project=project) is None
