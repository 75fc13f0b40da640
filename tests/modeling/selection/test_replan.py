"""A critic promoted while a batch waits: the waiting proposals are re-planned with it, pairs held or answered are kept."""
import random
import uuid

import numpy as np
import pytest

from annotation.models import Judgement, Lease, PairSource, SelectionStrategy, WorkItem
from annotation.services import queue
from annotation.vocabulary import TaskKind
from modeling.critic import services as critic_services
from modeling.critic.models import CriticScore, CriticVersion
from modeling.selection import services as selection
from modeling.selection import tasks as selection_tasks
from modeling.selection.core.propose import propose_pairs
from tests.evaluation.judgement_builders import annotators_make, images_make

#: The critic's scores of the images, in creation order (at cold start its choice is neighbours in this order).
CRITIC_SCORES = [0.0, 90.0, 30.0, 61.0, 1.0, 60.0, 91.0, 31.0, 45.0, 75.0]


def _configure(project, strategy=SelectionStrategy.EIG_PRIOR):
    project.task_kinds, project.pair_source, project.selection_strategy = [TaskKind.PAIR], PairSource.PROPOSED, strategy
    project.pair_batch_size, project.overlap = 4, 1
    project.gold_rate = project.repeat_rate = 0.0
    project.training_required = False
    project.save()
    return project


def _scored_version(project, images):
    """A trained, evaluated version that has scored the whole pool (what Promote then activates)."""
    version = CriticVersion.objects.create(
        project=project, number=1, status=CriticVersion.Status.READY, base_model_dir="/x", metrics={"evaluated": True},
        artifact_sha256="0" * 64, score_status=CriticVersion.ScoreStatus.DONE, scored_count=len(images),
    )
    for image, score in zip(images, CRITIC_SCORES):
        CriticScore.objects.create(version=version, image=image, score=score, variance=4.0, probabilities=[0.2] * 5)
    return version


@pytest.fixture
def enqueued(monkeypatch):
    calls = []
    for task in (selection_tasks.pair_queue_refill, selection_tasks.pair_queue_replan):
        monkeypatch.setattr(task, "delay", lambda *args, name=task.name: calls.append((name, args)))
    return calls


def _waiting(project):
    """Proposals open and not held: the batch the next annotator will be served."""
    held = Lease.objects.filter(status=Lease.Status.ACTIVE).values("item_id")
    return WorkItem.objects.filter(project=project, kind=TaskKind.PAIR, retired=False, judgement_count=0).exclude(pk__in=held)


