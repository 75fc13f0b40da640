"""Refilling a project's pair queue (modeling/selection/services.py): how many, which pairs, and what provenance they carry."""
import numpy as np
import pytest
from django.core.cache import cache

from annotation.models import PairSource, SelectionStrategy, WorkItem
from annotation.services.work import pair_items_open_count
from annotation.signals import judgements_submitted
from annotation.vocabulary import TaskKind
from evaluation.models import ItemScore, ScalingRun
from modeling.selection import services as selection
from modeling.selection.services import pair_queue_refill, pair_queue_refill_run
from modeling.selection.tasks import pair_queue_refill_request
from tests.evaluation.judgement_builders import annotators_make, images_make, judgements_add


@pytest.fixture(autouse=True)
def _clear_cache():
    cache.clear()
    yield
    cache.clear()


@pytest.fixture
def enqueued(monkeypatch):
    """Refill tasks the code enqueued (their arguments), instead of sending them to a broker."""
    from modeling.selection import tasks

    calls = []
    monkeypatch.setattr(tasks.pair_queue_refill, "delay", lambda *args: calls.append(args))
    return calls


def _configure(project, **fields):
    values = {"task_kinds": [TaskKind.PAIR], "pair_source": PairSource.PROPOSED, "pair_batch_size": 5, "overlap": 1, **fields}
    for name, value in values.items():
        setattr(project, name, value)
    project.save()
    return project


def _proposals(project):
    return WorkItem.objects.filter(project=project, kind=TaskKind.PAIR, purpose=WorkItem.Purpose.WORK).exclude(strategy="")


def _pair_set(queryset):
    return set(queryset.values_list("image_id", "image_b_id"))


def test_refill_proposes_a_batch_with_honest_provenance(project):
    """No critic scores yet: eig_prior falls back to plain EIG, and each pair records that, its gain and no critic."""
    _configure(project, selection_strategy=SelectionStrategy.EIG_PRIOR)
    images_make(project, 10)

    result = pair_queue_refill_run(project, rng=np.random.default_rng(0))

    assert result.added == 5 and result.open_before == 0
    assert (result.strategy_requested, result.strategy_used, result.critic_version_id) == ("eig_prior", "eig", None)
    assert "fell back" in result.note
    items = list(_proposals(project))
    assert len(items) == 5 and pair_items_open_count(project) == 5
    for item in items:
        assert item.strategy == SelectionStrategy.EIG and item.critic_version_id is None
        assert item.expected_gain is not None and item.expected_gain > 0
        assert item.priority == 1.0 and not item.retired
    assert len(_pair_set(_proposals(project))) == 5


def test_critic_disagreement_without_a_critic_also_falls_back_to_eig(project):
    """Critic disagreement needs critic scores; without them the pairs say `eig`, not the strategy asked for."""
    _configure(project, selection_strategy=SelectionStrategy.CRITIC_DISAGREEMENT)
    images_make(project, 6)
    result = pair_queue_refill_run(project, rng=np.random.default_rng(0))
    assert result.strategy_used == "eig" and set(_proposals(project).values_list("strategy", flat=True)) == {"eig"}


def test_random_strategy_is_recorded_as_random(project):
    """The random strategy proposes pairs recorded as `random`."""
    _configure(project, selection_strategy=SelectionStrategy.RANDOM)
    images_make(project, 6)
    assert pair_queue_refill(project, rng=np.random.default_rng(0)) == 5
    assert set(_proposals(project).values_list("strategy", flat=True)) == {"random"}


def test_refill_is_idempotent_while_a_batch_is_open(project):
    """A second refill with a full batch still open adds nothing."""
    _configure(project)
    images_make(project, 10)
    assert pair_queue_refill(project) == 5
    assert pair_queue_refill(project) == 0
    assert _proposals(project).count() == 5


