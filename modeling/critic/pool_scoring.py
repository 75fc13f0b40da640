"""Scoring a project's pool with a critic version, split into chunks across every `gpu` worker (issue 19).

`critic_score_pool` (the task) plans the run here (:func:`scoring_plan`) and sends a Celery chord: one
`critic_score_chunk` task per chunk of LOUPE_CRITIC_SCORE_CHUNK images, then `critic_score_finish`. Every
worker consuming the queue takes chunks, so scoring scales out with the `gpu` workers of one host or of
many, through the broker alone. Each chunk:

- upserts its scores on (version, image), so a chunk run twice rewrites the same rows;
- marks its index done in the version's `score_chunks` (a set, so a redelivered chunk is counted once);
  progress is chunks done out of chunks planned, with the images they cover in `scored_count`;
- on an error is retried alone (the others are not redone) after LOUPE_CRITIC_SCORE_RETRY_S, at most
  LOUPE_CRITIC_SCORE_RETRIES times; each attempt, its worker and its error are recorded on the version.

The chord's callback (:func:`scoring_finish`) ends the run as the single-task scorer did: status done and,
when the version is active, the pair selector's prior refreshed. A run has a token (`score_chunks["run"]`):
asking for scoring again starts a new run, and the old run's chunks and callback then change nothing.
"""
from __future__ import annotations

import logging

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from annotation.models import Image
from config.chunks import (
    chord_send, chunk_began, chunk_ended, chunk_failure, chunks_requeue, chunks_split, chunks_state, chunks_update, error_text,
)
from config.queues import Queue
from modeling.critic.data import scorer_config
from modeling.critic.models import CriticScore, CriticVersion
from modeling.critic.runs import image_loader, image_names, input_crop, load_trained
from modeling.selection.tasks import selection_prior_refresh

logger = logging.getLogger(__name__)

#: The loaded critic of this worker process, kept between chunks: {(version id, artifact checksum): Critic}.
_LOADED: dict = {}
#: Tasks that use the kept critic; any other task frees it first (a training run needs the memory).
SCORING_TASKS = frozenset({
    "modeling.critic_score_chunk", "modeling.critic_score_finish",
    "studies.system_generate_critic_chunk", "studies.system_generate_critic_finish",
    "system_benchmarks.run_critic_chunk", "system_benchmarks.run_critic_finish",
})


def chunk_size() -> int:
    size = int(settings.LOUPE_CRITIC_SCORE_CHUNK)
    if size <= 0:
        raise ValueError(f"LOUPE_CRITIC_SCORE_CHUNK must be > 0, not {size}")
    return size


def loaded_critic(version: CriticVersion):
    """The version's trained critic, loaded once per worker process and kept for its next chunks."""
    key = (version.pk, version.artifact_sha256)
    if key not in _LOADED:
        loaded_critic_free()
        _LOADED[key] = load_trained(version)
    return _LOADED[key]


def loaded_critic_free(**_signal_kwargs) -> None:
    """Drop the kept critic (and the GPU memory it holds)."""
    if not _LOADED:
        return
    _LOADED.clear()
    import torch

    if torch.cuda.is_available():
        torch.cuda.empty_cache()


def scoring_plan(version_id: int, *, queue: str = Queue.GPU.value) -> tuple[str, list[list[int]]] | None:
    """Start a scoring run: the version's row says running with a fresh run token; (token, chunks of image ids).

    None when there is nothing to score with (no such version, or one without a trained artifact).
    """
    size = chunk_size()
    with transaction.atomic():
        version = CriticVersion.objects.select_for_update().filter(pk=version_id).first()
        if version is None or not version.artifact_sha256:
            return None
        ids = list(Image.objects.filter(project_id=version.project_id).order_by("id").values_list("id", flat=True))
        chunks = chunks_split(ids, size)
        version.score_status, version.score_error, version.scored_count = CriticVersion.ScoreStatus.RUNNING, "", 0
        version.score_chunks = chunks_state(chunks, size, queue=queue)
        version.save(update_fields=["score_status", "score_error", "scored_count", "score_chunks", "updated_at"])
    logger.info("Critic v%s: scoring %s images of project %s in %s chunks", version.number, len(ids), version.project_id, len(chunks))
    return version.score_chunks["run"], chunks


def _chunks_update(version_id: int, run: str, change) -> CriticVersion | None:
    """Apply `change(version, state)` to the run's chunk state under the row lock; None when `run` is no longer current."""
    return chunks_update(CriticVersion, version_id, "score_chunks", run, change)


