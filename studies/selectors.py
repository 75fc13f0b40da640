"""Reads of the studies app: lists, progress, and a study's results computed from its votes by evaluation.sidebyside."""
from __future__ import annotations

import math

import numpy as np
from django.db.models import Count, Q

from annotation.models import Project
from evaluation import sidebyside
from evaluation.models import ReportCache
from evaluation.report_cache import STUDY_RESULTS, report_cached
from modeling.critic.models import CriticVersion
from studies.models import CRITERIA, Answer, Study, System, Trial, TrialLease, Vote

USABLE_CRITIC_STATES = (CriticVersion.Status.READY, CriticVersion.Status.ACTIVE, CriticVersion.Status.RETIRED)
#: Ridge on Bradley–Terry strengths: keeps a system that won every vote finite (a prior of ±10 logits, negligible otherwise).
BT_L2 = 0.01


def studies_for_project(*, project: Project):
    return Study.objects.filter(project=project).annotate(
        n_items=Count("items", distinct=True), n_systems=Count("systems", distinct=True),
    ).order_by("-created_at")


def studies_for_annotator(*, annotator):
    """Studies the user is assigned to, in projects they still annotate."""
    return (
        Study.objects.filter(annotators=annotator, project__memberships__user=annotator, project__memberships__role="annotator")
        .select_related("project").distinct().order_by("-created_at")
    )


def critic_versions_usable(*, project: Project):
    """The project's trained critic versions a study may compare."""
    return CriticVersion.objects.filter(project=project, status__in=USABLE_CRITIC_STATES).exclude(artifact_sha256="").order_by("-number")


def study_progress(*, study: Study) -> dict:
    trials = Trial.objects.filter(study=study)
    counts = trials.aggregate(n=Count("id"), complete=Count("id", filter=Q(vote_count__gte=study.votes_per_trial)))
    return {
        "items": study.items.count(),
        "trials": counts["n"],
        "complete_trials": counts["complete"],
        "votes": Vote.objects.filter(trial__study=study).count(),
        "votes_wanted": counts["n"] * study.votes_per_trial,
        "active_leases": TrialLease.objects.filter(trial__study=study, status=TrialLease.Status.ACTIVE).count(),
    }


def _finite(value) -> float | None:
    value = float(value)
    return value if math.isfinite(value) else None


def _interval(pair) -> list[float | None]:
    return [_finite(pair[0]), _finite(pair[1])]


GPT4_EMPTY = {"gpt4_score": None, "gpt4_scored": 0, "gpt4_failed": 0, "gpt4_error": ""}


def study_gpt4_scores(*, study: Study) -> dict[int, dict]:
    """Per system: its GPT4-score in percent (paper 002; studies/gpt4_score.py), answers scored and failed, last error."""
    from studies.gpt4_score import gpt4_score_relative
    from studies.models import AnswerScore

    rows: dict[int, dict] = {}
    pairs: dict[int, list[tuple[float, float]]] = {}
    for system_id, reference, answer, error in AnswerScore.objects.filter(answer__system__study=study).order_by("id").values_list(
        "answer__system_id", "reference_score", "answer_score", "error",
    ):
        row = rows.setdefault(system_id, dict(GPT4_EMPTY))
        if answer is None:
            row["gpt4_failed"] += 1
            row["gpt4_error"] = error
        else:
            pairs.setdefault(system_id, []).append((reference, answer))
            row["gpt4_scored"] += 1
    for system_id, row in rows.items():
        row["gpt4_score"] = gpt4_score_relative(pairs.get(system_id, ()))
    return rows


def study_results_cached(*, study: Study) -> tuple[dict, ReportCache]:
    """`study_results` from the report cache (recomputed on the worker when votes change), with live header and progress.

    Returns the results and the cache row (`computed_at`, `pending`) for the page's freshness line.
    """
    row = report_cached(kind=STUDY_RESULTS, object_id=study.pk, project_id=study.project_id)
    return {**row.data, "study": _study_header(study), "progress": study_progress(study=study)}, row


def _study_header(study: Study) -> dict:
    return {"id": study.pk, "name": study.name, "instruction": study.instruction, "votes_per_trial": study.votes_per_trial}