def test_refill_never_proposes_a_pair_still_open(project):
    """Pairs open in the queue are never proposed; judged ones may come back (asked again); with few left, fewer come back."""
    _configure(project, pair_batch_size=20, selection_strategy=SelectionStrategy.RANDOM)
    images = images_make(project, 6)  # 15 pairs
    annotators = annotators_make(project, 2)  # the second may be asked the judged pairs again
    judged = [(images[0], images[1], "a"), (images[2], images[3], "b"), (images[4], images[5], "tie")]
    judgements_add(project, judged, annotators)
    open_pairs = [(images[0], images[2]), (images[1], images[3])]
    for a, b in open_pairs:
        WorkItem.objects.create(project=project, kind=TaskKind.PAIR, image=a, image_b=b)
    taken = {(a.pk, b.pk) for a, b in open_pairs}

    result = pair_queue_refill_run(project, rng=np.random.default_rng(3))

    proposed = _pair_set(_proposals(project))
    assert result.added == 15 - 2 == len(proposed)
    assert proposed.isdisjoint(taken)


def test_eig_refill_never_proposes_a_pair_still_open(project):
    """The same holds for EIG, which also spreads a batch over images (at most two pairs per image)."""
    _configure(project, pair_batch_size=20, selection_strategy=SelectionStrategy.EIG)
    images = images_make(project, 8)
    judged = [(images[i], images[i + 1], "a") for i in range(0, 7)]
    judgements_add(project, judged, annotators_make(project, 2))
    WorkItem.objects.create(project=project, kind=TaskKind.PAIR, image=images[0], image_b=images[2])
    for seed in range(3):
        WorkItem.objects.filter(project=project).exclude(strategy="").update(judgement_count=1)  # judged: not open
        still_open = {(images[0].pk, images[2].pk)}
        before = _pair_set(_proposals(project))
        pair_queue_refill(project, rng=np.random.default_rng(seed))
        new = _pair_set(_proposals(project)) - before
        assert new and new.isdisjoint(still_open)


def test_a_retired_unjudged_proposal_may_be_proposed_again(project):
    """A superseded proposal nobody judged is served again when chosen, not duplicated."""
    _configure(project, pair_batch_size=1)
    a, b = images_make(project, 2)
    old = WorkItem.objects.create(project=project, kind=TaskKind.PAIR, image=a, image_b=b, strategy="eig", retired=True)
    assert pair_queue_refill(project) == 1
    old.refresh_from_db()
    assert not old.retired and old.priority == 1.0
    assert WorkItem.objects.filter(project=project, kind=TaskKind.PAIR).count() == 1


def test_refill_uses_the_judgements(project):
    """The posterior is fitted from the project's judgements: after A beat B and C beat D often, A-C or B-D is asked next."""
    _configure(project, pair_batch_size=1)
    a, b, c, d = images_make(project, 4)
    judgements_add(project, [(a, b, "a")] * 6 + [(c, d, "a")] * 6, annotators_make(project, 6))
    assert pair_queue_refill(project, rng=np.random.default_rng(0)) == 1
    assert _pair_set(_proposals(project)) <= {(a.pk, c.pk), (b.pk, d.pk)}


def test_the_first_batch_uses_the_active_critic(project):
    """Before any judgement, eig_prior follows the active critic's ordering and each pair records the critic version."""
    from modeling.critic.models import CriticScore, CriticVersion

    _configure(project, selection_strategy=SelectionStrategy.EIG_PRIOR, pair_batch_size=1)
    images = images_make(project, 4)
    version = CriticVersion.objects.create(project=project, number=1, status=CriticVersion.Status.ACTIVE, base_model_dir="/x")
    for image, score in zip(images, [0.0, 50.0, 51.0, 100.0]):
        CriticScore.objects.create(version=version, image=image, score=score, variance=1.0, probabilities=[0.2] * 5)
    result = pair_queue_refill_run(project, rng=np.random.default_rng(0))
    assert (result.strategy_used, result.critic_version_id) == ("eig_prior", version.pk)
    item = _proposals(project).get()
    assert (item.image_id, item.image_b_id) == (images[1].pk, images[2].pk)
    assert (item.strategy, item.critic_version_id) == ("eig_prior", version.pk)
    assert 0.0 <= item.expected_gain <= 1.0


def test_the_critic_seam_returns_none_today(project):
    """There are no critic scores in the database yet, so the seam offers no prior (none is made up)."""
    images_make(project, 3)
    assert selection.critic_prior_for_project(project, image_ids=np.array([1, 2, 3])) is None


