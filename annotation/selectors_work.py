"""Reads of the annotators' work: their projects, judgements, gold and training items, progress per annotator and kind.

NOTE for the pages engineer: the first version of this module (yours) was overwritten by mistake by the API
engineer at 12:56 UTC; the functions your views call were rebuilt from how annotation/views/work.py and
researcher_work.py use them. Please check their return shapes against your templates.
"""
from __future__ import annotations

import statistics
from collections import defaultdict
from datetime import datetime, timedelta
from typing import NamedTuple

from django.db.models import Count, Q, QuerySet

from annotation.models import Image, Judgement, Membership, Project, WorkItem
from annotation.vocabulary import (
    COMPARISON_SCALE,
    DISTORTION_SEVERITIES,
    DISTORTIONS,
    LEVEL_LABELS,
    OVERALL_COMPARISON,
    OVERALL_DISTORTION,
    TEXTURE_CATEGORIES,
    TEXTURE_CONDITIONS,
    PairChoice,
    TaskKind,
)


class AnswerRow(NamedTuple):
    """One line of an answer as people read it: `row.label`, `row.value`, or `for label, value in rows`."""

    label: str
    value: str


def annotator_memberships(*, user) -> QuerySet[Membership]:
    """The user's annotator memberships, with their projects, newest project first."""
    if not (user.is_authenticated and user.is_active):
        return Membership.objects.none()
    return (
        Membership.objects.filter(user=user, role=Membership.Role.ANNOTATOR)
        .select_related("project")
        .order_by("-project__created_at", "-project_id")
    )


def item_reference(*, item: WorkItem) -> Image | None:
    """The pristine reference shown with an item: the image's own, or for a pair the one both images share, else None."""
    if item.image_b_id is None:
        return item.image.reference
    if item.image.reference_id is not None and item.image.reference_id == item.image_b.reference_id:
        return item.image.reference
    return None


def pathway_mos_shown(*, item: WorkItem) -> float | None:
    """The image's MOS (0-100) to show beside a pathway item when the project says so (Q-SiT §III-B3), else None.

    Shown for every item whose image has a MOS, gold and training items too, so that it never tells them apart.
    """
    if item.kind != TaskKind.PATHWAY or not item.project.pathway_show_mos:
        return None
    return item.image.mos_normalised


def _label(choices, key) -> str:
    return dict(choices).get(key, str(key))


def answer_display(*, kind: str, answer: dict | None) -> list[AnswerRow]:
    """An answer (or a partial gold answer) as labelled rows, in the order the questionnaire asks; missing parts skipped.

    Pair answers read "A" and "B" in whatever terms the answer is in (item terms, or screen terms for feedback).
    """
    if not answer:
        return []
    rows: list[AnswerRow] = []

    def add(label: str, key: str, choices=None, source: dict = answer) -> None:
        if source.get(key) not in (None, ""):
            rows.append(AnswerRow(label, _label(choices, source[key]) if choices else str(source[key])))

    levels = [(key, f"{key} – {label}") for key, label in LEVEL_LABELS.items()]
    if kind == TaskKind.RATING:
        add("Level", "level", levels)
    elif kind == TaskKind.PATHWAY:
        add("Description", "description")
        add("Conclusion", "conclusion")
        add("Level", "level", levels)
    elif kind == TaskKind.DESCRIPTION:
        add("Main texture", "texture_category", TEXTURE_CATEGORIES)
        add("Texture condition", "texture_condition", TEXTURE_CONDITIONS)
        for key, name in DISTORTIONS:
            add(name, key, DISTORTION_SEVERITIES, source=answer.get("distortions") or {})
        add("Overall", "overall", OVERALL_DISTORTION)
    elif kind == TaskKind.PAIR:
        add("Better image", "choice", PairChoice.choices)
        reasoning = answer.get("reasoning") or {}
        add("Main texture", "texture_category", TEXTURE_CATEGORIES, source=reasoning)
        add("Texture of A", "texture_a", TEXTURE_CONDITIONS, source=reasoning)
        add("Texture of B", "texture_b", TEXTURE_CONDITIONS, source=reasoning)
        for key, name in DISTORTIONS:
            add(name, key, COMPARISON_SCALE, source=reasoning.get("distortions") or {})
        add("Overall", "overall", OVERALL_COMPARISON, source=reasoning)
    return rows


def training_level_examples(*, project: Project, per_level: int = 3) -> list[dict]:
    """Examples of each ITU level from the training items with a known level: [{"level", "label", "items"}], 1 to 5."""
    items = (
        WorkItem.objects.filter(project=project, purpose=WorkItem.Purpose.TRAINING, retired=False, kind__in=[TaskKind.RATING, TaskKind.PATHWAY])
        .select_related("image")
        .order_by("id")
    )
    by_level: dict[int, list[WorkItem]] = defaultdict(list)
    for item in items:
        level = (item.gold_answer or {}).get("level")
        if level in LEVEL_LABELS and len(by_level[level]) < per_level and all(other.image_id != item.image_id for other in by_level[level]):
            by_level[level].append(item)
    return [{"level": level, "label": label, "items": by_level[level]} for level, label in LEVEL_LABELS.items()]


def project_gold_items(*, project: Project) -> QuerySet[WorkItem]:
    """The project's gold and training items (retired ones too), training first, in the order they were added."""
    return (
        WorkItem.objects.filter(project=project, purpose__in=[WorkItem.Purpose.GOLD, WorkItem.Purpose.TRAINING])
        .select_related("image", "image_b")
        .order_by("-purpose", "id")
    )


