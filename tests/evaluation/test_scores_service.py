"""Scaling a project's judgements (evaluation/services.py): known data in, the right scores and run rows out."""
import numpy as np
import pytest
from django.core.cache import cache
from scipy import stats

from annotation.models import WorkItem
from annotation.signals import judgements_submitted
from annotation.vocabulary import TaskKind
from evaluation import services
from evaluation.models import ItemScore, ScalingRun
from evaluation.scaling import ScalingConvergenceError, thurstone_map_pairwise
from evaluation.selectors import scaling_run_current
from evaluation.services import ScalingInputError, project_scale, scaling_request_if_due, scaling_run_request
from tests.evaluation.judgement_builders import annotators_make, images_make, judgements_add


@pytest.fixture(autouse=True)
def _clear_cache():
    cache.clear()
    yield
    cache.clear()


@pytest.fixture
def enqueued(monkeypatch):
    """Scaling tasks the code enqueued (their arguments), instead of sending them to a broker; others are sent."""
    from config.celery import app

    calls = []
    send = app.send_task

    def record(name, args=(), **options):
        if name != services.SCALE_TASK:
            return send(name, args=args, **options)
        calls.append(tuple(args))

    monkeypatch.setattr(app, "send_task", record)
    return calls


def _simulated_pairs(images, true_scores, per_pair, rng):
    rows = []
    for i in range(len(images)):
        for j in range(i + 1, len(images)):
            p_i = stats.norm.cdf(true_scores[i] - true_scores[j])
            for _ in range(per_pair):
                rows.append((images[i], images[j], "a" if rng.random() < p_i else "b"))
    return rows


def _scores_by_image(run):
    return {s.image_id: s for s in ItemScore.objects.filter(run=run)}


def test_simulated_comparisons_recover_the_true_order(project):
    """Thurstone observers on 12 images with known qualities: the scores rank them as the truth does (SRCC >= 0.95)."""
    images = images_make(project, 12)
    truth = np.linspace(-1.5, 1.5, 12)
    annotators = annotators_make(project, 8)
    rows = _simulated_pairs(images, truth, per_pair=8, rng=np.random.default_rng(0))
    judgements_add(project, rows, annotators)

    run = project_scale(project)

    assert run.status == ScalingRun.Status.DONE and run.error == ""
    assert (run.n_items, run.n_comparisons, run.n_ratings) == (12, 66 * 8, 0)
    assert run.last_judgement_id is not None and run.iterations >= 1 and run.duration_seconds >= 0
    scores = _scores_by_image(run)
    estimated = [scores[image.pk].score for image in images]
    assert stats.spearmanr(estimated, truth).statistic >= 0.95
    for score in scores.values():
        assert score.ci_low < score.score < score.ci_high
        assert score.ci_high - score.score == pytest.approx(1.959964 * np.sqrt(score.variance), rel=1e-5)
        assert score.n_comparisons == 11 * 8 and score.mos is None
    display = sorted(s.score_0_100 for s in scores.values())
    assert display[0] == pytest.approx(0.0) and display[-1] == pytest.approx(100.0)
    assert scaling_run_current(project=project) == run


def test_ties_count_half_a_win_to_each_side(project):
    """Ties are passed to the core as ties: two images only ever tied get the same score, and a mix matches the core."""
    a, b, c = images_make(project, 3)
    annotators = annotators_make(project, 6)
    rows = [(a, b, "tie")] * 4 + [(b, c, "a")] * 3 + [(b, c, "tie")] * 2 + [(c, a, "b")]
    judgements_add(project, rows, annotators)

    run = project_scale(project)

    scores = _scores_by_image(run)
    assert run.n_comparisons == 10
    # The core on the same comparisons (indices 0, 1, 2 are a, b, c; "b" on (c, a) means a won).
    expected = thurstone_map_pairwise(
        3, [0] * 4 + [1] * 5 + [0], [1] * 4 + [2] * 5 + [2], ties=np.array([True] * 4 + [False] * 3 + [True] * 2 + [False]),
    )
    assert [scores[x.pk].score for x in (a, b, c)] == pytest.approx(list(expected.scores), abs=1e-9)
    assert [scores[x.pk].variance for x in (a, b, c)] == pytest.approx(list(expected.variances), abs=1e-9)


def test_only_tied_images_score_the_same(project):
    """Two images that were only ever judged equal end with equal scores."""
    a, b = images_make(project, 2)
    judgements_add(project, [(a, b, "tie")] * 3, annotators_make(project, 3))
    scores = _scores_by_image(project_scale(project))
    assert scores[a.pk].score == pytest.approx(scores[b.pk].score, abs=1e-12)


