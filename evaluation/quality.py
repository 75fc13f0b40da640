"""A project's quality report: progress, agreement, observer screening, gold accuracy, scores and the critic.

Reads the database into plain rows and calls the Django-free cores (evaluation/agreement.py,
evaluation/screening.py); the dashboard page and its JSON API both serve `project_quality_report`.

Which judgements: work and gold items, never training answers. Agreement is measured on what scores use
(not excluded, not repeats); screening looks at every annotator, excluded ones too, so a researcher can see
why someone was excluded and whether to restore them. Consistency repeats feed repeat agreement only.
"""
from __future__ import annotations

from collections import defaultdict

import numpy as np
from django.db.models import Count

from annotation.models import ExclusionEvent, Judgement, Membership, Project, WorkItem
from annotation.services.exclusion import judgements_screened
from annotation.vocabulary import DISTORTIONS, TaskKind
from evaluation import selectors
from evaluation.agreement import krippendorff_alpha, reliability_matrix, repeat_agreement_by_annotator, transitivity_by_annotator
from evaluation.screening import (
    bt500_screen_ratings,
    gold_accuracy_by_annotator,
    pair_outlier_screen,
    straight_lining_by_annotator,
)
from evaluation.scaling import ScalingConvergenceError
from evaluation.signals import quality_report_sections

QUALITY_PURPOSES = (WorkItem.Purpose.WORK, WorkItem.Purpose.GOLD)
#: The pair outlier test fits one scale per annotator (leave-one-out, as pwcmp) while annotators x pair judgements
#: stay within this budget (about a second); beyond it one shared scale, where each annotator weighs little anyway.
#: Measured: 1,000 images, 20 annotators x 1,000 pairs: 7.3 s leave-one-out, 0.3 s shared.
LEAVE_ONE_OUT_BUDGET = 100_000
_SCREEN_SIDE = {False: {"a": "left", "b": "right", "tie": "tie"}, True: {"a": "right", "b": "left", "tie": "tie"}}


def _judgements(project: Project):
    return Judgement.objects.filter(project=project, purpose__in=QUALITY_PURPOSES)


def _questionnaire_fields(answer: dict) -> dict[str, object]:
    """The nominal fields of a description questionnaire (or a pair's reasoning), flattened: field -> value."""
    fields = {key: answer[key] for key in ("texture_category", "texture_condition", "texture_a", "texture_b", "overall") if key in answer}
    for key, _ in DISTORTIONS:
        value = (answer.get("distortions") or {}).get(key)
        if value is not None:
            fields[f"distortions.{key}"] = value
    return fields


def agreement_rows(*, project: Project) -> list[dict]:
    """Krippendorff's alpha per kind and field: rating levels (ordinal and interval), pathway levels (ordinal),
    pair choices and every questionnaire field (nominal); units are work items, coders annotators."""
    used = _judgements(project).filter(excluded=False, is_repeat=False)
    rows = []
    rated = list(used.filter(kind=TaskKind.RATING, level__isnull=False).values_list("annotator_id", "item_id", "level"))
    for level in ("ordinal", "interval"):
        rows.append({"kind": TaskKind.RATING.value, "field": "level", **_alpha(rated, level)})
    pathway = list(used.filter(kind=TaskKind.PATHWAY, level__isnull=False).values_list("annotator_id", "item_id", "level"))
    rows.append({"kind": TaskKind.PATHWAY.value, "field": "level", **_alpha(pathway, "ordinal")})
    choices = list(used.filter(kind=TaskKind.PAIR).exclude(choice="").values_list("annotator_id", "item_id", "choice"))
    rows.append({"kind": TaskKind.PAIR.value, "field": "choice", **_alpha(choices, "nominal")})
    by_field: dict[tuple[str, str], list] = defaultdict(list)
    questionnaires = used.filter(kind__in=(TaskKind.DESCRIPTION, TaskKind.PAIR)).values_list("kind", "annotator_id", "item_id", "answer")
    for kind, annotator_id, item_id, answer in questionnaires.iterator():
        source = answer if kind == TaskKind.DESCRIPTION else (answer or {}).get("reasoning") or {}
        for field, value in _questionnaire_fields(source).items():
            by_field[(kind, field if kind == TaskKind.DESCRIPTION else f"reasoning.{field}")].append((annotator_id, item_id, value))
    for (kind, field), triples in sorted(by_field.items()):
        rows.append({"kind": kind, "field": field, **_alpha(triples, "nominal")})
    return rows


