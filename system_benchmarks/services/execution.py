"""Answer a run's pending calls on a worker: claim, ask the system, parse, write each row; then the results.

Resumable by construction: every call is a row made when the run was created, and this answers only
`pending` rows, each written as soon as it is answered. A worker that dies mid-run leaves its row
`running`; the redelivered message (acks_late + reject_on_worker_lost) takes the run over when the
process that claimed it is gone or its heartbeat is stale (config.runs, the one stale rule), and carries on with the calls still pending.
A duplicate message while that process is alive is dropped.
"""
from __future__ import annotations

import logging
import time

from django.db import transaction
from django.db.models import Count
from django.utils import timezone

from config.runs import run_claim, run_fail, run_heartbeat, run_keepalive
from evaluation.protocols import answer_parse
from system_benchmarks.models import BenchmarkCall, BenchmarkRun
from system_benchmarks.services.results import results_compute
from system_benchmarks.systems import CallFailed, SystemUnavailable, system_for

logger = logging.getLogger(__name__)

PROGRESS_EVERY_S = 1.0


def _claim(run_id: int) -> BenchmarkRun | None:
    """Mark the run running for this process; None when there is nothing (more) for it to do (config.runs.run_claim)."""
    return run_claim(BenchmarkRun, run_id)


def counts_refresh(run_id: int) -> None:
    """Progress counters on the run row, counted from its calls (so they are right after any resume)."""
    counts = dict(BenchmarkCall.objects.filter(run_id=run_id).values_list("status").annotate(n=Count("id")))
    run_heartbeat(
        BenchmarkRun, run_id,
        n_answered=counts.get(BenchmarkCall.Status.ANSWERED, 0) + counts.get(BenchmarkCall.Status.UNPARSEABLE, 0),
        n_unparseable=counts.get(BenchmarkCall.Status.UNPARSEABLE, 0),
        n_failed=counts.get(BenchmarkCall.Status.FAILED, 0),
    )


def _finish(run_id: int, status: str, error: str = "") -> BenchmarkRun:
    counts_refresh(run_id)
    run_fail(BenchmarkRun, run_id, error, status=status)
    return BenchmarkRun.objects.get(pk=run_id)


def call_context_ids(run: BenchmarkRun, call: BenchmarkCall) -> list[int]:
    """The images shown before a call's test images: its protocol's in-context exemplars, then its reference (if any)."""
    ids = [row["image_id"] for row in run.exemplars if row.get("protocol", call.protocol) == call.protocol] if call.prompting == "in_context" else []
    return ids + ([call.reference_id] if call.reference_id else [])


def call_answer(system, run: BenchmarkRun, call: BenchmarkCall) -> BenchmarkCall:
    """Ask the system one call and write the row: answered, unparseable (with the reason) or failed."""
    exemplar_ids = call_context_ids(run, call)
    started = time.perf_counter()
    try:
        text = system.answer(
            protocol=call.protocol, prompting=call.prompting, prompt=call.prompt, exemplar_ids=exemplar_ids, image_ids=call.image_ids,
        )
    except CallFailed as error:
        call.status, call.reason, call.answer, call.parsed = BenchmarkCall.Status.FAILED, str(error)[:2000], "", None
    else:
        parsed = answer_parse(call.protocol, text, n_images=len(call.image_ids))
        call.answer, call.parsed, call.reason = text, parsed.as_json(), parsed.reason
        call.status = BenchmarkCall.Status.ANSWERED if parsed.ok else BenchmarkCall.Status.UNPARSEABLE
    call.latency_s, call.answered_at = time.perf_counter() - started, timezone.now()
    call.save(update_fields=["status", "answer", "parsed", "reason", "latency_s", "answered_at"])
    return call


def benchmark_run_execute(*, run_id: int) -> BenchmarkRun | None:
    """Answer every pending call of the run, then compute its results; it ends done, failed or cancelled.

    Returns the run, or None when the claim found nothing to do (see the module docstring).
    """
    run = _claim(run_id)
    if run is None:
        return None
    try:
        system = system_for(run)
    except SystemUnavailable as error:
        return _finish(run.pk, BenchmarkRun.Status.FAILED, str(error))
    last_progress = time.monotonic()
    keepalive = run_keepalive(BenchmarkRun, run.pk)
    try:
        while True:
            batch = list(BenchmarkCall.objects.filter(run=run, status=BenchmarkCall.Status.PENDING).order_by("id")[:100])
            if not batch:
                break
            for call in batch:
                if BenchmarkRun.objects.filter(pk=run.pk, cancel_requested=True).exists():
                    return _finish(run.pk, BenchmarkRun.Status.CANCELLED, "Cancelled by a researcher; answered calls are kept (Resume goes on).")
                call_answer(system, run, call)
                if time.monotonic() - last_progress >= PROGRESS_EVERY_S:
                    counts_refresh(run.pk)
                    last_progress = time.monotonic()
    except SystemUnavailable as error:
        return _finish(run.pk, BenchmarkRun.Status.FAILED, f"{error} Answered calls are kept; Resume goes on from here.")
    except Exception as error:
        _finish(run.pk, BenchmarkRun.Status.FAILED, f"{type(error).__name__}: {error}")
        raise
    finally:
        keepalive.stop()
        system.close()
    counts_refresh(run.pk)
    run.refresh_from_db()
    results, predictions = results_compute(run=run)
    with transaction.atomic():
        current = BenchmarkRun.objects.select_for_update().get(pk=run.pk)
        current.results, current.predictions = results, predictions
        current.status, current.finished_at = BenchmarkRun.Status.DONE, timezone.now()
        current.save(update_fields=["results", "predictions", "status", "finished_at", "updated_at"])
    logger.info("Benchmark #%s done: %s calls", run.pk, run.n_calls)
    return current
