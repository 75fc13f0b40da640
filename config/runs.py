"""The run-row kernel: the columns, the claim, the heartbeat, the end and the one stale rule every long run shares.

A run row (a critic version training, a benchmark run, a study system generating answers, a scaling run, an
export) is queued by a service and worked by a Celery task. The task claims the row (`run_claim`), keeps it
alive (`run_keepalive`, plus `run_heartbeat` with its progress), and ends it (`run_finish`, `run_fail`).

The stale rule, in one place (`run_is_stale`): a working row whose heartbeat is older than
`LOUPE_RUN_STALE_AFTER_S`, or whose process on this host is gone, has lost its worker. A redelivered message
takes such a row over (attempt + 1) or, for kinds that cannot resume (`RUN_RESUMES = False`), fails it; the
periodic sweep (config/sweep.py) fails the ones no message comes back for. The keepalive thread beats every
`LOUPE_RUN_HEARTBEAT_S` while the process lives, so a long step without progress of its own is never taken
for dead; a hung task is ended by its Celery time limit, and then its heartbeat stops.
"""
from __future__ import annotations

import logging
import threading
from datetime import datetime, timedelta

from django.db import connections, models, transaction
from django.db.utils import DatabaseError
from django.utils import timezone

from config.processes import process_gone, worker_identity

logger = logging.getLogger(__name__)

ERROR_MAX_CHARS = 5000


class RunRow(models.Model):
    """The columns of a run row, and the statuses the kernel reads (each kind may rename them).

    Class attributes, overridden per kind where its statuses differ:
    `RUN_QUEUED` (waiting for a worker), `RUN_RUNNING` (what a claim sets), `RUN_WORKING` (a worker holds
    it: the heartbeat counts), `RUN_DONE`, `RUN_FAILED`, `RUN_CANCELLED` (None where the kind has no cancel),
    `RUN_RESUMES` (a stale row is taken over by the next delivery; False: it is failed instead) and
    `RUN_STALE_HINT` (what a person can do about a run that lost its worker).
    """

    error = models.TextField(blank=True, help_text="Why the run failed, if it did.")
    attempt = models.PositiveIntegerField(default=0, help_text="Deliveries of its task that started work.")
    worker = models.CharField(max_length=255, blank=True, help_text="host:pid of the process that claimed it.")
    heartbeat_at = models.DateTimeField(null=True, blank=True, help_text="Last sign of life from the worker running it.")
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    RUN_QUEUED = "queued"
    RUN_RUNNING = "running"
    RUN_WORKING: tuple[str, ...] = ("running",)
    RUN_DONE = "done"
    RUN_FAILED = "failed"
    RUN_CANCELLED: str | None = "cancelled"
    RUN_RESUMES = True
    RUN_STALE_HINT = "Ask for it again."

    class Meta:
        abstract = True

    def run_resumes(self) -> bool:
        """Whether a delivery may take this stale row over: `RUN_RESUMES`, or the kind's registered rule (`run_resume_register`)."""
        rule = _RESUME_RULES.get(type(self))
        return rule[0](self) if rule else self.RUN_RESUMES

    def run_requeue(self) -> bool | str:
        """Put a stale row back in the queue, its task sent again, instead of failing it; True when it did,
        RUN_KEPT when the row is fine as it is (a chunked run waiting for its chunks: nothing changed but its beat).

        Only kinds that registered a rule (`run_resume_register`: a critic version with a checkpoint) ever do.
        """
        rule = _RESUME_RULES.get(type(self))
        return rule[1](self) if rule else False


#: What a requeue rule returns for a stale-looking row that needs nothing (not failed, and not counted as changed).
RUN_KEPT = "kept"

#: kind -> (may a stale row be taken over, re-queue a stale row): registered by the app that owns the kind (its
#: AppConfig.ready), so the kernel and the models never import the app's run code.
_RESUME_RULES: dict[type, tuple] = {}


def run_resume_register(model: type[RunRow], *, resumes, requeue) -> None:
    """Let rows of `model` resume per row: `resumes(row)` decides a takeover, `requeue(row)` re-queues a stale one."""
    _RESUME_RULES[model] = (resumes, requeue)


# --------------------------------------------------------------------------------------------- the rule


def run_stale_after() -> timedelta:
    """How long a working row may go without a heartbeat before its worker is taken for dead."""
    from django.conf import settings

    return timedelta(seconds=settings.LOUPE_RUN_STALE_AFTER_S)