def test_critic_disagreement_uses_the_active_critics_level_probabilities_as_features(project):
    """With an active scored critic and human judgements, critic disagreement runs (no fallback) on the critic's features."""
    from modeling.critic.models import CriticScore, CriticVersion

    _configure(project, selection_strategy=SelectionStrategy.CRITIC_DISAGREEMENT, pair_batch_size=4)
    images = images_make(project, 8)
    version = CriticVersion.objects.create(project=project, number=1, status=CriticVersion.Status.ACTIVE, base_model_dir="/x")
    for i, image in enumerate(images[:7]):  # the last image is not scored: it gets the mean features
        probabilities = np.roll([0.6, 0.2, 0.1, 0.05, 0.05], i % 5).tolist()
        CriticScore.objects.create(version=version, image=image, score=10.0 * i, variance=5.0 + i, probabilities=probabilities)
    run = ScalingRun.objects.create(project=project, status=ScalingRun.Status.DONE)
    for i, image in enumerate(images):
        ItemScore.objects.create(run=run, image=image, score=(-1) ** i * 0.3 * i, variance=0.5, ci_low=0, ci_high=0, score_0_100=0, n_comparisons=2)
    ids = np.asarray([image.pk for image in images])
    judgements_add(project, [(images[i], images[i + 1], "ab"[i % 2]) for i in range(7)], annotators_make(project, 1))

    prior = selection.critic_prior_for_project(project, image_ids=ids)

    assert prior is not None and prior.features.shape == (8, 5)
    assert prior.features[0].tolist() == [0.6, 0.2, 0.1, 0.05, 0.05]
    assert np.allclose(prior.features[7], prior.features[:7].mean(axis=0))
    result = pair_queue_refill_run(project, rng=np.random.default_rng(0))
    assert (result.strategy_used, result.critic_version_id) == ("critic_disagreement", version.pk)
    assert result.added > 0 and "fell back" not in result.note and "no critic features" not in result.note


def test_a_later_batch_is_served_first(project):
    """Each batch gets a higher priority than the one before. (Whether it repeats a judged pair is the selector's
    call: a pair whose outcome is still uncertain may be asked again, test_reask.py.)"""
    _configure(project, pair_batch_size=2)
    images_make(project, 8)
    assert pair_queue_refill(project, rng=np.random.default_rng(0)) == 2
    assert set(_proposals(project).values_list("priority", flat=True)) == {1.0}
    WorkItem.objects.filter(project=project).update(judgement_count=1)  # overlap 1: both judged
    assert pair_queue_refill(project, rng=np.random.default_rng(1)) == 2
    assert _proposals(project).filter(priority=2.0, judgement_count=0).count() + _proposals(project).filter(
        priority=2.0, extra_judgements__gt=0).count() == 2


def test_other_pair_sources_draw_pairs_up_to_the_batch(project):
    """Pair source `random`: the refill tops the open pairs up to the batch size with pairs_generate."""
    _configure(project, pair_source=PairSource.RANDOM, pair_batch_size=4)
    a, b, *_ = images_make(project, 6)
    WorkItem.objects.create(project=project, kind=TaskKind.PAIR, image=a, image_b=b)
    result = pair_queue_refill_run(project, rng=np.random.default_rng(0))
    assert (result.added, result.strategy_used) == (3, "")
    assert pair_items_open_count(project) == 4
    assert not _proposals(project).exists()


def test_nothing_happens_when_pairs_are_not_enabled(project):
    """A project that does not ask for comparisons gets no pairs."""
    _configure(project, task_kinds=[TaskKind.RATING])
    images_make(project, 4)
    result = pair_queue_refill_run(project)
    assert result.added == 0 and "not an enabled" in result.note
    assert not WorkItem.objects.filter(project=project, kind=TaskKind.PAIR).exists()


def test_a_low_queue_enqueues_one_refill_per_burst(project, enqueued, django_capture_on_commit_callbacks):
    """Below half a batch open, a refill is enqueued after commit; a second request right after is debounced."""
    _configure(project, pair_batch_size=4)
    with django_capture_on_commit_callbacks(execute=True):
        assert pair_queue_refill_request(project=project) is True
        assert pair_queue_refill_request(project=project) is False
    assert enqueued == [(project.pk,)]


def test_a_queue_at_half_a_batch_is_not_refilled_yet(project, enqueued):
    """With half a batch or more open, judgements do not enqueue a refill."""
    _configure(project, pair_batch_size=4)
    a, b, c = images_make(project, 3)
    WorkItem.objects.create(project=project, kind=TaskKind.PAIR, image=a, image_b=b)
    WorkItem.objects.create(project=project, kind=TaskKind.PAIR, image=a, image_b=c)
    assert pair_queue_refill_request(project=project) is False
    assert enqueued == []


