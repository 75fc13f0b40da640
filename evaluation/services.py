"""Writes of the evaluation app: scaling a project's judgements into scores, and asking for that to happen.

The science is in the Django-free cores (evaluation/scaling.py, evaluation/ratings.py); this module reads
the database into arrays, calls them, and writes the results back as one `ScalingRun` with its `ItemScore`s.
"""
from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from datetime import timedelta

import numpy as np
from celery import current_app
from django.conf import settings
from django.db import transaction
from django.db.models import Max
from django.utils import timezone

from annotation.models import Image, Judgement, Project
from annotation.vocabulary import LEVELS
from config.runs import run_claim, run_fail, run_keepalive, runs_stale_fail
from evaluation import selectors
from evaluation.models import ItemScore, ScalingRun
from evaluation.ratings import mos_from_ratings, mos_prior_mean
from evaluation.scaling import thurstone_map_pairwise
from evaluation.signals import scaling_run_done

logger = logging.getLogger(__name__)

#: z for a two-sided 95% interval of a Gaussian.
Z_95 = 1.959963984540054
#: A queued run older than this is taken to have lost its task message (a purged broker, say) and is
#: marked failed, so that it no longer blocks new requests. (A running run follows the one stale rule, config.runs.)
QUEUED_STALE_AFTER = timedelta(minutes=15)
BULK_BATCH_SIZE = 2000
SCALE_TASK = "evaluation.project_scale"  # evaluation/tasks.py


class ScalingInputError(ValueError):
    """There is nothing to scale (no images, or no usable judgements yet)."""


# ------------------------------------------------------------------------------------ asking for a run


def scaling_run_request(*, project: Project, trigger: str = ScalingRun.Trigger.MANUAL) -> ScalingRun:
    """Queue a scaling run for the project and enqueue its task once the transaction commits.

    If a run is already queued (not started), that run is returned and nothing new is enqueued: it will
    read every judgement committed before it starts, so a burst of requests (clicks, or many
    judgements at once) costs one run. The project row is locked so that two requests at once cannot
    both create a run.
    """
    with transaction.atomic():
        Project.objects.select_for_update().filter(pk=project.pk).first()
        _stale_runs_fail(project=project)
        queued = selectors.scaling_runs(project=project).filter(status=ScalingRun.Status.QUEUED).first()
        if queued is not None:
            return queued
        run = ScalingRun.objects.create(project=project, trigger=trigger, status=ScalingRun.Status.QUEUED)
        # By name (routed to the default queue by config.tasks.task_route): evaluation.tasks imports this module.
        transaction.on_commit(lambda: current_app.send_task(SCALE_TASK, args=(project.pk, run.pk)))
    return run


def scaling_request_if_due(*, project: Project) -> ScalingRun | None:
    """Queue a run when `settings.LOUPE_SCALE_EVERY` new pair or rating judgements arrived since the last run.

    "Since the last run" is counted by judgement id: every run records the highest judgement id it
    read (`last_judgement_id`), failed runs included (so data that makes the fit fail does not start
    a new failing run at every submission). A queued run will read the new judgements anyway, so none
    is added while one waits. 0 or less in the setting turns automatic runs off.
    """
    every = settings.LOUPE_SCALE_EVERY
    if every <= 0:
        return None
    runs = selectors.scaling_runs(project=project)
    if runs.filter(status=ScalingRun.Status.QUEUED).exists():
        return None
    baseline = runs.aggregate(last=Max("last_judgement_id"))["last"] or 0
    if selectors.judgements_since(project=project, after_id=baseline) < every:
        return None
    return scaling_run_request(project=project, trigger=ScalingRun.Trigger.JUDGEMENTS)


def _stale_runs_fail(*, project: Project) -> None:
    """Mark runs failed whose task can no longer finish them (lost message, killed worker)."""
    now = timezone.now()
    runs = ScalingRun.objects.filter(project=project)
    runs.filter(status=ScalingRun.Status.QUEUED, created_at__lt=now - QUEUED_STALE_AFTER).update(
        status=ScalingRun.Status.FAILED, error="Never started: its task was lost before a worker took it.", finished_at=now,
    )
    runs_stale_fail(ScalingRun, queryset=runs, now=now)


