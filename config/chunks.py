"""Runs split into chunks across every worker of a queue (a Celery chord), with their bookkeeping in a JSON field.

Pool scoring (modeling.critic.pool_scoring), a critic's study answers (studies.services.answers) and a critic's
benchmark calls (system_benchmarks.services.execution) share this: a planner splits the work into chunks of ids
(:func:`chunks_split`) and records a fresh run in the row's JSON field (:func:`chunks_state`); every worker of the queue takes chunk
tasks; the chord's callback ends the run. The field holds:

- `run`: the run's token; a chunk or callback of an older run changes nothing; `queue`: where its tasks go;
- `total`, `size`, `items`, `bounds` (the first and last id of each chunk, so a lost chunk can be sent again);
- `done` (a set: a redelivered chunk counts once), `attempts`, `workers`, `started` (when its last attempt
  began), `failures` (each attempt's error), `requeues` (how often the sweep sent it again).

A chunk whose attempt began (or which the sweep sent again) more than LOUPE_CHUNK_LOST_AFTER_S ago and is not done
lost its worker (a Celery time limit ends any chunk well before): the periodic sweep sends the missing chunks again
with the callback (:func:`chunks_requeue`), at most LOUPE_CHUNK_REQUEUES times per chunk, then fails the run with
the reason. A run whose chunks are all done but which is still running after LOUPE_RUN_STALE_AFTER_S lost its
callback: the sweep sends the callback alone. Chunks never begun are taken to be waiting in the queue (behind a
training run, say), unless a later chunk of the same run (sent after it, so behind it in the queue) began over
LOUPE_CHUNK_LOST_AFTER_S ago: a queue hands its messages out in order and a worker reserves one at a time
(CELERY_WORKER_PREFETCH_MULTIPLIER = 1), so that chunk's message is gone. Failing that they count as lost
LOUPE_CHUNK_QUEUED_LOST_AFTER_S (a day) after the run was planned.
"""
from __future__ import annotations

import uuid
from datetime import datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.utils import timezone

#: A chunk task's soft time limit (its hard limit is 300 s more); LOUPE_CHUNK_LOST_AFTER_S must stay above both.
CHUNK_SOFT_LIMIT_S = 3600


def chunks_split(ids: list[int], size: int) -> list[list[int]]:
    if size <= 0:
        raise ValueError(f"chunk size must be > 0, not {size}")
    return [ids[start : start + size] for start in range(0, len(ids), size)]


def chunks_state(chunks: list[list[int]], size: int, *, queue: str) -> dict:
    """A fresh run's state for `chunks` (lists of ids, ascending), whose tasks go to `queue`."""
    return {
        "run": uuid.uuid4().hex, "queue": queue, "planned": timezone.now().isoformat(), "total": len(chunks), "size": size, "items": sum(map(len, chunks)),
        "bounds": [[chunk[0], chunk[-1]] for chunk in chunks], "done": [], "attempts": {}, "workers": {}, "started": {},
        "failures": {}, "requeues": {},
    }


def chunks_update(model, pk: int, field: str, run: str, change, *, queryset=None):
    """Apply `change(row, state)` to the run's state under the row lock; None when `run` is no longer current.

    `change` returns a list of the other fields it set on the row, to be saved with it (anything else: none).
    """
    with transaction.atomic():
        rows = queryset if queryset is not None else model.objects
        row = rows.select_for_update(of=("self",)).filter(pk=pk).first()
        if row is None or (getattr(row, field) or {}).get("run") != run:
            return None
        state = dict(getattr(row, field))
        fields = change(row, state)
        fields = fields if isinstance(fields, list) else []
        setattr(row, field, state)
        update = [field, *fields]
        if any(f.name == "updated_at" for f in model._meta.concrete_fields):
            update.append("updated_at")
        row.save(update_fields=update)
        return row


def chunk_began(state: dict, index: int, worker: str) -> None:
    key = str(index)
    state["attempts"] = {**state.get("attempts", {}), key: int(state.get("attempts", {}).get(key, 0)) + 1}
    state["workers"] = {**state.get("workers", {}), key: worker}
    state["started"] = {**state.get("started", {}), key: timezone.now().isoformat()}


