"""Reads of the LLM's help: the researcher's revision figures (who accepts drafts unchanged) and the call ledger's usage."""
from __future__ import annotations

import statistics
from dataclasses import dataclass

from django.db.models import Avg, Count, Q, Sum

from annotation.models import Project, TextRevision
from modeling.assist.models import LLMCall

#: Revision statistics: the flag needs this many revisions of a shown draft, from the annotator and from each peer.
FLAG_MIN_REVISIONS = 10
FLAG_MIN_SHARE = 0.5
FLAG_MADS = 2.0


@dataclass(frozen=True)
class AnnotatorRevisionStats:
    """One annotator's saved revisions in a project, and whether they accept drafts unchanged suspiciously often."""

    annotator_id: int
    username: str
    saved: int  # saved revisions
    with_draft: int  # of which a draft was shown (these count for the distance and the share)
    mean_edit_distance: float | None
    share_unchanged: float | None
    median_time_ms: float | None
    flagged: bool
    flag_reason: str


def _mad(values: list[float]) -> float:
    centre = statistics.median(values)
    return statistics.median([abs(v - centre) for v in values])


def revision_stats(*, project: Project) -> list[AnnotatorRevisionStats]:
    """Per annotator: saved revisions, mean edit distance, share of drafts accepted unchanged, median time.

    The flag (docs in templates/modeling/llm/revisions.html): an annotator with at least FLAG_MIN_REVISIONS
    revisions of a shown draft is flagged when their share accepted unchanged is above FLAG_MIN_SHARE and above
    the peers' median + FLAG_MADS x the peers' median absolute deviation, peers being the other annotators with
    at least FLAG_MIN_REVISIONS such revisions (at least one peer is needed; without peers nothing is flagged).
    """
    saved = TextRevision.objects.filter(project=project, status=TextRevision.Status.SAVED)
    rows = (
        saved.values("annotator_id", "annotator__username")
        .annotate(
            saved=Count("id"),
            with_draft=Count("id", filter=Q(edit_distance__isnull=False)),
            unchanged=Count("id", filter=Q(accepted_unchanged=True)),
            mean_distance=Avg("edit_distance"),
        )
        .order_by("annotator__username")
    )
    times: dict[int, list[int]] = {}
    for annotator_id, time_ms in saved.filter(time_spent_ms__isnull=False).values_list("annotator_id", "time_spent_ms"):
        times.setdefault(annotator_id, []).append(time_ms)
    shares = {row["annotator_id"]: row["unchanged"] / row["with_draft"] for row in rows if row["with_draft"]}
    eligible = {row["annotator_id"] for row in rows if row["with_draft"] >= FLAG_MIN_REVISIONS}
    out = []
    for row in rows:
        annotator_id = row["annotator_id"]
        share = shares.get(annotator_id)
        flagged, reason = False, ""
        peers = [shares[a] for a in eligible if a != annotator_id]
        if annotator_id in eligible and peers and share is not None:
            threshold = statistics.median(peers) + FLAG_MADS * _mad(peers)
            if share > FLAG_MIN_SHARE and share > threshold:
                flagged = True
                reason = (f"accepts {share:.0%} of drafts unchanged; peers' median + {FLAG_MADS:g}×MAD is {threshold:.0%}")
        out.append(AnnotatorRevisionStats(
            annotator_id=annotator_id, username=row["annotator__username"], saved=row["saved"], with_draft=row["with_draft"],
            mean_edit_distance=row["mean_distance"], share_unchanged=share,
            median_time_ms=statistics.median(times[annotator_id]) if annotator_id in times else None,
            flagged=flagged, flag_reason=reason,
        ))
    return out


def usage_summary(*, project: Project) -> dict:
    """Calls, failures, tokens, cost and mean latency per model and purpose, and the totals."""
    calls = LLMCall.objects.filter(project=project)
    sums = {
        "calls": Count("id"), "failed": Count("id", filter=Q(ok=False)), "prompt_tokens": Sum("prompt_tokens"),
        "completion_tokens": Sum("completion_tokens"), "cost": Sum("cost"), "mean_latency_ms": Avg("latency_ms"),
        "attempts": Sum("attempts"),
    }
    rows = list(calls.values("model", "purpose").annotate(**sums).order_by("model", "purpose"))
    purposes = dict(LLMCall.Purpose.choices)
    for row in rows:
        row["purpose_label"] = purposes.get(row["purpose"], row["purpose"])
    totals = calls.aggregate(**sums)
    return {"rows": rows, "totals": {key: value or 0 for key, value in totals.items()}}
