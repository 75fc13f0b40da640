"""Which judgements an export carries: the filters, their validation, and the queryset they select.

Definitions:

- dates: `date_from` / `date_to` (YYYY-MM-DD, both inclusive, in the server's time zone) bound `submitted_at`;
- annotators: ids or usernames of the project's annotator members; none given means everyone;
- gold-passed only (`gold_min_accuracy`): only annotators whose accuracy on this project's hidden gold items
  (gold judgements right / gold judgements answered) is at least the threshold; annotators who answered no gold
  item are left out while the filter is on;
- `include_excluded`: judgements that quality control excluded (`Judgement.excluded`, set for everything a
  screened-out annotator did) are left out unless this is true.

Training-round answers are never exported (they are practice, not data). The critic's conversations apply the
builder's own rules on top (modeling/critic/data.py: never excluded judgements, never repeats, never held-out images).
"""
from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field

from django.db.models import Count, Q, QuerySet
from django.utils import timezone

from annotation.models import Judgement, Membership, Project, WorkItem

EXPORTED_PURPOSES = (WorkItem.Purpose.WORK, WorkItem.Purpose.GOLD)


class ExportInputError(ValueError):
    """A request for an export that cannot be met as asked (unknown format, bad date, unknown annotator)."""


@dataclass(frozen=True)
class ExportFilters:
    """The validated filters of one export (stored on the job as `to_dict()`)."""

    date_from: dt.date | None = None
    date_to: dt.date | None = None
    annotator_ids: tuple[int, ...] = field(default_factory=tuple)
    gold_min_accuracy: float | None = None
    include_excluded: bool = False

    def __post_init__(self):
        if self.date_from and self.date_to and self.date_from > self.date_to:
            raise ExportInputError("date_from must not be after date_to.")
        if self.gold_min_accuracy is not None and not 0.0 <= self.gold_min_accuracy <= 1.0:
            raise ExportInputError("gold_min_accuracy must be between 0 and 1.")

    def to_dict(self) -> dict:
        data = asdict(self)
        data["date_from"] = self.date_from.isoformat() if self.date_from else None
        data["date_to"] = self.date_to.isoformat() if self.date_to else None
        data["annotator_ids"] = list(self.annotator_ids)
        return data

    @classmethod
    def from_dict(cls, data: Mapping) -> ExportFilters:
        """The inverse of `to_dict` (for stored, already validated filters)."""
        return cls(
            date_from=_date(data.get("date_from"), "date_from"),
            date_to=_date(data.get("date_to"), "date_to"),
            annotator_ids=tuple(data.get("annotator_ids") or ()),
            gold_min_accuracy=data.get("gold_min_accuracy"),
            include_excluded=bool(data.get("include_excluded", False)),
        )


def export_filters_parse(*, project: Project, data: Mapping) -> ExportFilters:
    """Validate filters as a user gave them (form, API, command line) against the project.

    `annotators` may hold ids or usernames (a list, or one comma-separated text). Raises ExportInputError
    with a message fit to show.
    """
    unknown = set(data) - {"date_from", "date_to", "annotators", "gold_min_accuracy", "include_excluded"}
    if unknown:
        raise ExportInputError(f"Unknown filter(s): {', '.join(sorted(unknown))}.")
    gold = data.get("gold_min_accuracy")
    if gold in ("", None):
        gold = None
    else:
        try:
            gold = float(gold)
        except (TypeError, ValueError):
            raise ExportInputError("gold_min_accuracy must be a number between 0 and 1.") from None
    return ExportFilters(
        date_from=_date(data.get("date_from"), "date_from"),
        date_to=_date(data.get("date_to"), "date_to"),
        annotator_ids=_annotator_ids(project, data.get("annotators")),
        gold_min_accuracy=gold,
        include_excluded=_boolean(data.get("include_excluded", False)),
    )


def _date(value, name: str) -> dt.date | None:
    if value in (None, ""):
        return None
    if isinstance(value, dt.date):
        return value
    try:
        return dt.date.fromisoformat(str(value).strip())
    except ValueError:
        raise ExportInputError(f"{name} must be a date as YYYY-MM-DD, not {str(value)[:40]!r}.") from None


def _boolean(value) -> bool:
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in ("1", "true", "yes", "on"):
        return True
    if text in ("", "0", "false", "no", "off"):
        return False
    raise ExportInputError(f"include_excluded must be true or false, not {text[:20]!r}.")


def _annotator_ids(project: Project, value) -> tuple[int, ...]:
    if value in (None, ""):
        return ()
    names = value.split(",") if isinstance(value, str) else list(value)
    names = [str(name).strip() for name in names if str(name).strip()]
    members = dict(
        Membership.objects.filter(project=project, role=Membership.Role.ANNOTATOR).values_list("user__username", "user_id")
    )
    ids_by_text = {str(user_id): user_id for user_id in members.values()}
    found, missing = set(), []
    for name in names:
        user_id = members.get(name, ids_by_text.get(name))
        (found.add(user_id) if user_id is not None else missing.append(name))
    if missing:
        raise ExportInputError(f"Not annotators of this project: {', '.join(missing[:10])}.")
    return tuple(sorted(found))


def _day_start(day: dt.date) -> dt.datetime:
    return timezone.make_aware(dt.datetime.combine(day, dt.time.min))


def gold_passed_annotator_ids(*, project: Project, min_accuracy: float) -> list[int]:
    """Annotators whose share of right answers on the project's gold items is at least `min_accuracy`."""
    rows = (
        Judgement.objects.filter(project=project, purpose=WorkItem.Purpose.GOLD, training_attempt__isnull=True, gold_correct__isnull=False)
        .values("annotator_id")
        .annotate(total=Count("id"), right=Count("id", filter=Q(gold_correct=True)))
    )
    return sorted(row["annotator_id"] for row in rows if row["right"] >= min_accuracy * row["total"])


def judgements_for_export(*, project: Project, filters: ExportFilters) -> QuerySet[Judgement]:
    """The project's judgements that pass the filters (all kinds; each format picks its own)."""
    judgements = Judgement.objects.filter(project=project, purpose__in=EXPORTED_PURPOSES, training_attempt__isnull=True)
    if not filters.include_excluded:
        judgements = judgements.filter(excluded=False)
    if filters.date_from:
        judgements = judgements.filter(submitted_at__gte=_day_start(filters.date_from))
    if filters.date_to:
        judgements = judgements.filter(submitted_at__lt=_day_start(filters.date_to + dt.timedelta(days=1)))
    if filters.annotator_ids:
        judgements = judgements.filter(annotator_id__in=filters.annotator_ids)
    if filters.gold_min_accuracy is not None:
        judgements = judgements.filter(
            annotator_id__in=gold_passed_annotator_ids(project=project, min_accuracy=filters.gold_min_accuracy)
        )
    return judgements
