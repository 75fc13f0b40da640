"""Reports kept in `ReportCache`: computed on the worker when their data changes, read by pages and the API.

A kind is registered with the function that computes it from an object id (`report_kind_register`); the
evaluation app registers the project quality report, the studies app a study's results (studies/apps.py), so
evaluation never imports studies. Reads (`report_cached`) never compute when a row exists; a missing row is
computed once on the spot and stored, so the first load works without a worker. Data changes call
`report_mark_stale`: the first one sets `pending` and enqueues one recompute after commit, later ones only bump
`stamp` (debounced); the recompute clears `pending` only if no change came in while it ran, else it runs again.
"""
from __future__ import annotations

import json
from functools import partial
from collections.abc import Callable

from celery import current_app
from django.db import transaction
from django.db.models import F
from django.utils import timezone

from evaluation.models import ReportCache

REFRESH_TASK = "evaluation.report_refresh"  # evaluation/tasks.py
QUALITY = "quality"
STUDY_RESULTS = "study_results"

#: kind -> function(object_id) giving the report (JSON-ready values), or None when the object is gone.
_KINDS: dict[str, Callable[[int], dict | None]] = {}


def report_kind_register(*, kind: str, compute: Callable[[int], dict | None]) -> None:
    _KINDS[kind] = compute


def _compute(kind: str, object_id: int) -> dict | None:
    data = _KINDS[kind](object_id)
    # Stored as JSON: what a page reads from the cache is exactly what it reads on the first, computed load.
    return None if data is None else json.loads(json.dumps(data))


def report_cached(*, kind: str, object_id: int, project_id: int) -> ReportCache:
    """The cached report of this object; computed and stored now if there is none yet.

    `project_id` is the project the caller checked permissions on: a row of another project is never
    returned (it is recomputed and replaced).
    """
    row = ReportCache.objects.filter(kind=kind, object_id=object_id, project_id=project_id).first()
    if row is not None:
        return row
    data = _compute(kind, object_id)
    row, _ = ReportCache.objects.update_or_create(
        kind=kind, object_id=object_id,
        defaults={"project_id": project_id, "data": data or {}, "computed_at": timezone.now(), "pending": False},
    )
    return row


def report_mark_stale(*, kind: str, object_id: int) -> None:
    """The data of this report changed: recompute it on the worker (once, however many changes come in)."""
    rows = ReportCache.objects.filter(kind=kind, object_id=object_id)
    if not rows.update(stamp=F("stamp") + 1):
        return  # never read: the first read computes it (one query on the judgement's path)
    if rows.filter(pending=False).update(pending=True):
        transaction.on_commit(partial(_refresh_enqueue, kind, object_id))
    # else a recompute is queued or running: it sees the new stamp and runs again if it read older data


def _refresh_enqueue(kind: str, object_id: int) -> None:
    # By name (routed to the default queue by config.tasks.task_route): evaluation.tasks imports this module.
    current_app.send_task(REFRESH_TASK, args=(kind, object_id))


def report_refresh_run(*, kind: str, object_id: int) -> ReportCache | None:
    """Recompute one cached report if it has a row (the worker's task; also a researcher's own exclude/restore).

    Runs again on the worker if its data changed while it computed.
    """
    row = ReportCache.objects.filter(kind=kind, object_id=object_id).first()
    if row is None or kind not in _KINDS:
        return None
    data = _compute(kind, object_id)
    if data is None:
        row.delete()  # the object is gone
        return None
    now = timezone.now()
    rows = ReportCache.objects.filter(pk=row.pk)
    if not rows.filter(stamp=row.stamp).update(data=data, computed_at=now, pending=False):
        rows.update(data=data, computed_at=now)
        transaction.on_commit(partial(_refresh_enqueue, kind, object_id))
    return rows.first()