# ----------------------------------------------------------------------------------------- the run itself


def project_scale(
    project: Project, *, run: ScalingRun | None = None, trigger: str = ScalingRun.Trigger.COMMAND,
) -> ScalingRun:
    """Fit the project's pair and rating judgements onto one scale and store a score per image.

    Pairs: Thurstone Case V MAP (paper 004, eq. 2) with ties half a win to each side; ratings: MOS per
    image, z-scored over rated images and used as the prior mean of the fit (evaluation/ratings.py
    documents why that puts both kinds on one scale); images with neither keep the prior N(0, 1).
    Reads work and gold judgements that quality control did not exclude (evaluation.selectors).

    With `run` (a queued row, as the task passes it), that row is claimed and filled; a run that is
    already done or failed is returned untouched, so a redelivered task does no work twice. Without
    `run`, a new one is made. On any error the run is marked failed with the message, and the error is
    raised again for the caller (the task) to report.
    """
    run, claimed = _run_claim(project=project, run=run, trigger=trigger)
    if not claimed:
        return run
    started = time.perf_counter()
    keepalive = run_keepalive(ScalingRun, run.pk)
    try:
        fit = _scale_fit(project=project, last_judgement_id=run.last_judgement_id)
        with transaction.atomic():
            # A redelivered run (its worker died mid-write) starts from no scores.
            ItemScore.objects.filter(run=run).delete()
            ItemScore.objects.bulk_create(fit.item_scores(run), batch_size=BULK_BATCH_SIZE)
            run.status = ScalingRun.Status.DONE
            run.finished_at = timezone.now()
            run.duration_seconds = time.perf_counter() - started
            run.n_items, run.n_comparisons, run.n_ratings = fit.n_items, fit.n_comparisons, fit.n_ratings
            run.iterations, run.variance_method, run.method = fit.iterations, fit.variance_method, fit.method
            run.save(update_fields=[
                "status", "finished_at", "duration_seconds", "n_items", "n_comparisons", "n_ratings",
                "iterations", "variance_method", "method",
            ])
    except Exception as exc:
        _run_fail(run=run, exc=exc, duration=time.perf_counter() - started)
        raise
    finally:
        keepalive.stop()
    logger.info(
        "Scaling run %s of project %s: %s items, %s comparisons, %s ratings in %.2fs",
        run.pk, project.pk, run.n_items, run.n_comparisons, run.n_ratings, run.duration_seconds,
    )
    transaction.on_commit(lambda: scaling_run_done.send(sender=ScalingRun, project=project, run=run))
    return run


def _run_claim(*, project: Project, run: ScalingRun | None, trigger: str) -> tuple[ScalingRun, bool]:
    """Mark the run running and fix which judgements it reads (config.runs.run_claim); (run, False) if there is nothing to do.

    Without `run`, a new one is made and claimed at once.
    """
    if run is None:
        run = ScalingRun.objects.create(project=project, trigger=trigger, status=ScalingRun.Status.QUEUED)
    # Every judgement up to this id is read; later ones count towards the next automatic run.
    last_judgement_id = Judgement.objects.filter(project=project).aggregate(last=Max("id"))["last"] or 0
    claimed = run_claim(ScalingRun, run.pk, fields={"last_judgement_id": last_judgement_id})
    if claimed is None:
        return ScalingRun.objects.get(pk=run.pk), False
    return claimed, True


def _run_fail(*, run: ScalingRun, exc: Exception, duration: float) -> None:
    message = str(exc) if isinstance(exc, ScalingInputError) else f"{type(exc).__name__}: {exc}"
    run_fail(ScalingRun, run.pk, message, duration_seconds=duration)
    run.refresh_from_db()


