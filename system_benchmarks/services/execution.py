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

from django.conf import settings
from django.db import transaction
from django.db.models import Count
from django.utils import timezone

from config.chunks import (
    chunk_began, chunk_ended, chunk_failure, chunks_split, chunks_state, chunks_update, error_text, run_chunks_requeue,
)
from config.processes import worker_identity
from config.queues import Queue
from config.runs import run_claim, run_fail, run_heartbeat, run_keepalive
from evaluation.protocols import answer_parse
from system_benchmarks.models import BenchmarkCall, BenchmarkRun
from system_benchmarks.services.results import results_compute
from system_benchmarks.systems import CallFailed, CriticSystem, SystemUnavailable, system_for

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
    return _complete(run.pk)


def _complete(run_id: int) -> BenchmarkRun:
    """Compute the results of a run whose calls are all answered, and end it done."""
    counts_refresh(run_id)
    run = BenchmarkRun.objects.get(pk=run_id)
    results, predictions = results_compute(run=run)
    with transaction.atomic():
        current = BenchmarkRun.objects.select_for_update().get(pk=run_id)
        current.results, current.predictions = results, predictions
        current.status, current.finished_at = BenchmarkRun.Status.DONE, timezone.now()
        current.save(update_fields=["results", "predictions", "status", "finished_at", "updated_at"])
    logger.info("Benchmark #%s done: %s calls", run_id, run.n_calls)
    return current


# ------------------------------------------------------------------------ a critic's run, in chunks (config.chunks)


def critic_run_plan(run_id: int, *, queue: str = Queue.GPU.value) -> tuple[str, list[list[int]]] | None:
    """Claim a critic run and split its pending calls into chunks of LOUPE_CRITIC_ANSWER_CHUNK; (token, chunks of call ids).

    None when this delivery has nothing to do; a run that cannot start (no trained adapter) or has no call
    pending is ended here.
    """
    run = _claim(run_id)
    if run is None:
        return None
    version = run.critic_version
    if version is None or not version.has_trained_adapter:
        _finish(run.pk, BenchmarkRun.Status.FAILED, "The critic version has no trained adapter (train it until it is ready first).")
        return None
    size = int(settings.LOUPE_CRITIC_ANSWER_CHUNK)
    ids = list(BenchmarkCall.objects.filter(run=run, status=BenchmarkCall.Status.PENDING).order_by("id").values_list("id", flat=True))
    chunks = chunks_split(ids, size)
    state = chunks_state(chunks, size, queue=queue)
    BenchmarkRun.objects.filter(pk=run.pk).update(chunks=state)
    if not chunks:
        _complete(run.pk)
        return None
    return state["run"], chunks


def critic_run_chunk(run_id: int, token: str, index: int, call_ids: list[int], *, worker: str = "") -> int:
    """Answer one chunk's calls that are still pending; returns the calls answered (0: an old or ended run).

    Only `pending` calls are asked, so a chunk run twice answers each call once. A cancel ends the run here.
    """
    def began(run, state):
        chunk_began(state, index, worker)
        run.worker, run.heartbeat_at = worker_identity(), timezone.now()
        return ["worker", "heartbeat_at"]

    run = chunks_update(BenchmarkRun, run_id, "chunks", token, began)
    if run is None or run.status != BenchmarkRun.Status.RUNNING:
        return 0
    calls = list(BenchmarkCall.objects.filter(run=run, id__in=call_ids, status=BenchmarkCall.Status.PENDING).order_by("id"))
    answered = 0
    if calls:
        keepalive = run_keepalive(BenchmarkRun, run.pk)
        try:
            system = CriticSystem(run, kept=True)
            for call in calls:
                if BenchmarkRun.objects.filter(pk=run.pk, cancel_requested=True).exists():
                    _finish(run.pk, BenchmarkRun.Status.CANCELLED, "Cancelled by a researcher; answered calls are kept (Resume goes on).")
                    return answered
                call_answer(system, run, call)
                answered += 1
        finally:
            keepalive.stop()
        counts_refresh(run.pk)
    chunks_update(BenchmarkRun, run_id, "chunks", token, lambda run, state: chunk_ended(state, index))
    return answered


def _critic_run_fail(run_id: int, message: str) -> None:
    if BenchmarkRun.objects.filter(pk=run_id, status=BenchmarkRun.Status.RUNNING).exists():
        _finish(run_id, BenchmarkRun.Status.FAILED, f"{message} Answered calls are kept; Resume goes on from here.")


def critic_run_chunk_failed(run_id: int, token: str, index: int, error: BaseException, *, final: bool) -> None:
    """Record a chunk's failed attempt; `final` (no retry left) ends the run failed with the chunk's error."""
    message = error_text(error)
    logger.warning("Benchmark #%s: chunk %s failed (%s): %s", run_id, index, "final" if final else "will retry", message)
    failures = {}
    row = chunks_update(BenchmarkRun, run_id, "chunks", token, lambda run, state: failures.update(n=chunk_failure(state, index, message)))
    if row is not None and final:
        _critic_run_fail(run_id, f"Chunk {index + 1} of {row.chunks.get('total', '?')} failed after {failures['n']} attempts: {message}.")


def critic_run_finish(run_id: int, token: str) -> BenchmarkRun | None:
    """End the run (the chord's callback): results computed and done when no call is pending, else failed."""
    run = BenchmarkRun.objects.filter(pk=run_id).first()
    if run is None or (run.chunks or {}).get("run") != token or run.status != BenchmarkRun.Status.RUNNING:
        return None
    pending = BenchmarkCall.objects.filter(run=run, status=BenchmarkCall.Status.PENDING).count()
    if pending:
        return _finish(run.pk, BenchmarkRun.Status.FAILED, f"{pending} calls were not answered; Resume goes on from here.")
    return _complete(run.pk)


def critic_run_execute(*, run_id: int) -> BenchmarkRun | None:
    """A critic run chunk after chunk in this process: the chord's steps without the broker (tests, benchmarks)."""
    plan = critic_run_plan(run_id)
    if plan is None:
        return BenchmarkRun.objects.filter(pk=run_id).first()
    token, chunks = plan
    for index, ids in enumerate(chunks):
        try:
            critic_run_chunk(run_id, token, index, ids, worker="in-process")
        except Exception as error:
            critic_run_chunk_failed(run_id, token, index, error, final=True)
            raise
    return critic_run_finish(run_id, token) or BenchmarkRun.objects.get(pk=run_id)


#: The sweep's step for a stale critic run (registered in SystemBenchmarksConfig.ready): config.chunks.run_chunks_requeue.
critic_run_requeue = run_chunks_requeue(
    BenchmarkRun, items=lambda run: BenchmarkCall.objects.filter(run_id=run.pk),
    chunk_task="system_benchmarks.run_critic_chunk", finish_task="system_benchmarks.run_critic_finish",
    fail=lambda pk, message: _critic_run_fail(pk, message),
)