def test_promote_replans_the_waiting_batch_with_the_critic_and_keeps_held_and_answered_pairs(
    project, enqueued, django_capture_on_commit_callbacks,
):
    """Promote with a batch waiting: the unserved proposals give way to the critic's choice (the pairs `propose_pairs`
    picks with the critic's scores, neighbours in critic score), while the pair one annotator holds and the pair
    another answered keep their rows, provenance and judgements."""
    project = _configure(project)
    images = images_make(project, len(CRITIC_SCORES))
    first, second = annotators_make(project, 2)
    assert selection.pair_queue_refill(project, rng=np.random.default_rng(0)) == 4  # no critic yet: plain EIG
    answered_lease = queue.assignment_next(project=project, annotator=first, rng=random.Random(0)).lease
    queue.judgement_submit(lease_id=answered_lease.pk, annotator=first, client_id=uuid.uuid4(), answer={"choice": "a"})
    held_lease = queue.assignment_next(project=project, annotator=second, rng=random.Random(0)).lease
    before = {item.pk: item for item in WorkItem.objects.filter(pk__in=[answered_lease.item_id, held_lease.item_id])}
    assert (before[held_lease.item_id].strategy, before[held_lease.item_id].critic_version_id) == ("eig", None)
    old_waiting = set(_waiting(project).values_list("pk", flat=True))
    assert len(old_waiting) == 2

    version = _scored_version(project, images)
    with django_capture_on_commit_callbacks(execute=True):
        critic_services.critic_version_promote(version=version)
    assert enqueued == [("modeling.pair_queue_replan", (project.pk,))]
    result = selection.pair_queue_replan(project, rng=np.random.default_rng(3))

    for pk, item in before.items():  # held and answered: untouched
        now = WorkItem.objects.get(pk=pk)
        assert (now.retired, now.strategy, now.critic_version_id, now.judgement_count, now.priority) == (
            item.retired, item.strategy, item.critic_version_id, item.judgement_count, item.priority)
    assert Lease.objects.get(pk=held_lease.pk).status == Lease.Status.ACTIVE
    waiting = _waiting(project)
    assert waiting.count() == result.added == project.pair_batch_size  # a whole new batch; the held pair stays open too
    assert set(waiting.values_list("strategy", "critic_version_id")) == {(SelectionStrategy.EIG_PRIOR, version.pk)}
    assert WorkItem.objects.filter(pk__in=old_waiting - set(waiting.values_list("pk", flat=True)), retired=False).count() == 0

    # The critic's choice, as a notebook gets it from the one entry point with the same draw.
    ids = sorted(image.pk for image in images)
    index = {pk: i for i, pk in enumerate(ids)}
    scores = np.asarray([CRITIC_SCORES[[image.pk for image in images].index(pk)] for pk in ids])
    held_pair = [[index[before[held_lease.item_id].image_id], index[before[held_lease.item_id].image_b_id]]]
    answered = before[answered_lease.item_id]
    choice = Judgement.objects.get(item=answered).choice  # in item terms: "a" is WorkItem.image
    winner, loser = (answered.image_id, answered.image_b_id) if choice == "a" else (answered.image_b_id, answered.image_id)
    pairs, _ = propose_pairs(
        len(ids), [index[winner]], [index[loser]], project.pair_batch_size, critic_scores=scores, critic_var=np.full(len(ids), 4.0),
        exclude=held_pair, rng=np.random.default_rng(3),
    )
    assert set(waiting.values_list("image_id", "image_b_id")) == {(ids[i], ids[j]) for i, j in pairs}
    compared = {answered.image_id, answered.image_b_id}
    by_score = dict(zip([image.pk for image in images], CRITIC_SCORES))
    order = sorted((pk for pk in by_score if pk not in compared), key=by_score.get)  # uncompared, in critic order
    rank = {pk: r for r, pk in enumerate(order)}
    fresh = [(a, b) for a, b in waiting.values_list("image_id", "image_b_id") if not {a, b} & compared]
    assert fresh and all(abs(rank[a] - rank[b]) == 1 for a, b in fresh)  # neighbours in critic order


def test_replan_of_a_project_not_selecting_with_the_critic_is_a_plain_refill(project):
    """Plain EIG does not use the critic: its waiting batch stays as it is, and a full batch gets nothing added."""
    project = _configure(project, strategy=SelectionStrategy.EIG)
    images_make(project, 6)
    assert selection.pair_queue_refill(project, rng=np.random.default_rng(0)) == 4
    before = set(_waiting(project).values_list("pk", flat=True))
    result = selection.pair_queue_replan(project, rng=np.random.default_rng(1))
    assert (result.added, result.retired) == (0, 0)
    assert set(_waiting(project).values_list("pk", flat=True)) == before


def test_a_refill_after_the_replan_adds_nothing(project):
    """The re-plan leaves one full batch open; the refill that a judgement or a second message may enqueue adds none."""
    project = _configure(project)
    images = images_make(project, len(CRITIC_SCORES))
    assert selection.pair_queue_refill(project, rng=np.random.default_rng(0)) == 4
    version = _scored_version(project, images)
    CriticVersion.objects.filter(pk=version.pk).update(status=CriticVersion.Status.ACTIVE)
    assert selection_tasks.pair_queue_replan(project.pk) == 4
    assert selection.pair_queue_refill(project, rng=np.random.default_rng(2)) == 0
    assert set(_waiting(project).values_list("critic_version_id", flat=True)) == {version.pk}