def run_is_stale(row: RunRow, *, now: datetime | None = None) -> bool:
    """True when a worker holds the row but has stopped answering: no heartbeat for too long, or its process is gone."""
    if row.status not in row.RUN_WORKING:
        return False
    now = now or timezone.now()
    if row.heartbeat_at is None or row.heartbeat_at < now - run_stale_after():
        return True
    return process_gone(row.worker)


def run_stale_error(row: RunRow) -> str:
    """The message a run that lost its worker ends with."""
    minutes = max(1, round(run_stale_after().total_seconds() / 60))
    return (
        f"The worker stopped answering: attempt {row.attempt} ({row.worker or 'unknown worker'}) stopped mid-run "
        f"(killed, out of memory or restarted) or sent no sign of life for over {minutes} minute{'s' if minutes != 1 else ''}. "
        f"{row.RUN_STALE_HINT}"
    )


def _has_updated_at(model: type[RunRow]) -> bool:
    return any(field.name == "updated_at" for field in model._meta.concrete_fields)


def _with_updated_at(model: type[RunRow], fields: dict, now: datetime) -> dict:
    """`.update()` skips auto_now: set `updated_at` by hand on the kinds that have it."""
    if _has_updated_at(model):
        fields.setdefault("updated_at", now)
    return fields


# -------------------------------------------------------------------------------------------- the calls


def run_claim(model: type[RunRow], pk: int, *, queryset: models.QuerySet | None = None, fields: dict | None = None) -> RunRow | None:
    """Lock the row and mark it running for this process; None when there is nothing (more) for this delivery to do.

    - queued: claimed (attempt + 1), unless a cancel was asked for (then it ends cancelled);
    - working with a live worker: a duplicate delivery, dropped;
    - working but stale: taken over (attempt + 1) where the kind resumes, else failed with the reason;
    - done, failed or cancelled: a redelivered message changes nothing.

    `queryset` narrows or joins the lookup (the row alone is locked); `fields` are set on the row when it is claimed.
    """
    with transaction.atomic():
        row = (queryset if queryset is not None else model.objects).select_for_update(of=("self",)).filter(pk=pk).first()
        if row is None:
            return None
        now = timezone.now()
        if row.status in row.RUN_WORKING:
            if not run_is_stale(row, now=now):
                return None
            if not row.run_resumes():
                _end(row, row.RUN_FAILED, run_stale_error(row), now)
                logger.warning("%s #%s: %s", model.__name__, row.pk, row.error)
                return None
            logger.warning("%s #%s: taking over from %s (gone or silent)", model.__name__, row.pk, row.worker or "unknown")
        elif row.status != row.RUN_QUEUED:
            return None
        if getattr(row, "cancel_requested", False) and row.RUN_CANCELLED:
            _end(row, row.RUN_CANCELLED, row.error, now)
            return None
        row.status, row.attempt, row.worker, row.heartbeat_at = row.RUN_RUNNING, row.attempt + 1, worker_identity(), now
        row.started_at, row.finished_at, row.error = row.started_at or now, None, ""
        for name, value in (fields or {}).items():
            setattr(row, name, value)
        update = ["status", "attempt", "worker", "heartbeat_at", "started_at", "finished_at", "error", *(fields or {})]
        if _has_updated_at(model):
            update.append("updated_at")
        row.save(update_fields=update)
        return row


def _end(row: RunRow, status: str, error: str, now: datetime) -> None:
    row.status, row.error, row.finished_at = status, (error or "")[:ERROR_MAX_CHARS], now
    update = ["status", "error", "finished_at"]
    if _has_updated_at(type(row)):
        update.append("updated_at")
    row.save(update_fields=update)


def run_cancel_stale(row: RunRow) -> bool:
    """End a working row that lost its worker cancelled at once (no worker is left to read the cancel flag).

    Call it with the row locked (`select_for_update`); True when it ended the row, False when the row is not
    stale (a live worker stops at its next step) or its kind has no cancel. A message redelivered later finds
    the row ended and does nothing.
    """
    if row.RUN_CANCELLED is None or not run_is_stale(row):
        return False
    error = f"Cancelled after the worker stopped answering (attempt {row.attempt}, {row.worker or 'unknown worker'})."
    _end(row, row.RUN_CANCELLED, error, timezone.now())
    logger.warning("%s #%s: %s", type(row).__name__, row.pk, error)
    return True