def _alpha(triples: list, level: str) -> dict:
    if not triples:
        return {"alpha": None, "level": level, "n_units": 0, "n_coders": 0, "n_values": 0}
    matrix, *_ = reliability_matrix(triples)
    return krippendorff_alpha(matrix, level=level).to_dict()


def annotator_screening(*, project: Project) -> list[dict]:
    """One row per annotator member: their judgements, gold accuracy, BT.500, the pair likelihood test,
    straight-lining, repeat agreement, transitivity, whether they are excluded, and the flags raised."""
    members = list(
        Membership.objects.filter(project=project, role=Membership.Role.ANNOTATOR).select_related("user").order_by("user__username")
    )
    judgements = _judgements(project)
    counts = dict(judgements_screened(judgements).values("annotator_id").annotate(n=Count("id")).values_list("annotator_id", "n"))
    gold = gold_accuracy_by_annotator(
        judgements.filter(purpose=WorkItem.Purpose.GOLD, gold_correct__isnull=False).values_list("annotator_id", "gold_correct")
    )
    bt500 = _bt500(judgements)
    rated = set(judgements.filter(kind=TaskKind.RATING, level__isnull=False).values_list("annotator_id", flat=True).distinct())
    pairs = _pair_outliers(judgements)
    lining = straight_lining_by_annotator(_answers_in_order(judgements))
    repeats = repeat_agreement_by_annotator(_repeat_rows(judgements))
    transitivity = transitivity_by_annotator(
        (annotator_id, a if choice == "a" else b, b if choice == "a" else a)
        for annotator_id, a, b, choice in judgements.filter(kind=TaskKind.PAIR, is_repeat=False, choice__in=("a", "b"))
        .values_list("annotator_id", "item__image_id", "item__image_b_id", "choice")
        .iterator()
    )
    rows = []
    for member in members:
        uid = member.user_id
        correct, answered, share = gold.get(uid, (0, 0, None))
        row = {
            "annotator_id": uid,
            "username": member.user.username,
            "membership_id": member.pk,
            "excluded": member.excluded,
            "judgements": counts.get(uid, 0),
            "gold": {"correct": correct, "answered": answered, "accuracy": share},
            "bt500": bt500[uid].to_dict() if uid in bt500 else None,
            "rated": uid in rated,
            "pair_outlier": pairs[uid].to_dict() if uid in pairs else None,
            "straight_lining": sorted(
                ({"kind": kind, **result.to_dict()} for (annotator_id, kind), result in lining.items() if annotator_id == uid),
                key=lambda entry: -entry["top_share"],
            ),
            "repeats": repeats[uid].to_dict() if uid in repeats else None,
            "transitivity": transitivity[uid].to_dict() if uid in transitivity else None,
        }
        row["flags"] = _flags(row)
        rows.append(row)
    return rows


def _flags(row: dict) -> list[str]:
    flags = []
    if row["bt500"] and row["bt500"]["rejected"]:
        flags.append("BT.500 rejected")
    if row["pair_outlier"] and row["pair_outlier"]["flagged"]:
        flags.append("pair outlier")
    if any(entry["flagged"] for entry in row["straight_lining"]):
        flags.append("straight-lining")
    gold = row["gold"]
    if gold["answered"] >= 5 and gold["accuracy"] is not None and gold["accuracy"] < 0.5:
        flags.append("gold below 50%")
    return flags


def _bt500(judgements) -> dict:
    """BT.500 counts per annotator; an annotator none of whose items entered the test (fewer than three differing
    ratings of each) is left out, so the page says "not tested" rather than "0/0 of 0"."""
    triples = list(
        judgements.filter(kind=TaskKind.RATING, is_repeat=False, level__isnull=False).values_list("annotator_id", "item_id", "level")
    )
    if not triples:
        return {}
    matrix, coders, _, values = reliability_matrix(triples)
    levels = np.asarray(values, dtype=np.float64)
    ratings = np.where(np.isnan(matrix), np.nan, levels[np.nan_to_num(matrix).astype(np.int64)])
    return {coder: result for coder, result in zip(coders, bt500_screen_ratings(ratings)) if result.n}


