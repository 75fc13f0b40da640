"""The Django side of active pair selection: read the judgements, the critic's scores and the queue, call the selection core, queue the pairs.

The science is in the Django-free cores (modeling/selection/core/). This module reads the project's
pair judgements, ratings (their MOS prior, as the scaling run uses) and the active critic's raw scores
into arrays, and calls the two steps of `modeling.selection.core.propose.propose_pairs`
(`selection_posterior`, then `propose_from_posterior`), so the app's pairs are the ones a notebook
calling `propose_pairs` gets. The chosen pairs go to annotation's queue through
`annotation.services.work.proposed_pairs_add`, which records their provenance on the work items.

The critic enters through one function, `critic_scores_for_project`: the active critic version's raw
scores; the calibration onto the human scale happens in the core. Without an active, scored critic it
returns None, and then the strategies that need the critic fall back to plain expected information
gain and say so in the items' provenance.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass, replace

import numpy as np
from django.db import transaction
from django.db.models import Count, F, Max, Q

from annotation.models import Image, Membership, PairSource, Project, SelectionStrategy, WorkItem
from annotation.services.work import (
    ProposedPair, pair_items_open_count, pairs_generate, proposed_pairs_add, proposed_pairs_unserved_retire,
)
from annotation.vocabulary import LEVELS, TaskKind
from evaluation.models import ItemScore
from evaluation.ratings import mos_from_ratings, mos_prior_mean
from evaluation.selectors import pair_outcomes, rating_levels, scaling_run_current
from modeling.critic.models import CriticScore, CriticVersion
from modeling.selection.core.active import SelectionConfig
from modeling.selection.core.critic_prior import calibrate_critic_prior, critic_disagreement_scores
from modeling.selection.core.propose import propose_from_posterior, selection_posterior

logger = logging.getLogger(__name__)

#: Paper 004 (eq. 5): weight of the feature-space diversity term in critic-disagreement selection.
DISAGREEMENT_DIVERSITY_WEIGHT = 0.01
#: Critic-disagreement: each chosen image is paired with this many neighbours on either side in score.
DISAGREEMENT_NEIGHBOURS = 5
#: The active critic must have scored at least this many of the images before its prior is used.
MIN_CRITIC_SCORES = 3


# ------------------------------------------------------------------------------------ the critic seam


@dataclass(frozen=True)
class CriticPrior:
    """The critic's view of every image, already calibrated onto the human (Thurstone) scale.

    Attributes
    ----------
    prior_mean, prior_var : ndarray, shape [n_images]
        In the order of the `image_ids` asked for (e.g. `modeling.selection.core.critic_prior.calibrate_critic_prior`'s output).
    critic_version_id : int
        The CriticVersion whose scores these are (recorded on every proposed pair).
    features : ndarray, shape [n_images, n_features], optional
        The critic's image features, for the diversity term of critic-disagreement selection: its five
        level probabilities per image (what the critic sees in it; images it has not scored get the mean).
    """

    prior_mean: np.ndarray
    prior_var: np.ndarray
    critic_version_id: int
    features: np.ndarray | None = None


@dataclass(frozen=True)
class CriticScores:
    """The active critic's raw scores for every image (the narrow seam: scores, never the model).

    Attributes
    ----------
    scores, variances : ndarray, shape [n_images]
        In the order of the `image_ids` asked for; images the critic has not scored get the mean score
        with the largest variance, so they carry little weight.
    critic_version_id : int
    features : ndarray, shape [n_images, n_features], optional
        Its five level probabilities per image (images it has not scored get the mean).
    """

    scores: np.ndarray
    variances: np.ndarray
    critic_version_id: int
    features: np.ndarray | None = None


def critic_scores_for_project(project: Project, *, image_ids: np.ndarray) -> CriticScores | None:
    """The active critic version's scores for `image_ids` (sorted), or None when there is none.

    None when no version is active or the active one has scored fewer than MIN_CRITIC_SCORES of these
    images. No score is ever made up beyond filling the few unscored images with the mean.
    """
    version = CriticVersion.objects.filter(project=project, status=CriticVersion.Status.ACTIVE).first()
    if version is None:
        return None
    n = image_ids.size
    rows = list(CriticScore.objects.filter(version=version, image__project=project).values_list("image_id", "score", "variance", "probabilities"))
    if len(rows) < MIN_CRITIC_SCORES:
        return None
    ids, scores, variances = (np.asarray(column) for column in list(zip(*rows))[:3])
    probabilities = np.asarray([row[3] for row in rows], dtype=float)
    where = np.searchsorted(image_ids, ids.astype(np.int64))
    known = (where < n) & (image_ids[np.minimum(where, n - 1)] == ids)
    if int(known.sum()) < MIN_CRITIC_SCORES:
        return None
    critic = np.full(n, float(np.mean(scores[known])))
    critic_var = np.full(n, float(np.max(variances[known])))
    critic[where[known]] = scores[known]
    critic_var[where[known]] = variances[known]
    features = None
    if probabilities.ndim == 2 and np.isfinite(probabilities).all():
        features = np.tile(probabilities[known].mean(axis=0), (n, 1))
        features[where[known]] = probabilities[known]
    return CriticScores(scores=critic, variances=critic_var, critic_version_id=version.pk, features=features)


def critic_prior_for_project(project: Project, *, image_ids: np.ndarray) -> CriticPrior | None:
    """The active critic's calibrated prior for `image_ids` (sorted), fitted on the current scaling run, or None.

    Reads the scores through `critic_scores_for_project` and maps them onto the human (Thurstone) scale
    with `modeling.selection.core.critic_prior.calibrate_critic_prior`, fitted on the images the current
    scaling run has human data for. The scaling run's own prior is passed as
    `human_prior_mean`/`human_prior_var` so it is divided out first: N(z-scored MOS, 1) for rated images
    and N(0, 1) for the others (evaluation.services._scale_fit, evaluation.ratings.mos_prior_mean),
    rebuilt from the run's `ItemScore.mos`. The refill does not use it (it calibrates inside
    `modeling.selection.core.propose.selection_posterior`); it is the critic-on-human-scale view for
    reports.

    Returns None when there is no active scored critic, no finished scaling run, or the calibration
    cannot be fitted (fewer than 3 images with human data, constant critic scores).
    """
    found = critic_scores_for_project(project, image_ids=image_ids)
    if found is None:
        return None
    n = image_ids.size
    critic, critic_var, features = found.scores, found.variances, found.features
    run = scaling_run_current(project=project)
    if run is None:
        return None
    human, human_var = np.full(n, np.nan), np.full(n, np.nan)
    prior_mean, has_human, mos = np.zeros(n), np.zeros(n, dtype=bool), np.full(n, np.nan)
    score_rows = list(ItemScore.objects.filter(run=run).values_list("image_id", "score", "variance", "n_comparisons", "n_ratings", "mos"))
    if score_rows:
        s_ids, s_scores, s_var, n_comp, n_rat, s_mos = zip(*score_rows)
        s_ids = np.asarray(s_ids, dtype=np.int64)
        at = np.searchsorted(image_ids, s_ids)
        ok = (at < n) & (image_ids[np.minimum(at, n - 1)] == s_ids)
        at = at[ok]
        human[at] = np.asarray(s_scores, dtype=float)[ok]
        human_var[at] = np.maximum(np.asarray(s_var, dtype=float)[ok], 1e-9)
        has_human[at] = (np.asarray(n_comp) + np.asarray(n_rat))[ok] > 0
        mos[at] = np.asarray([np.nan if m is None else m for m in s_mos], dtype=float)[ok]
    rated = ~np.isnan(mos)
    if rated.sum() >= 2 and mos[rated].std() > 0:  # evaluation.ratings.mos_prior_mean
        prior_mean[rated] = (mos[rated] - mos[rated].mean()) / mos[rated].std()
    try:
        calibrated = calibrate_critic_prior(
            critic, critic_var, human, human_var, has_human, human_prior_mean=prior_mean, human_prior_var=np.ones(n),
        )
    except (ValueError, RuntimeError) as error:
        logger.info("No critic prior for project %s from version %s: %s", project.pk, found.critic_version_id, error)
        return None
    return CriticPrior(
        prior_mean=calibrated.prior_mean, prior_var=calibrated.prior_var, critic_version_id=found.critic_version_id, features=features,
    )


# -------------------------------------------------------------------------------------------- refills


@dataclass(frozen=True)
class RefillResult:
    """What one refill did, for the command, the page and the log."""

    added: int  # pair items queued (new ones, plus retired proposals served again)
    open_before: int  # open pair items when the refill looked
    batch_size: int
    pair_source: str
    strategy_requested: str = ""  # the project's selection strategy (proposed pairs only)
    strategy_used: str = ""  # what actually chose the pairs (recorded on each item)
    critic_version_id: int | None = None
    seed: int | None = None  # of the random generator, when the refill made its own
    retired: int = 0  # older unserved proposals no longer served
    note: str = ""  # why nothing, or fewer than asked, was added


def pair_queue_refill(project: Project, *, rng: np.random.Generator | None = None) -> int:
    """Top up the project's comparison pairs when fewer than a batch are open; returns how many were added.

    See `pair_queue_refill_run` for what it does; this is the short form tasks and scripts call.
    """
    return pair_queue_refill_run(project, rng=rng).added


def pair_queue_refill_run(project: Project, *, rng: np.random.Generator | None = None, seed: int | None = None) -> RefillResult:
    """Top up the project's comparison pairs when fewer than `pair_batch_size` are open.

    Pair source `proposed`: choose `pair_batch_size` pairs as `propose_pairs` does, on the posterior
    fitted from every scaled judgement (with the active critic's calibrated prior for the strategies
    that use it), never a pair still open in the queue (a judged pair may come back while its outcome is
    uncertain, and never one every annotator has judged), and queue them with their strategy, information in bits and critic version (older unserved proposals are retired by `proposed_pairs_add`). A re-asked pair that every annotator has judged meanwhile is closed first (`reasks_close_exhausted`), so it does not count as open. Other sources:
    `pairs_generate` up to the batch size. Nothing happens when pairs are not an enabled task kind or a
    batch is already open, so running it twice adds nothing the second time. The project row is locked
    for the whole refill, so two refills of one project never interleave. Without `rng` it draws from `seed`
    (fresh entropy when None), and the result records the seed.
    """
    if rng is None:
        seed = int(np.random.SeedSequence().entropy) if seed is None else int(seed)
        rng = np.random.default_rng(seed)
    else:
        seed = None
    with transaction.atomic():
        project = Project.objects.select_for_update().get(pk=project.pk)
        batch_size = int(project.pair_batch_size)
        reasks_close_exhausted(project)  # a re-asked pair nobody can answer must not hold a batch slot
        open_before = pair_items_open_count(project)
        base = {"open_before": open_before, "batch_size": batch_size, "pair_source": project.pair_source}
        if TaskKind.PAIR not in (project.task_kinds or []):
            return RefillResult(added=0, note="Comparisons are not an enabled task kind of this project.", **base)
        if open_before >= batch_size:
            return RefillResult(added=0, note=f"{open_before} pairs are open, a full batch of {batch_size}.", **base)
        if project.pair_source != PairSource.PROPOSED:
            added = pairs_generate(project, count=batch_size - open_before, rng=rng)
            note = "" if added else "No new pairs are left to make from this pair source."
            return RefillResult(added=added, seed=seed, note=note, **base)
        result = _proposed_refill(project=project, batch_size=batch_size, rng=rng, seed=seed, base=base)
    logger.info(
        "Pair refill of project %s: %s added (%s, critic %s, seed %s); %s", project.pk, result.added,
        result.strategy_used, result.critic_version_id, result.seed, result.note or "ok",
    )
    return result


#: The strategies whose pairs depend on the active critic: a new active critic re-plans their waiting batch.
CRITIC_STRATEGIES = (SelectionStrategy.EIG_PRIOR, SelectionStrategy.CRITIC_DISAGREEMENT)


def pair_queue_replan(project: Project, *, rng: np.random.Generator | None = None) -> RefillResult:
    """A new active critic: re-plan the project's waiting proposals with it, in one transaction.

    When the project's pairs are proposed by a strategy that uses the critic (CRITIC_STRATEGIES), the proposals
    nobody has judged or leased yet were chosen without this critic: they are retired
    (`proposed_pairs_unserved_retire`) and the queue is refilled through `pair_queue_refill_run`, the path every
    refill takes, so the batch that waits is the new critic's choice. Pairs an annotator holds or has answered
    are left untouched (and stay excluded from the new batch while open). Otherwise this is a plain refill. The
    project row is locked first and for the whole re-plan, so a concurrent refill waits and then finds a full
    batch; running it twice re-plans twice with the same critic, which changes nothing but the draw of ties.
    """
    with transaction.atomic():
        project = Project.objects.select_for_update().get(pk=project.pk)
        replans = (
            project.pair_source == PairSource.PROPOSED
            and TaskKind.PAIR in (project.task_kinds or [])
            and project.selection_strategy in CRITIC_STRATEGIES
        )
        dropped = proposed_pairs_unserved_retire(project) if replans else 0
        result = pair_queue_refill_run(project, rng=rng)
    return replace(result, retired=result.retired + dropped)


def _proposed_refill(*, project: Project, batch_size: int, rng, seed, base: dict) -> RefillResult:
    image_ids = np.fromiter(
        Image.objects.filter(project=project).order_by("id").values_list("id", flat=True), dtype=np.int64,
    )
    requested = project.selection_strategy
    if image_ids.size < 2:
        return RefillResult(added=0, strategy_requested=requested, seed=seed, note="The project has fewer than two images.", **base)
    critic = None
    if requested in (SelectionStrategy.EIG_PRIOR, SelectionStrategy.CRITIC_DISAGREEMENT):
        critic = critic_scores_for_project(project, image_ids=image_ids)
    judgements = _judgement_arrays(project=project, image_ids=image_ids)
    posterior = selection_posterior(
        image_ids.size, judgements.winners, judgements.losers, ties=judgements.ties, prior_mean=judgements.prior_mean,
        critic_scores=None if critic is None else critic.scores, critic_var=None if critic is None else critic.variances,
    )
    exclude = _pairs_taken(project=project, image_ids=image_ids)

    candidates = None
    note = ""
    if requested == SelectionStrategy.RANDOM:
        used, core_strategy = SelectionStrategy.RANDOM, "random"
    elif critic is None:
        used, core_strategy = SelectionStrategy.EIG, "eig"
        if requested != SelectionStrategy.EIG:
            note = f"No critic scores yet: strategy {requested} fell back to plain expected information gain (eig)."
    else:
        used, core_strategy = SelectionStrategy.EIG_PRIOR, "eig"
        if requested == SelectionStrategy.CRITIC_DISAGREEMENT:
            candidates = _disagreement_candidates(
                mean=posterior.mean, var=posterior.var, has_human=judgements.has_human,
                critic_on_human_scale=posterior.prior_mean, features=critic.features, k=batch_size, rng=rng,
            )
            if candidates is not None:
                used = SelectionStrategy.CRITIC_DISAGREEMENT
            else:
                note = "Too little human data or no critic features for critic disagreement: used EIG with the critic prior."

    pairs, gains = propose_from_posterior(
        posterior.mean, posterior.var, batch_size, rng=rng, candidates=candidates, exclude=exclude,
        config=SelectionConfig(strategy=core_strategy),
    )
    if not len(pairs):
        return RefillResult(
            added=0, strategy_requested=requested, strategy_used=used, seed=seed,
            note=(note + " " if note else "") + "Every pair is already open or judged.", **base,
        )
    critic_version_id = critic.critic_version_id if critic is not None else None
    added = proposed_pairs_add(
        project,
        [ProposedPair(int(image_ids[i]), int(image_ids[j]), float(gain)) for (i, j), gain in zip(pairs, gains)],
        strategy=used,
        critic_version_id=critic_version_id,
        batch_priority=_next_batch_priority(project=project),
    )
    return RefillResult(
        added=added.created + added.refreshed, strategy_requested=requested, strategy_used=used,
        critic_version_id=critic_version_id, seed=seed, retired=added.retired, note=note, **base,
    )


@dataclass(frozen=True)
class _Judgements:
    winners: np.ndarray  # [n_comparisons] image indices
    losers: np.ndarray
    ties: np.ndarray  # [n_comparisons] bool
    prior_mean: np.ndarray | None  # [n_images]: z-scored MOS for rated images (as the scaling run), or None
    has_human: np.ndarray  # [n_images] bool: compared or rated


def _judgement_arrays(*, project: Project, image_ids: np.ndarray) -> _Judgements:
    """Every scaled pair and rating judgement of the project as index arrays (what the scaling run reads)."""
    n = image_ids.size
    has_human = np.zeros(n, dtype=bool)
    rows = list(pair_outcomes(project=project, last_judgement_id=None))
    if rows:
        a_ids, b_ids, choices = zip(*rows)
        a = np.searchsorted(image_ids, np.asarray(a_ids, dtype=np.int64))
        b = np.searchsorted(image_ids, np.asarray(b_ids, dtype=np.int64))
        choice = np.asarray(choices)
        b_won = choice == "b"
        winners, losers, ties = np.where(b_won, b, a), np.where(b_won, a, b), choice == "tie"
        has_human[a] = has_human[b] = True
    else:
        winners = losers = np.empty(0, dtype=np.int64)
        ties = np.empty(0, dtype=bool)
    prior_mean = None
    ratings = list(rating_levels(project=project, last_judgement_id=None))
    if ratings:
        r_ids, levels = zip(*ratings)
        rated = np.searchsorted(image_ids, np.asarray(r_ids, dtype=np.int64))
        prior_mean = mos_prior_mean(mos_from_ratings(rated, np.asarray(levels, dtype=np.float64), n, levels=len(LEVELS)))
        has_human[rated] = True
    return _Judgements(winners=winners, losers=losers, ties=ties, prior_mean=prior_mean, has_human=has_human)


def _pairs_exhausted(project: Project):
    """WORK pair items with judgements that no annotator of the project can answer again: every active
    annotator member has judged them (the queue never serves an item twice to one annotator)."""
    eligible = Membership.objects.filter(project=project, role=Membership.Role.ANNOTATOR, user__is_active=True).values("user_id")
    n_eligible = eligible.count()
    return (
        WorkItem.objects.filter(project=project, kind=TaskKind.PAIR, purpose=WorkItem.Purpose.WORK, judgement_count__gt=0)
        .annotate(judged_by=Count("judgements__annotator", filter=Q(judgements__annotator__in=eligible), distinct=True))
        .filter(judged_by__gte=n_eligible)
    )


def reasks_close_exhausted(project: Project) -> int:
    """Close re-asked pairs nobody is left to answer; returns how many.

    A judged pair proposed again waits for one more judgement (`extra_judgements`) from an annotator who has
    not judged it. When every annotator has (or the others left), it could never be served and would hold a
    batch slot for good: its extra judgements are dropped to what it already has, so it is no longer open.
    """
    stuck = _pairs_exhausted(project).filter(
        retired=False, extra_judgements__gt=0, judgement_count__lt=F("extra_judgements") + project.overlap,
    )
    closed = 0
    for item_id, count in stuck.values_list("pk", "judgement_count"):
        closed += WorkItem.objects.filter(pk=item_id).update(extra_judgements=max(count - project.overlap, 0))
    return closed


def _pairs_taken(*, project: Project, image_ids: np.ndarray) -> np.ndarray:
    """Index pairs [n, 2] the selector must not propose: pair items still waiting for judgements (open or
    leased), gold or training pairs, and judged pairs every annotator of the project has judged already
    (`_pairs_exhausted`: asking again would leave an item no one can be served). A work pair that has all its
    judgements may be proposed again while its outcome is uncertain (`proposed_pairs_add` then asks one more
    annotator; the queue never serves an item twice to one annotator); a retired one nobody judged is served
    again rather than duplicated."""
    rows = list(
        WorkItem.objects.filter(project=project, kind=TaskKind.PAIR)
        .filter(
            ~Q(purpose=WorkItem.Purpose.WORK)
            | Q(retired=False, judgement_count__lt=F("extra_judgements") + project.overlap)
        )
        .values_list("image_id", "image_b_id")
    )
    rows += list(_pairs_exhausted(project).values_list("image_id", "image_b_id"))
    if not rows:
        return np.empty((0, 2), dtype=np.int64)
    pairs = np.asarray(rows, dtype=np.int64)
    return np.searchsorted(image_ids, pairs)


def _next_batch_priority(*, project: Project) -> float:
    """One more than the newest proposal batch's priority: later batches (fresher posteriors) are served first."""
    latest = (
        WorkItem.objects.filter(project=project, kind=TaskKind.PAIR, purpose=WorkItem.Purpose.WORK)
        .exclude(strategy="")
        .aggregate(top=Max("priority"))["top"]
    )
    return float(latest or 0.0) + 1.0