def chunk_ended(state: dict, index: int) -> bool:
    """Mark the chunk done; False when it was already (a redelivered chunk counts once)."""
    if index in state.get("done", []):
        return False
    state["done"] = sorted([*state.get("done", []), index])
    return True


def chunk_failure(state: dict, index: int, message: str) -> int:
    """Record a failed attempt's error; returns the chunk's failures so far."""
    key = str(index)
    failures = dict(state.get("failures", {}))
    failures[key] = [*failures.get(key, []), message]
    state["failures"] = failures
    return len(failures[key])


def error_text(error: BaseException) -> str:
    return f"{type(error).__name__}: {error}"[:2000]


def chunks_missing(state: dict) -> list[int]:
    done = set(state.get("done", []))
    return [index for index in range(int(state.get("total", 0))) if index not in done]


def chunks_lost(state: dict, *, now: datetime | None = None) -> list[int]:
    """Chunks whose last attempt began over LOUPE_CHUNK_LOST_AFTER_S ago and did not end, and chunks never begun
    while a later chunk began over LOUPE_CHUNK_LOST_AFTER_S ago, or LOUPE_CHUNK_QUEUED_LOST_AFTER_S after the run was
    planned (see the module docstring)."""
    now = now or timezone.now()
    limit = now - timedelta(seconds=settings.LOUPE_CHUNK_LOST_AFTER_S)
    queued_limit = now - timedelta(seconds=settings.LOUPE_CHUNK_QUEUED_LOST_AFTER_S)
    planned = datetime.fromisoformat(state["planned"]) if state.get("planned") else now
    began = {int(index): datetime.fromisoformat(at) for index, at in state.get("started", {}).items()}
    passed = max((index for index, at in began.items() if at < limit), default=-1)  # the last chunk begun long ago
    return [
        index for index in chunks_missing(state)
        if (began[index] < limit if index in began else index < passed or planned < queued_limit)
    ]


def chord_send(chunk_task: str, finish_task: str, key: int, run: str, chunks: dict[int, list[int]], *, queue: str) -> None:
    """Send `chunk_task(key, run, index, ids)` for each chunk, then `finish_task(key, run)` once they all succeeded.

    The tasks are named (a service sends them without importing its app's tasks module, which imports it).
    """
    from celery import chord, group, signature

    finish = signature(finish_task, args=(key, run), immutable=True).set(queue=queue)
    if not chunks:
        finish.apply_async()
        return
    header = group(signature(chunk_task, args=(key, run, index, ids), immutable=True).set(queue=queue)
                   for index, ids in sorted(chunks.items()))
    chord(header, finish).apply_async()


def chunk_task_run(task, work, failed):
    """The body of a chunk task: `work()`; on an error `failed(error, final)`, then a retry of this chunk alone.

    LOUPE_CRITIC_SCORE_RETRIES retries, LOUPE_CRITIC_SCORE_RETRY_S apart; the last error is raised (the chord's
    callback then never runs: `failed(..., final=True)` has ended the run).
    """
    try:
        return work()
    except Exception as error:
        final = task.request.retries >= settings.LOUPE_CRITIC_SCORE_RETRIES
        failed(error, final)
        if final:
            raise
        raise task.retry(exc=error, countdown=settings.LOUPE_CRITIC_SCORE_RETRY_S, max_retries=settings.LOUPE_CRITIC_SCORE_RETRIES)