def run_heartbeat(model: type[RunRow], pk: int, **fields) -> None:
    """A sign of life on the row, with any progress fields (`step=`, `n_answered=`, ...) written in the same update."""
    now = timezone.now()
    model.objects.filter(pk=pk).update(**_with_updated_at(model, {"heartbeat_at": now, **fields}, now))


def run_finish(model: type[RunRow], pk: int, *, status: str | None = None, **fields) -> None:
    """End the run done (or `status`), with any result fields written in the same update."""
    now = timezone.now()
    model.objects.filter(pk=pk).update(
        **_with_updated_at(model, {"status": status or model.RUN_DONE, "finished_at": now, "heartbeat_at": now, **fields}, now),
    )


def run_fail(model: type[RunRow], pk: int, error: str, *, status: str | None = None, **fields) -> None:
    """End the run failed (or `status`, such as cancelled) with the reason people read."""
    now = timezone.now()
    model.objects.filter(pk=pk).update(
        **_with_updated_at(model, {"status": status or model.RUN_FAILED, "error": error[:ERROR_MAX_CHARS], "finished_at": now, **fields}, now),
    )
    logger.warning("%s #%s ended %s: %s", model.__name__, pk, status or model.RUN_FAILED, error)


def runs_stale_fail(model: type[RunRow], *, queryset: models.QuerySet | None = None, now: datetime | None = None) -> int:
    """Mark failed every working row (of `queryset`, else of the kind) that lost its worker; returns how many changed.

    Each row is failed only if its heartbeat is still the one read, so a worker that beats meanwhile keeps its run.
    A row that can go on where it stopped is re-queued instead (`RunRow.run_requeue`).
    """
    now = now or timezone.now()
    rows = (queryset if queryset is not None else model.objects.all()).filter(status__in=model.RUN_WORKING)
    failed = 0
    for row in rows.only("pk", "status", "worker", "heartbeat_at", "attempt"):
        if not run_is_stale(row, now=now):
            continue
        try:
            requeued = row.run_requeue()
        except Exception:  # a broker outage or a bad row: this row waits for the next sweep, the others go on
            logger.exception("%s #%s: re-queueing the stale run failed", model.__name__, row.pk)
            continue
        if requeued:
            failed += requeued != RUN_KEPT
            continue
        failed += model.objects.filter(pk=row.pk, status=row.status, heartbeat_at=row.heartbeat_at).update(
            **_with_updated_at(model, {"status": model.RUN_FAILED, "error": run_stale_error(row), "finished_at": now}, now),
        )
        logger.warning("%s #%s: %s", model.__name__, row.pk, run_stale_error(row))
    return failed


# -------------------------------------------------------------------------------------------- keepalive


class RunKeepalive:
    """A thread that beats the row every `LOUPE_RUN_HEARTBEAT_S` while this process works on it; `stop()` ends it.

    It stops by itself once the row is no longer working for this process (ended, or taken over elsewhere).
    """

    def __init__(self, model: type[RunRow], pk: int, *, interval_s: float | None = None):
        from django.conf import settings

        self.model, self.pk, self.worker = model, pk, worker_identity()
        self.interval_s = float(interval_s if interval_s is not None else settings.LOUPE_RUN_HEARTBEAT_S)
        self._stopped = threading.Event()
        self._thread = threading.Thread(target=self._beat, name=f"heartbeat-{model.__name__}-{pk}", daemon=True)
        self._thread.start()

    def _beat(self) -> None:
        try:
            while not self._stopped.wait(self.interval_s):
                now = timezone.now()
                try:
                    beating = self.model.objects.filter(pk=self.pk, worker=self.worker, status__in=self.model.RUN_WORKING).update(
                        **_with_updated_at(self.model, {"heartbeat_at": now}, now),
                    )
                except DatabaseError as error:  # a busy database: the next beat tries again
                    logger.warning("%s #%s: heartbeat not written (%s)", self.model.__name__, self.pk, error)
                    continue
                if not beating:
                    return
        finally:
            connections.close_all()  # this thread's own connections

    def stop(self) -> None:
        self._stopped.set()
        self._thread.join(timeout=5)


def run_keepalive(model: type[RunRow], pk: int) -> RunKeepalive:
    """Start beating the claimed row from a background thread; call `.stop()` when the work ends (in a `finally`)."""
    return RunKeepalive(model, pk)