def chunk_score(version_id: int, run: str, index: int, image_ids: list[int], *, worker: str = "") -> int:
    """Score one chunk and write its rows; returns the images written (0 when the run is no longer current)."""
    from modeling.critic.core.scoring import score_images

    version = _chunks_update(version_id, run, lambda version, state: chunk_began(state, index, worker))
    if version is None or version.score_status != CriticVersion.ScoreStatus.RUNNING:
        return 0
    if index in version.score_chunks.get("done", []):  # re-sent by the sweep after it was done: nothing to redo
        return 0
    ids = [int(i) for i in Image.objects.filter(id__in=image_ids).order_by("id").values_list("id", flat=True)]  # deleted since: skipped
    written = 0
    if ids:
        critic = loaded_critic(version)
        load = image_loader(image_names(ids), crop=input_crop(version))
        batch_size = int(version.training_settings.get("scoring_batch_size", 16))
        result = score_images(critic, [load(str(i)) for i in ids], batch_size=batch_size,
                              config=scorer_config(version.training_settings))
        rows = [
            CriticScore(version_id=version.pk, image_id=image_id, score=float(s), variance=float(v), probabilities=[float(p) for p in probs])
            for image_id, s, v, probs in zip(ids, result.scores, result.variances, result.probabilities)
        ]
        written = len(rows)

    def done(version, state):
        if not chunk_ended(state, index):
            return []  # a redelivered chunk: counted once
        version.scored_count += len(image_ids)
        return ["scored_count"]

    with transaction.atomic():
        if ids:
            CriticScore.objects.bulk_create(
                rows, update_conflicts=True, unique_fields=["version", "image"], update_fields=["score", "variance", "probabilities"],
            )
        _chunks_update(version_id, run, done)
    return written


def chunk_failed(version_id: int, run: str, index: int, error: BaseException, *, final: bool) -> None:
    """Record a chunk's failed attempt; `final` (no retry left) fails the whole run with the chunk's error."""
    message = error_text(error)

    def failed(version, state):
        attempts = chunk_failure(state, index, message)
        if not final or version.score_status != CriticVersion.ScoreStatus.RUNNING:
            return []
        version.score_status = CriticVersion.ScoreStatus.FAILED
        version.score_error = f"Chunk {index + 1} of {state.get('total', '?')} failed after {attempts} attempts: {message}"
        return ["score_status", "score_error"]

    _chunks_update(version_id, run, failed)
    logger.warning("Critic version %s: scoring chunk %s failed (%s): %s", version_id, index, "final" if final else "will retry", message)


def scoring_finish(version_id: int, run: str) -> int:
    """End the run (the chord's callback): scores done, and the selector's prior refreshed if the version is active.

    Returns the images scored; 0 when the run is no longer current or did not finish every chunk.
    """
    with transaction.atomic():
        version = CriticVersion.objects.select_for_update().filter(pk=version_id).first()
        state = (version.score_chunks or {}) if version else {}
        if version is None or state.get("run") != run or version.score_status != CriticVersion.ScoreStatus.RUNNING:
            return 0
        missing = int(state.get("total", 0)) - len(state.get("done", []))
        if missing:
            version.score_status = CriticVersion.ScoreStatus.FAILED
            version.score_error = f"{missing} of {state.get('total')} chunks were not scored."
            version.save(update_fields=["score_status", "score_error", "updated_at"])
            return 0
        version.score_status, version.scored_at = CriticVersion.ScoreStatus.DONE, timezone.now()
        version.save(update_fields=["score_status", "scored_at", "updated_at"])
        if version.status == CriticVersion.Status.ACTIVE:
            selection_prior_refresh(project_id=version.project_id)
    logger.info("Critic v%s scored %s images of project %s", version.number, version.scored_count, version.project_id)
    return version.scored_count


def critic_pool_score(version_id: int) -> int:
    """Score every image of the project with the version in this process, chunk after chunk (tests, benchmarks).

    The same steps as the chord, without the broker. Safe to run twice: rows are upserted on (version, image).
    Returns the number of images scored.
    """
    plan = scoring_plan(version_id)
    if plan is None:
        return 0
    run, chunks = plan
    for index, ids in enumerate(chunks):
        try:
            chunk_score(version_id, run, index, ids, worker="in-process")
        except Exception as error:
            chunk_failed(version_id, run, index, error, final=True)
            raise
    return scoring_finish(version_id, run)


def scoring_runs_requeue() -> int:
    """The sweep's step for scoring runs (config.chunks.chunks_requeue): lost chunks sent again, a lost callback
    sent alone, a chunk lost too often fails the run. Returns the runs it changed."""
    def ids_between(version, first, last):
        rows = Image.objects.filter(project_id=version.project_id, id__gte=first, id__lte=last).order_by("id")
        return list(rows.values_list("id", flat=True))

    def send(version, run, chunks):
        chord_send("modeling.critic_score_chunk", "modeling.critic_score_finish", version.pk, run, chunks, queue=version.score_chunks.get("queue") or Queue.GPU.value)

    def fail(version, message):
        CriticVersion.objects.filter(pk=version.pk, score_status=CriticVersion.ScoreStatus.RUNNING).update(
            score_status=CriticVersion.ScoreStatus.FAILED, score_error=message, updated_at=timezone.now(),
        )
        logger.warning("Critic version %s: scoring failed: %s", version.pk, message)

    changed = 0
    for pk in CriticVersion.objects.filter(score_status=CriticVersion.ScoreStatus.RUNNING).values_list("pk", flat=True):
        changed += bool(chunks_requeue(
            CriticVersion, pk, "score_chunks", ids_between=ids_between, send=send, fail=fail,
            running=lambda version: version.score_status == CriticVersion.ScoreStatus.RUNNING,
        ))
    return changed