def _pair_outliers(judgements) -> dict:
    rows = list(
        judgements.filter(kind=TaskKind.PAIR, is_repeat=False).exclude(choice="")
        .values_list("annotator_id", "item__image_id", "item__image_b_id", "choice")
    )
    if not rows:
        return {}
    annotator_ids, first_ids, second_ids, choices = zip(*rows)
    observers = sorted(set(annotator_ids))
    if len(observers) < 2:
        return {}
    observer_index = {uid: i for i, uid in enumerate(observers)}
    image_ids = sorted(set(first_ids) | set(second_ids))
    image_index = {image_id: i for i, image_id in enumerate(image_ids)}
    outcome = {"a": 1.0, "b": 0.0, "tie": 0.5}
    try:
        result = pair_outlier_screen(
            len(image_ids),
            [observer_index[uid] for uid in annotator_ids], [image_index[i] for i in first_ids], [image_index[i] for i in second_ids],
            [outcome[choice] for choice in choices],
            n_observers=len(observers), leave_one_out=len(observers) * len(rows) <= LEAVE_ONE_OUT_BUDGET,
        )
    except ScalingConvergenceError:
        return {}
    return dict(zip(observers, result))


def _answers_in_order(judgements):
    """((annotator, kind), what they pressed) in submission order: rating levels, pair sides as shown on screen."""
    rows = (
        judgements.filter(kind__in=(TaskKind.RATING, TaskKind.PAIR), is_repeat=False)
        .order_by("annotator_id", "id")
        .values_list("annotator_id", "kind", "level", "choice", "swap")
    )
    for annotator_id, kind, level, choice, swap in rows.iterator():
        if kind == TaskKind.RATING and level is not None:
            yield (annotator_id, kind), f"level {level}"
        elif kind == TaskKind.PAIR and choice:
            yield (annotator_id, kind), _SCREEN_SIDE[swap][choice]


def _repeat_rows(judgements):
    repeated = set(judgements.filter(is_repeat=True).values_list("annotator_id", "item_id"))
    if not repeated:
        return []
    item_ids = {item_id for _, item_id in repeated}
    rows = judgements.filter(item_id__in=item_ids, kind__in=(TaskKind.RATING, TaskKind.PAIR)).values_list(
        "annotator_id", "item_id", "kind", "level", "choice", "is_repeat",
    )
    return [
        (annotator_id, item_id, level if kind == TaskKind.RATING else choice, is_repeat)
        for annotator_id, item_id, kind, level, choice, is_repeat in rows
        if (annotator_id, item_id) in repeated
    ]


def progress_by_day(*, project: Project) -> dict:
    """Judgements (work and gold, repeats included) per kind, cumulative by day: {"days": [...], "series": {kind: [...]}}."""
    per_day: dict[str, dict] = defaultdict(lambda: defaultdict(int))
    for kind, submitted_at in _judgements(project).values_list("kind", "submitted_at").iterator():
        per_day[kind][submitted_at.date().isoformat()] += 1
    days = sorted({day for counts in per_day.values() for day in counts})
    series = {}
    for kind in sorted(per_day):
        running, values = 0, []
        for day in days:
            running += per_day[kind].get(day, 0)
            values.append(running)
        series[kind] = values
    return {"days": days, "series": series}


def score_summary(*, project: Project) -> dict:
    """The current scores (latest finished scaling run) as plain values for the histogram."""
    run = selectors.scaling_run_current(project=project)
    scores = [row.score for row in selectors.item_score_rows(run=run)] if run else []
    return {"run_id": run.pk if run else None, "scores": scores}


def exclusion_log(*, project: Project, limit: int = 200) -> list[dict]:
    """The project's exclusions and restorations, newest first."""
    events = ExclusionEvent.objects.filter(project=project).select_related("annotator", "created_by")[:limit]
    return [
        {
            "id": e.pk, "action": e.action, "annotator_id": e.annotator_id, "annotator": e.annotator.username,
            "reason": e.reason, "by": e.created_by.username if e.created_by else None, "at": e.created_at.isoformat(),
            "judgements_changed": e.judgements_changed,
        }
        for e in events
    ]


def project_quality_report(*, project: Project) -> dict:
    """Everything the quality dashboard shows, as JSON-ready values."""
    report = {
        "project_id": project.pk,
        "progress": progress_by_day(project=project),
        "agreement": agreement_rows(project=project),
        "annotators": annotator_screening(project=project),
        "scores": score_summary(project=project),
        "critic": [],
        "exclusions": exclusion_log(project=project),
    }
    # Sections other apps add (the critic's held-out metrics, from modeling); a key here keeps its place.
    for _, sections in quality_report_sections.send(sender=Project, project=project):
        report.update(sections)
    return report