def test_a_pair_judgement_signal_enqueues_the_refill(project, enqueued, django_capture_on_commit_callbacks):
    """annotation's judgements_submitted reaches modeling's receiver: a comparison on a low queue enqueues a refill."""
    _configure(project, pair_batch_size=4)
    a, b = images_make(project, 2)
    (judgement,) = judgements_add(project, [(a, b, "a")], annotators_make(project, 1))
    with django_capture_on_commit_callbacks(execute=True):
        judgements_submitted.send(sender=type(project), project=project, judgement=judgement)
    assert enqueued == [(project.pk,)]


def test_the_refill_command_reports_what_it_did(project):
    """`manage.py refill_pairs <slug>` refills synchronously and says how many pairs, how chosen."""
    from io import StringIO

    from django.core.management import call_command

    _configure(project)
    images_make(project, 10)
    out = StringIO()
    call_command("refill_pairs", project.slug, stdout=out)
    assert "5 pairs added" in out.getvalue() and "strategy eig" in out.getvalue()
    assert _proposals(project).count() == 5


def test_the_refill_command_with_a_seed_queues_the_same_pairs_twice(project):
    """`--seed` makes the selector's draws repeatable (and is reported); without it each refill draws fresh."""
    from io import StringIO

    from django.core.management import call_command

    _configure(project)
    images_make(project, 10)
    chosen = []
    for _ in range(2):
        out = StringIO()
        call_command("refill_pairs", project.slug, "--seed", "7", stdout=out)
        assert "seed 7" in out.getvalue()
        chosen.append(sorted(_proposals(project).values_list("image_id", "image_b_id")))
        _proposals(project).delete()
    assert chosen[0] == chosen[1] and len(chosen[0]) == 5


def test_the_refill_command_rejects_a_negative_seed_and_queues_nothing(project):
    """`--seed -1` is a command error, and no pair is queued."""
    from django.core.management import CommandError, call_command

    _configure(project)
    images_make(project, 10)
    with pytest.raises(CommandError, match="--seed must be >= 0"):
        call_command("refill_pairs", project.slug, "--seed", "-1")
    assert _proposals(project).count() == 0


def test_the_refill_command_rejects_an_unknown_project(db):
    """An unknown slug is a command error, not a traceback."""
    from django.core.management import CommandError, call_command

    with pytest.raises(CommandError, match="no project"):
        call_command("refill_pairs", "nope")


@pytest.mark.django_db
def test_demo_pairs_come_from_the_selector_and_reach_annotators(settings, tmp_path):
    """The demo's pair source is the active selector: `refill_pairs demo` queues a batch, and an annotator gets one."""
    import io
    import random

    from django.core.management import call_command
    from django.utils import timezone

    from annotation.models import Membership, Project
    from annotation.services import queue
    from annotation.services.work import project_settings_update

    settings.MEDIA_ROOT = str(tmp_path)
    call_command("seed_demo", "--small", stdout=io.StringIO())
    project = Project.objects.get(slug="demo")
    assert (project.pair_source, pair_items_open_count(project)) == (PairSource.PROPOSED, 0)

    call_command("refill_pairs", "demo", stdout=io.StringIO())
    proposed = WorkItem.objects.filter(project=project, kind=TaskKind.PAIR, purpose=WorkItem.Purpose.WORK)
    assert proposed.count() == project.pair_batch_size
    assert set(proposed.values_list("strategy", flat=True)) == {SelectionStrategy.EIG}  # no critic yet: plain EIG
    assert all(gain is not None for gain in proposed.values_list("expected_gain", flat=True))

    project = project_settings_update(project, task_kinds=[TaskKind.PAIR], gold_rate=0.0)
    membership = Membership.objects.filter(project=project, role=Membership.Role.ANNOTATOR).first()
    Membership.objects.filter(pk=membership.pk).update(training_passed_at=timezone.now())
    lease = queue.assignment_next(project=project, annotator=membership.user, rng=random.Random(1)).lease
    assert lease.item.strategy == SelectionStrategy.EIG and lease.item.expected_gain is not None