def project_judgements(
    *, project: Project, annotator_id: int | None = None, kind: str | None = None, purpose: str | None = None
) -> QuerySet[Judgement]:
    """The project's judgements in the order they were written, optionally of one annotator, kind or purpose."""
    judgements = Judgement.objects.filter(project=project).select_related("annotator", "item").order_by("id")
    if annotator_id is not None:
        judgements = judgements.filter(annotator_id=annotator_id)
    if kind:
        judgements = judgements.filter(kind=kind)
    if purpose:
        judgements = judgements.filter(purpose=purpose)
    return judgements


def project_work_progress(*, project: Project) -> dict:
    """What a researcher sees of a project's work: {"overlap", "annotators", "kinds"} (see the two functions below)."""
    return {
        "overlap": project.overlap,
        "annotators": project_annotator_stats(project=project),
        "kinds": project_kind_progress(project=project),
    }


def project_annotator_stats(*, project: Project) -> list[dict]:
    """Per annotator member: judgements done (training not counted), gold judgements checked and right (and
    their share), training standing, median time per item (ms), current run length and last submission."""
    memberships = list(
        Membership.objects.filter(project=project, role=Membership.Role.ANNOTATOR).select_related("user").order_by("user__username")
    )
    work = Judgement.objects.filter(project=project, training_attempt__isnull=True)
    counts = {
        row["annotator_id"]: row
        for row in work.values("annotator_id").annotate(
            done=Count("id"),
            gold_total=Count("id", filter=Q(purpose=WorkItem.Purpose.GOLD, gold_correct__isnull=False)),
            gold_correct=Count("id", filter=Q(purpose=WorkItem.Purpose.GOLD, gold_correct=True)),
        )
    }
    durations: dict[int, list[int]] = defaultdict(list)
    for annotator_id, duration_ms in work.filter(duration_ms__isnull=False).values_list("annotator_id", "duration_ms"):
        durations[annotator_id].append(duration_ms)
    annotators = []
    for membership in memberships:
        row = counts.get(membership.user_id, {})
        gold_total, gold_correct = row.get("gold_total", 0), row.get("gold_correct", 0)
        annotators.append({
            "user_id": membership.user_id,
            "username": membership.user.username,
            "done": row.get("done", 0),
            "gold_total": gold_total,
            "gold_correct": gold_correct,
            "gold_accuracy": gold_correct / gold_total if gold_total else None,
            "training_attempt": membership.training_attempt,
            "training_passed": membership.training_passed_at is not None,
            "training_passed_at": membership.training_passed_at,
            "training_score": membership.training_score,
            "median_duration_ms": statistics.median(durations[membership.user_id]) if durations[membership.user_id] else None,
            "run_count": membership.run_count,
            "last_submitted_at": membership.last_submitted_at,
        })
    return annotators


def project_kind_progress(*, project: Project) -> list[dict]:
    """Per task kind (enabled, or with items): open work items, their judgements (repeats not counted), the items
    that reached the overlap, and the gold and training items."""
    work = Judgement.objects.filter(project=project, training_attempt__isnull=True)
    items = WorkItem.objects.filter(project=project, purpose=WorkItem.Purpose.WORK, retired=False)
    item_rows = {
        row["kind"]: row
        for row in items.values("kind").annotate(
            items=Count("id"), complete_items=Count("id", filter=Q(judgement_count__gte=project.overlap))
        )
    }
    judgement_rows = {
        row["kind"]: row["n"]
        for row in work.filter(purpose=WorkItem.Purpose.WORK, is_repeat=False).values("kind").annotate(n=Count("id"))
    }
    special = {
        (row["kind"], row["purpose"]): row["n"]
        for row in WorkItem.objects.filter(project=project, retired=False)
        .exclude(purpose=WorkItem.Purpose.WORK)
        .values("kind", "purpose")
        .annotate(n=Count("id"))
    }
    kinds = []
    for kind in TaskKind.values:
        enabled = kind in (project.task_kinds or [])
        row = item_rows.get(kind, {})
        if not enabled and not row:
            continue
        kinds.append({
            "kind": kind,
            "label": TaskKind(kind).label,
            "enabled": enabled,
            "items": row.get("items", 0),
            "judgements": judgement_rows.get(kind, 0),
            "complete_items": row.get("complete_items", 0),
            "gold_items": special.get((kind, WorkItem.Purpose.GOLD), 0),
            "training_items": special.get((kind, WorkItem.Purpose.TRAINING), 0),
        })
    return kinds


def annotator_paused_until(
    *, project: Project, run_count: int, last_submitted_at: datetime | None, now: datetime
) -> datetime | None:
    """When an annotator's enforced break ends, if they are in one at `now` (the queue's fatigue rule), else None."""
    if last_submitted_at is None or run_count < project.fatigue_pause_after:
        return None
    until = last_submitted_at + timedelta(minutes=project.fatigue_break_minutes)
    return until if until > now else None


def undo_available(*, project: Project, annotator, now: datetime) -> bool:
    """Whether the annotator's last work answer in the project can still be undone (its lease has not run out)."""
    last = (
        Judgement.objects.filter(project=project, annotator=annotator, training_attempt__isnull=True)
        .order_by("-submitted_at", "-id")
        .values_list("lease__expires_at", flat=True)
        .first()
    )
    return last is not None and last > now
