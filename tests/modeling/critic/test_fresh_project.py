"""The loop on a fresh project, through the app: ratings train a critic, Promote scores the pool, and the very first
pair batch is chosen with the critic's scores; the Scores page and the scores export say so."""
import pytest
from django.urls import reverse

from annotation.models import PairSource, SelectionStrategy, WorkItem
from annotation.vocabulary import TaskKind
from modeling.critic import pool_scoring, runs as critic_runs, services as critic_services, storage
from modeling.critic.models import CriticScore, CriticVersion
from modeling.selection import tasks as selection_tasks
from tests.evaluation.judgement_builders import annotators_make, judgements_add
from tests.work_data import project_images

#: A few steps: enough to exercise the path, quick on CPU.
QUICK = {"optimisation": {"max_steps": 2, "batch_size": 2, "vision_warmup_steps": 2}, "data": {"heldout_fraction": 0.3}, "scoring_batch_size": 8}


@pytest.fixture
def critic_settings(settings, tmp_path):
    import torch

    torch.set_num_threads(2)
    directory, _ = storage.critic_tiny_base_ensure(tmp_path / "tiny")
    settings.LOUPE_CRITIC_BASE_DIR = str(directory)
    settings.LOUPE_CRITIC_DIR = tmp_path / "critic"
    settings.LOUPE_CRITIC_RETRAIN_EVERY = 0
    return settings


@pytest.fixture
def enqueued(monkeypatch):
    """The gpu and refill tasks the app enqueued (name, args), run below by calling their bodies in order."""
    from modeling.critic import tasks as critic_tasks

    calls = []
    for task in (critic_tasks.critic_retrain, critic_tasks.critic_score_pool, selection_tasks.pair_queue_refill,
                 selection_tasks.pair_queue_replan):
        monkeypatch.setattr(task, "delay", lambda *args, name=task.name: calls.append((name, args)))
    return calls


def test_first_batch_of_a_fresh_project_is_chosen_with_the_promoted_critic(critic_settings, client, project, researcher, enqueued,
                                                                           django_capture_on_commit_callbacks):
    """No comparison and no scaling run yet: Retrain on ratings, Promote (page), the pool is scored, and the refill
    that follows queues the first pairs with the critic's scores (eig_prior, its version on every pair); the Scores page
    and the scores export name the human-only scores and the critic prior that chose the pairs."""
    project.task_kinds, project.pair_source, project.selection_strategy = [TaskKind.RATING, TaskKind.PAIR], PairSource.PROPOSED, SelectionStrategy.EIG_PRIOR
    project.pair_batch_size, project.overlap = 4, 1
    project.save()
    images = project_images(project, 24)
    judgements_add(project, [(image, 1 + i % 5) for i, image in enumerate(images)], annotators_make(project, 2), kind=TaskKind.RATING)
    assert not WorkItem.objects.filter(project=project, kind=TaskKind.PAIR).exists()

    with django_capture_on_commit_callbacks(execute=True):
        version = critic_services.critic_version_request(project=project, overrides=QUICK)
    assert critic_runs.critic_version_train(version.pk).status == CriticVersion.Status.READY
    client.force_login(researcher)
    with django_capture_on_commit_callbacks(execute=True):
        client.post(reverse("critic:promote", kwargs={"project_id": project.pk, "version_id": version.pk}))
    assert CriticVersion.objects.get(project=project, status=CriticVersion.Status.ACTIVE) == version
    assert ("modeling.critic_score_pool", (version.pk,)) in enqueued
    with django_capture_on_commit_callbacks(execute=True):
        assert pool_scoring.critic_pool_score(version.pk) == len(images)
    assert CriticScore.objects.filter(version=version).count() == len(images)
    assert enqueued[-1] == ("modeling.pair_queue_replan", (project.pk,))  # new critic scores: the selector re-plans
    assert selection_tasks.pair_queue_replan(project.pk) == project.pair_batch_size

    first = WorkItem.objects.filter(project=project, kind=TaskKind.PAIR)
    assert first.count() == project.pair_batch_size
    assert set(first.values_list("strategy", "critic_version_id")) == {(SelectionStrategy.EIG_PRIOR, version.pk)}
    assert all(0.0 <= gain <= 1.0 for gain in first.values_list("expected_gain", flat=True))

    note = f"Pairs are chosen with Critic v{version.number}'s prior; scores shown are from human judgements only."
    page = client.get(reverse("evaluation:project_scores", kwargs={"project_id": project.pk})).content.decode()
    provenance = page.split('data-testid="scores-provenance">', 1)[1].split("</p>", 1)[0]
    assert provenance.startswith("Human-only scores: Thurstone Case V") and note.replace("'", "&#x27;") in provenance


def test_scores_page_names_human_only_scores_without_a_critic_note(client, project, researcher):
    """Without a critic prior in selection the Scores page says the scores are human-only, and nothing about a critic."""
    client.force_login(researcher)
    page = client.get(reverse("evaluation:project_scores", kwargs={"project_id": project.pk})).content.decode()
    provenance = page.split('data-testid="scores-provenance">', 1)[1].split("</p>", 1)[0]
    assert "Human-only scores" in provenance and "Critic" not in provenance