def study_results(*, study: Study, n_resamples: int = 1000, seed: int = 0) -> dict:
    """Everything the results page, CSV, JSON and API show, as plain JSON-able values.

    Systems are numbered in id order. Bootstrap intervals resample study items (seeded, so a page reload
    shows the same numbers): `n_resamples` for win/tie/loss, half as many for BT, a fifth for length-controlled BT.
    BT strengths are on the logit scale, centred to mean 0. Pages and the API read it through `study_results_cached`.
    """
    systems = list(System.objects.filter(study=study).order_by("pk"))
    index = {system.pk: k for k, system in enumerate(systems)}
    gpt4 = study_gpt4_scores(study=study)
    votes = list(
        Vote.objects.filter(trial__study=study).values_list(
            "trial_id", "trial__item_id", "trial__system_a_id", "trial__system_b_id", "outcome", "left_is_a", "annotator_id",
            "criteria_a", "criteria_b", named=True,
        )
    )
    lengths = {(s, i): len(t) for s, i, t in Answer.objects.filter(system__study=study).values_list("system_id", "item_id", "text")}
    result = {
        "study": _study_header(study),
        "progress": study_progress(study=study),
        "n_votes": len(votes),
        "n_annotators": len({vote.annotator_id for vote in votes}),
        "systems": [
            {"id": s.pk, "name": s.name, "kind": s.kind, "answers": s.answered_count, "bt": None, "bt_ci": [None, None],
             "bt_length_controlled": None, "bt_length_controlled_ci": [None, None], "rank": None,
             "reasonable_rate": None, "reasonable_marked": 0, **gpt4.get(s.pk, GPT4_EMPTY)}
            for s in systems
        ],
        "pairs": [],
        "length_coef": None,
        "position_bias": None,
        "krippendorff_alpha": None,
        "criteria": [label for _, label in CRITERIA],
    }
    if not votes or len(systems) < 2:
        return result
    trial, item, a_id, b_id, outcome, left_is_a, annotator, crit_a, crit_b = map(list, zip(*votes))
    a = np.array([index[x] for x in a_id])
    b = np.array([index[x] for x in b_id])
    y = np.array(outcome)
    item = np.array(item)
    n = len(systems)
    rng = np.random.default_rng(seed)
    for row in sidebyside.win_tie_loss_bootstrap(a, b, y, item, n_systems=n, n_resamples=n_resamples, rng=rng):
        result["pairs"].append({
            "system_1": systems[row.i].name, "system_2": systems[row.j].name, "n": row.n,
            "good": row.good, "same": row.same, "bad": row.bad,
            "gs_share": row.gs_share, "sb_share": row.sb_share, "gsb_ratio": _finite(row.gsb_ratio),
            "win": row.win, "tie": row.tie, "loss": row.loss,
            "win_ci": _interval(row.win_ci), "tie_ci": _interval(row.tie_ci), "loss_ci": _interval(row.loss_ci),
        })
    bt_resamples = max(2, n_resamples // 2)
    fit, intervals = sidebyside.bradley_terry_bootstrap(a, b, y, item, n_systems=n, l2=BT_L2, n_resamples=bt_resamples, rng=rng)
    len_a = np.array([lengths.get((x, i), 0) for x, i in zip(a_id, item)], dtype=float)
    len_b = np.array([lengths.get((x, i), 0) for x, i in zip(b_id, item)], dtype=float)
    z = (len_a - len_b) / np.maximum(len_a + len_b, 1.0)  # normalised length difference, in [-1, 1]
    # Each length-controlled resample fits on every vote (no pair aggregation), so fewer of them.
    controlled, controlled_ci = sidebyside.bradley_terry_bootstrap(
        a, b, y, item, n_systems=n, covariate=z, l2=BT_L2, n_resamples=max(2, n_resamples // 5), rng=rng,
    )
    result["length_coef"] = controlled.length_coef
    order = np.argsort(-fit.scores)
    for rank, k in enumerate(order, start=1):
        result["systems"][k]["rank"] = rank
    for k, row in enumerate(result["systems"]):
        row["bt"], row["bt_ci"] = float(fit.scores[k]), _interval(intervals[k])
        row["bt_length_controlled"], row["bt_length_controlled_ci"] = float(controlled.scores[k]), _interval(controlled_ci[k])
    bias = sidebyside.position_bias_binomial(y, left_is_a)
    result["position_bias"] = {"decisive": bias.decisive, "left_wins": bias.left_wins,
                               "left_share": _finite(bias.left_share), "p_value": _finite(bias.p_value)}
    result["krippendorff_alpha"] = _finite(sidebyside.krippendorff_alpha_ordinal(trial, annotator, y))
    marked_system, marks = [], []
    for k_a, k_b, ca, cb in zip(a, b, crit_a, crit_b):
        for k, mark in ((k_a, ca), (k_b, cb)):
            if mark is not None:
                marked_system.append(int(k))
                marks.append(mark)
    if marks:
        rate, count = sidebyside.reasonable_rate(marked_system, marks, n_systems=n)
        for k, row in enumerate(result["systems"]):
            row["reasonable_rate"], row["reasonable_marked"] = _finite(rate[k]), int(count[k])
    return result