@dataclass(frozen=True)
class _Fit:
    image_ids: np.ndarray  # [n_items]
    scores: np.ndarray  # [n_items]
    variances: np.ndarray  # [n_items]
    n_comparisons_per_item: np.ndarray  # [n_items]
    n_ratings_per_item: np.ndarray  # [n_items]
    mos: np.ndarray  # [n_items], NaN where unrated
    n_comparisons: int
    n_ratings: int
    iterations: int
    variance_method: str
    method: str

    @property
    def n_items(self) -> int:
        return int(self.image_ids.size)

    def item_scores(self, run: ScalingRun) -> list[ItemScore]:
        half = Z_95 * np.sqrt(self.variances)
        low, high = float(self.scores.min()), float(self.scores.max())
        span = high - low
        display = 100.0 * (self.scores - low) / span if span > 0 else np.full(self.scores.shape, 50.0)
        return [
            ItemScore(
                run=run,
                image_id=int(image_id),
                score=float(score),
                variance=float(variance),
                ci_low=float(score - h),
                ci_high=float(score + h),
                score_0_100=float(shown),
                n_comparisons=int(n_comp),
                n_ratings=int(n_rat),
                mos=None if np.isnan(mos) else float(mos),
            )
            for image_id, score, variance, h, shown, n_comp, n_rat, mos in zip(
                self.image_ids, self.scores, self.variances, half, display,
                self.n_comparisons_per_item, self.n_ratings_per_item, self.mos,
            )
        ]


def _indices(image_ids: np.ndarray, ids) -> np.ndarray:
    """Positions of `ids` in the sorted `image_ids` (every id is one of the project's images)."""
    return np.searchsorted(image_ids, np.asarray(ids, dtype=np.int64))


def _scale_fit(*, project: Project, last_judgement_id: int | None) -> _Fit:
    """Read the judgements as arrays (values_list, no model instances) and run the cores."""
    image_ids = np.fromiter(
        Image.objects.filter(project=project).order_by("id").values_list("id", flat=True), dtype=np.int64,
    )
    n = int(image_ids.size)
    if n == 0:
        raise ScalingInputError("The project has no images to score.")

    pair_rows = list(selectors.pair_outcomes(project=project, last_judgement_id=last_judgement_id))
    rating_rows = list(selectors.rating_levels(project=project, last_judgement_id=last_judgement_id))
    if not pair_rows and not rating_rows:
        raise ScalingInputError(
            "Nothing to scale yet: the project has no pair or rating judgements (work or gold, not excluded)."
        )

    if pair_rows:
        a_ids, b_ids, choices = zip(*pair_rows)
        a, b = _indices(image_ids, a_ids), _indices(image_ids, b_ids)
        choice = np.asarray(choices)
        b_won = choice == "b"
        winners, losers = np.where(b_won, b, a), np.where(b_won, a, b)
        ties = choice == "tie"
    else:
        a = b = winners = losers = np.empty(0, dtype=np.int64)
        ties = np.empty(0, dtype=bool)

    notes = ["Thurstone Case V MAP (paper 004, eq. 2); ties count half a win to each side."]
    prior_mean = None
    if rating_rows:
        r_ids, levels = zip(*rating_rows)
        rated = _indices(image_ids, r_ids)
        mos = mos_from_ratings(rated, np.asarray(levels, dtype=np.float64), n, levels=len(LEVELS))
        prior_mean = mos_prior_mean(mos)
        mos_mean, n_ratings_per_item = mos.mean, mos.n
        notes.append("Prior N(z-scored MOS, 1) for rated images, N(0, 1) for the others (evaluation/ratings.py).")
    else:
        mos_mean = np.full(n, np.nan)
        n_ratings_per_item = np.zeros(n, dtype=np.int64)
        notes.append("Prior N(0, 1) for every image.")

    result = thurstone_map_pairwise(n, winners, losers, ties=ties, prior_mean=prior_mean)
    notes.append(f"Variances: Laplace, {result.variance_method}; 95% interval: score ± 1.96 sd.")
    return _Fit(
        image_ids=image_ids,
        scores=np.asarray(result.scores),
        variances=np.asarray(result.variances),
        n_comparisons_per_item=np.bincount(a, minlength=n) + np.bincount(b, minlength=n),
        n_ratings_per_item=np.asarray(n_ratings_per_item),
        mos=np.asarray(mos_mean, dtype=np.float64),
        n_comparisons=len(pair_rows),
        n_ratings=len(rating_rows),
        iterations=int(result.n_iter),
        variance_method=result.variance_method,
        method=" ".join(notes),
    )