def test_excluded_training_and_repeat_judgements_are_not_scaled(project):
    """Quality-control exclusions, training answers and consistency repeats leave the scores exactly as they were."""
    a, b, c = images_make(project, 3)
    judgements_add(project, [(a, b, "a")] * 3 + [(b, c, "a")] * 3, annotators_make(project, 3))
    before = _scores_by_image(project_scale(project))

    others = annotators_make(project, 3)
    judgements_add(project, [(a, b, "b")] * 3, others, excluded=True)
    judgements_add(project, [(b, c, "b")] * 3, others, purpose=WorkItem.Purpose.TRAINING)
    judgements_add(project, [(b, c, "b")] * 3, others, is_repeat=True)
    after_run = project_scale(project)

    after = _scores_by_image(after_run)
    assert after_run.n_comparisons == 6
    assert {pk: s.score for pk, s in after.items()} == pytest.approx({pk: s.score for pk, s in before.items()})


def test_gold_pair_judgements_are_scaled(project):
    """Hidden gold comparisons are real judgements and count towards the scores."""
    a, b = images_make(project, 2)
    judgements_add(project, [(a, b, "b")] * 2, annotators_make(project, 2), purpose=WorkItem.Purpose.GOLD)
    run = project_scale(project)
    scores = _scores_by_image(run)
    assert run.n_comparisons == 2 and scores[b.pk].score > scores[a.pk].score


def test_ratings_only_give_mos_ordered_scores(project):
    """A project with ratings and no comparisons: MOS per image, and scores in MOS order (the z-scored MOS prior)."""
    images = images_make(project, 4)
    annotators = annotators_make(project, 3)
    levels = {0: [1, 2, 1], 1: [3, 3, 2], 2: [4, 4, 5], 3: [5, 5, 5]}
    rows = [(images[i], level) for i, given in levels.items() for level in given]
    judgements_add(project, rows, annotators, kind=TaskKind.RATING)

    run = project_scale(project)

    scores = _scores_by_image(run)
    assert (run.n_comparisons, run.n_ratings) == (0, 12)
    assert [scores[im.pk].mos for im in images] == pytest.approx([4 / 3, 8 / 3, 13 / 3, 5.0])
    assert [scores[im.pk].n_ratings for im in images] == [3, 3, 3, 3]
    ordered = [scores[im.pk].score for im in images]
    assert ordered == sorted(ordered) and ordered[0] < ordered[-1]
    assert "MOS" in run.method


def test_unjudged_images_keep_the_prior(project):
    """Every image of the project gets a row; one never compared or rated keeps the prior N(0, 1)."""
    a, b, lonely = images_make(project, 3)
    judgements_add(project, [(a, b, "a")] * 2, annotators_make(project, 2))
    scores = _scores_by_image(project_scale(project))
    assert set(scores) == {a.pk, b.pk, lonely.pk}
    assert (scores[lonely.pk].score, scores[lonely.pk].variance, scores[lonely.pk].n_comparisons) == (0.0, 1.0, 0)


def test_a_project_without_images_fails_with_a_clear_message(project):
    """No images: the run is marked failed with a message a researcher understands, and the error is raised."""
    with pytest.raises(ScalingInputError, match="no images"):
        project_scale(project)
    run = ScalingRun.objects.get(project=project)
    assert run.status == ScalingRun.Status.FAILED and run.error == "The project has no images to score."
    assert scaling_run_current(project=project) is None


def test_a_project_without_judgements_fails_with_a_clear_message(project):
    """Images but no comparisons or ratings: failed, saying there is nothing to scale yet."""
    images_make(project, 3)
    with pytest.raises(ScalingInputError, match="Nothing to scale yet"):
        project_scale(project)
    assert ScalingRun.objects.get(project=project).status == ScalingRun.Status.FAILED


def test_a_fit_that_does_not_converge_marks_the_run_failed(project, monkeypatch):
    """ScalingConvergenceError from the core: the run says so and no scores are written; the error reaches the caller."""
    a, b = images_make(project, 2)
    judgements_add(project, [(a, b, "a")], annotators_make(project, 1))

    def no_convergence(*args, **kwargs):
        raise ScalingConvergenceError("Newton did not converge in 50 iterations")

    monkeypatch.setattr(services, "thurstone_map_pairwise", no_convergence)
    with pytest.raises(ScalingConvergenceError):
        project_scale(project)
    run = ScalingRun.objects.get(project=project)
    assert run.status == ScalingRun.Status.FAILED
    assert run.error == "ScalingConvergenceError: Newton did not converge in 50 iterations"
    assert not ItemScore.objects.filter(run=run).exists()


def test_a_finished_run_is_not_done_again(project):
    """Running the task for a run that already finished (a redelivered message) changes nothing."""
    a, b = images_make(project, 2)
    judgements_add(project, [(a, b, "a")], annotators_make(project, 1))
    run = project_scale(project)
    finished_at = run.finished_at
    again = project_scale(project, run=run)
    assert again.pk == run.pk and again.finished_at == finished_at
    assert ItemScore.objects.filter(run=run).count() == 2 and ScalingRun.objects.count() == 1