def chunks_requeue(model, pk: int, field: str, *, ids_between, send, fail, running) -> str:
    """The sweep's step for one chunked run (see the module docstring); returns what it did.

    `ids_between(row, first, last)`: the chunk's ids now; `send(row, run, {index: ids})`: a chord of those chunks
    and the callback (an empty dict: the callback alone); `fail(row, message)`: end the run failed;
    `running(row)`: whether the row's run is still going. Returns "requeued", "finished", "failed" or "".
    """
    now = timezone.now()
    outcome = {"what": "", "send": None}

    def change(row, state):
        if not running(row):
            return []
        missing, lost = chunks_missing(state), chunks_lost(state, now=now)
        if missing and not lost:
            return []
        if not missing:
            updated = getattr(row, "updated_at", None)
            if updated is not None and updated > now - timedelta(seconds=settings.LOUPE_RUN_STALE_AFTER_S):
                return []  # the callback may still be on its way
            outcome.update(what="finished", send={})
            return []
        # The most re-sent; among equals one whose worker is known (its message says more than "never began").
        worst = max(lost, key=lambda index: (int(state.get("requeues", {}).get(str(index), 0)), str(index) in state.get("workers", {})))
        if int(state.get("requeues", {}).get(str(worst), 0)) >= settings.LOUPE_CHUNK_REQUEUES:
            lost_times = settings.LOUPE_CHUNK_REQUEUES + 1
            worker = state.get("workers", {}).get(str(worst))
            why = (f"its worker {worker} stopped mid-chunk: killed, out of memory or restarted" if worker
                   else "it never began: its message is gone from the broker")
            outcome.update(what="failed", message=(
                f"Chunk {worst + 1} of {state['total']} was lost {lost_times} time{'s' if lost_times != 1 else ''} ({why}); "
                f"{len(missing)} of {state['total']} chunks were not done."
            ))
            return []
        requeues = dict(state.get("requeues", {}))
        for index in lost:
            requeues[str(index)] = int(requeues.get(str(index), 0)) + 1
        # Counted from now: a re-sent chunk that never begins (the message lost again) is lost again later.
        state["started"] = {**state.get("started", {}), **{str(index): now.isoformat() for index in lost}}
        state["requeues"] = requeues
        outcome.update(what="requeued", send={index: None for index in missing})
        return []

    current = model.objects.filter(pk=pk).values_list(field, flat=True).first() or {}
    row = chunks_update(model, pk, field, current.get("run", ""), change)
    if row is None or not outcome["what"]:
        return ""
    state = getattr(row, field)
    if outcome["what"] == "failed":
        fail(row, outcome["message"])
        return "failed"
    chunks = {index: ids_between(row, *state["bounds"][index]) for index in (outcome["send"] or {})}
    send(row, state["run"], chunks)
    return outcome["what"]


def run_chunks_requeue(model, *, items, chunk_task: str, finish_task: str, fail, applies=None):
    """The sweep's step for a kind of run row (config.runs.RunRow) whose work is chunked in its `chunks` field.

    Registered as the kind's `requeue` rule (config.runs.run_resume_register): the sweep calls it for a row whose
    heartbeat is stale. `items(row)`: the queryset of the row's work items (a chunk is re-sent with the ids between
    its bounds); `fail(pk, message)` ends the run failed; `applies(row)`: whether this row is chunked at all.
    A row between chunks has no heartbeat of its own, so it is beaten here and the kernel's stale rule does not
    fail it. Returns True when the row changed (chunks re-sent, or failed here), config.runs.RUN_KEPT when it only
    waits for its chunks (not counted as a change), False to let the kernel fail it.
    """
    from config.queues import Queue
    from config.runs import RUN_KEPT, run_heartbeat

    def requeue(row) -> bool:
        if (applies is not None and not applies(row)) or not (row.chunks or {}).get("run"):
            return False
        what = chunks_requeue(
            model, row.pk, "chunks",
            ids_between=lambda current, first, last: list(
                items(current).filter(pk__gte=first, pk__lte=last).order_by("pk").values_list("pk", flat=True)
            ),
            send=lambda current, run, chunks: chord_send(
                chunk_task, finish_task, current.pk, run, chunks, queue=current.chunks.get("queue") or Queue.GPU.value,
            ),
            fail=lambda current, message: fail(current.pk, message),
            running=lambda current: current.status == model.RUN_RUNNING,
        )
        if what != "failed":
            run_heartbeat(model, row.pk)
        return True if what else RUN_KEPT

    return requeue