def _disagreement_candidates(*, mean, var, has_human, critic_on_human_scale, features, k: int, rng) -> np.ndarray | None:
    """Candidate pairs around the images where the critic is most wrong (paper 004, eq. 5), or None.

    Chooses up to k images with human data by variance-normalised critic error (the critic's calibrated
    prior mean against the posterior) plus feature diversity (`critic_disagreement_scores`), and pairs
    each with its nearest neighbours in posterior mean, so the next comparisons pin down exactly those
    images.
    """
    human = np.flatnonzero(has_human)
    if features is None or human.size < 2:
        return None
    picked = critic_disagreement_scores(
        critic_on_human_scale[human], mean[human], np.sqrt(var[human]), features[human],
        diversity_weight=DISAGREEMENT_DIVERSITY_WEIGHT, k=min(k, human.size), rng=rng,
    )
    order = np.argsort(mean, kind="stable")
    rank = np.empty_like(order)
    rank[order] = np.arange(order.size)
    pairs = []
    for item in human[picked]:
        low, high = max(rank[item] - DISAGREEMENT_NEIGHBOURS, 0), rank[item] + DISAGREEMENT_NEIGHBOURS + 1
        pairs.extend((item, other) for other in order[low:high] if other != item)
    return np.asarray(pairs, dtype=np.int64) if pairs else None