def test_a_run_left_running_by_a_dead_worker_is_redone_cleanly(project):
    """A run found `running` (its worker died mid-way) is claimed again and ends with exactly one score per image."""
    a, b = images_make(project, 2)
    judgements_add(project, [(a, b, "a")], annotators_make(project, 1))
    run = ScalingRun.objects.create(project=project, status=ScalingRun.Status.RUNNING)
    ItemScore.objects.create(run=run, image=a, score=9, variance=1, ci_low=8, ci_high=10, score_0_100=50)
    project_scale(project, run=run)
    run.refresh_from_db()
    assert run.status == ScalingRun.Status.DONE
    assert ItemScore.objects.filter(run=run).count() == 2 and ItemScore.objects.get(run=run, image=a).score != 9


def test_a_request_while_one_is_queued_returns_that_one(project, enqueued, django_capture_on_commit_callbacks):
    """Two requests in a row make one queued run and enqueue one task, after commit."""
    with django_capture_on_commit_callbacks(execute=True):
        first = scaling_run_request(project=project)
        second = scaling_run_request(project=project)
    assert first.pk == second.pk and first.status == ScalingRun.Status.QUEUED
    assert enqueued == [(project.pk, first.pk)]


def test_a_stale_queued_run_does_not_block_new_requests(project, enqueued, django_capture_on_commit_callbacks):
    """A run queued long ago whose task was lost is marked failed, and a new run is queued."""
    old = ScalingRun.objects.create(project=project)
    ScalingRun.objects.filter(pk=old.pk).update(created_at=old.created_at - services.QUEUED_STALE_AFTER * 2)
    with django_capture_on_commit_callbacks(execute=True):
        new = scaling_run_request(project=project)
    old.refresh_from_db()
    assert new.pk != old.pk and old.status == ScalingRun.Status.FAILED and "lost" in old.error
    assert enqueued == [(project.pk, new.pk)]


def test_a_run_is_due_every_n_new_judgements(project, settings, enqueued, django_capture_on_commit_callbacks):
    """With LOUPE_SCALE_EVERY=5, the 5th new comparison queues a run; the next ones wait for it, then count afresh."""
    settings.LOUPE_SCALE_EVERY = 5
    images = images_make(project, 6)
    annotators = annotators_make(project, 1)
    pairs = [(images[i], images[j], "a") for i in range(6) for j in range(i + 1, 6)]
    judgements_add(project, pairs[:4], annotators)
    assert scaling_request_if_due(project=project) is None
    judgements_add(project, pairs[4:5], annotators)
    with django_capture_on_commit_callbacks(execute=True):
        run = scaling_request_if_due(project=project)
    assert run is not None and run.trigger == ScalingRun.Trigger.JUDGEMENTS and len(enqueued) == 1
    judgements_add(project, pairs[5:9], annotators)
    assert scaling_request_if_due(project=project) is None  # one is queued: it will read these too

    project_scale(project, run=run)
    judgements_add(project, pairs[9:13], annotators)
    assert scaling_request_if_due(project=project) is None  # 4 since the run
    judgements_add(project, pairs[13:14], annotators)
    assert scaling_request_if_due(project=project) is not None


def test_the_submitted_signal_queues_scaling_when_due(project, settings, enqueued, django_capture_on_commit_callbacks):
    """annotation's judgements_submitted signal reaches evaluation's receiver, which queues a run when one is due."""
    settings.LOUPE_SCALE_EVERY = 2
    a, b, c = images_make(project, 3)
    judgement, second = judgements_add(project, [(a, b, "a"), (b, c, "a")], annotators_make(project, 1))
    with django_capture_on_commit_callbacks(execute=True):
        judgements_submitted.send(sender=type(project), project=project, judgement=second)
    assert ScalingRun.objects.filter(project=project, status=ScalingRun.Status.QUEUED).count() == 1
    assert len(enqueued) == 1


def test_setting_zero_turns_automatic_runs_off(project, settings):
    """LOUPE_SCALE_EVERY=0: judgements never queue a run by themselves."""
    settings.LOUPE_SCALE_EVERY = 0
    a, b = images_make(project, 2)
    judgements_add(project, [(a, b, "a")] * 3, annotators_make(project, 3))
    assert scaling_request_if_due(project=project) is None


def test_scaling_a_thousand_images_takes_a_handful_of_queries(project, django_assert_max_num_queries):
    """1,000 images and 2,000 comparisons are read and written in bulk: the query count does not grow with the data."""
    images = images_make(project, 1000)
    rng = np.random.default_rng(1)
    first = rng.integers(0, 1000, 3000)
    second = (first + rng.integers(1, 1000, 3000)) % 1000
    keys = sorted({(min(i, j), max(i, j)) for i, j in zip(first, second)})[:2000]
    judgements_add(project, [(images[i], images[j], "a" if rng.random() < 0.5 else "b") for i, j in keys], annotators_make(project, 1))
    with django_assert_max_num_queries(30):
        run = project_scale(project, trigger=ScalingRun.Trigger.COMMAND)
    assert run.status == ScalingRun.Status.DONE and (run.n_items, run.n_comparisons) == (1000, 2000)
    assert ItemScore.objects.filter(run=run).count() == 1000
