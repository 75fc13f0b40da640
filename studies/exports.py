"""Side-by-side study formats of the exports registry: each study's results as JSON lines, its raw votes as CSV.

Registered from StudiesConfig.ready(), so the exports app never imports studies. Both are researchers' files:
they name the systems (annotators never download exports).
"""
from __future__ import annotations

import csv
import datetime as dt
import json
from typing import TextIO

from django.utils import timezone

from annotation.spreadsheet import csv_safe
from exports.formats import ExportContext, ExportFormat, format_register
from studies.models import CRITERIA, Study, Vote
from studies.selectors import study_results

VOTES_HEADER = [
    "vote_id", "study_id", "study", "trial_id", "item_id", "image_id", "image", "original_name",
    "system_a", "system_b", "left_is_a", "outcome", "winner", "criteria_a", "criteria_b",
    "annotator_id", "annotator", "duration_ms", "submitted_at",
]
OUTCOME_WORDS = {1: "a", 0: "same", -1: "b"}


def _studies_with_votes(ctx: ExportContext):
    return Study.objects.filter(project=ctx.project, trials__votes__isnull=False).distinct().order_by("pk")


def write_study_results(ctx: ExportContext, out: TextIO) -> int:
    """One JSON object a line per study of the project with votes: the results page's numbers, as its JSON download.

    Each line is `selectors.study_results` (systems' BT strengths with intervals, per pair G/S/B, G+S/S+B and
    win/tie/loss with intervals, position bias, Krippendorff's α, reasonable rate) plus the study's `project_id`.
    Results use all of a study's votes, so the export filters do not apply (the manifest says so).
    """
    ctx.note("study_results", "Each study's results use all its votes: the export filters do not apply.")
    count = 0
    for study in _studies_with_votes(ctx):
        record = {"project_id": ctx.project.pk, **study_results(study=study)}
        out.write(json.dumps(record, ensure_ascii=False) + "\n")
        count += 1
        ctx.tick()
    return count


def _day_start(day: dt.date) -> dt.datetime:
    return timezone.make_aware(dt.datetime.combine(day, dt.time.min))


def _votes(ctx: ExportContext):
    """The project's study votes that pass the date and annotator filters (gold and exclusion concern judgements only)."""
    votes = Vote.objects.filter(trial__study__project=ctx.project)
    filters = ctx.filters
    if filters.date_from:
        votes = votes.filter(submitted_at__gte=_day_start(filters.date_from))
    if filters.date_to:
        votes = votes.filter(submitted_at__lt=_day_start(filters.date_to + dt.timedelta(days=1)))
    if filters.annotator_ids:
        votes = votes.filter(annotator_id__in=filters.annotator_ids)
    return votes


def _criteria(marks) -> str:
    """Three criteria marks as `main_issue=1;no_false_distortion=0;consistent=1`, or empty when not asked."""
    if not isinstance(marks, list):
        return ""
    return ";".join(f"{key}={int(bool(mark))}" for (key, _), mark in zip(CRITERIA, marks))


def write_study_votes(ctx: ExportContext, out: TextIO) -> int:
    """Every study vote, one CSV row: the image, systems A and B by name, which side A was shown on, the outcome.

    `outcome` is relative to A (+1 A better, 0 same, -1 B better) and `winner` says it as a, b or same; the
    date and annotator filters apply, gold accuracy and exclusion do not (they concern judgements).
    """
    if ctx.filters.gold_min_accuracy is not None or ctx.filters.include_excluded:
        ctx.note("study_votes", "Gold accuracy and exclusion filters concern judgements; study votes are filtered by date and annotator only.")
    writer = csv.writer(out)
    writer.writerow(VOTES_HEADER)
    rows = _votes(ctx).order_by("pk").values_list(
        "pk", "trial__study_id", "trial__study__name", "trial_id", "trial__item_id", "trial__item__image_id",
        "trial__item__image__file", "trial__item__image__original_name", "trial__system_a__name", "trial__system_b__name",
        "left_is_a", "outcome", "criteria_a", "criteria_b", "annotator_id", "annotator__username", "duration_ms", "submitted_at",
    )
    count = 0
    for row in rows.iterator(chunk_size=ctx.chunk_size):
        (vote_id, study_id, study, trial_id, item_id, image_id, file, name, system_a, system_b, left_is_a, outcome,
         criteria_a, criteria_b, annotator_id, username, duration_ms, submitted_at) = row
        writer.writerow([
            vote_id, study_id, csv_safe(study), trial_id, item_id, image_id, file, csv_safe(name),
            csv_safe(system_a), csv_safe(system_b), int(left_is_a), outcome, OUTCOME_WORDS[outcome],
            _criteria(criteria_a), _criteria(criteria_b), annotator_id, csv_safe(username),
            "" if duration_ms is None else duration_ms, submitted_at.isoformat(),
        ])
        count += 1
        ctx.tick()
    return count


def register() -> None:
    """Add the study formats to the exports registry (once; StudiesConfig.ready() calls it)."""
    from exports.formats import FORMATS

    if "study_results" in FORMATS:
        return
    format_register(ExportFormat(
        "study_results", "study_results.jsonl", "Side-by-side study results (JSONL)", "application/jsonl",
        write_study_results, lambda ctx: _studies_with_votes(ctx).count(),
    ))
    format_register(ExportFormat(
        "study_votes", "study_votes.csv", "Side-by-side study votes (CSV)", "text/csv",
        write_study_votes, lambda ctx: _votes(ctx).count(),
    ))
