"""Generating a system's answers on the workers: a critic version (`gpu` queue) or an OpenAI-compatible endpoint (`default`).

Both are resumable: only items without an answer are asked, and each answer is written as soon as it exists,
so a crash or a retry never redoes finished answers. Progress (`answered_count`, `failed_count`) and the last
error live on the System row, where the study page and the API read them.
"""
from __future__ import annotations

import io
import logging

from django.conf import settings
from django.core.files.storage import default_storage
from django.db import transaction
from django.db.models import Exists, OuterRef
from django.utils import timezone

from config.chunks import (
    chunk_began, chunk_ended, chunk_failure, chunks_split, chunks_state, chunks_update, error_text, run_chunks_requeue,
)
from config.egress import EgressRefused, endpoint_access
from config.processes import worker_identity
from config.queues import Queue
from config.runs import run_claim, run_fail, run_finish, run_heartbeat, run_keepalive
from modeling.assist.core.errors import LLMError, LLMRequestRejected
from studies.models import Answer, StudyItem, System
from studies.services.trials import study_trials_generate

logger = logging.getLogger(__name__)

#: Items per critic generation chunk (one bulk write and one progress update each).
CRITIC_CHUNK = 16
CRITIC_MAX_NEW_TOKENS = 160
ENDPOINT_MAX_TOKENS = 512
#: Formats a data URL may carry; others are converted to PNG before they are sent.
SENDABLE_FORMATS = ("JPEG", "PNG", "WEBP", "GIF")


def _claim(system_id: int, kind: str) -> System | None:
    """Mark the system running for this process (config.runs.run_claim), unless it is not of `kind` or not queued.

    A system `running` in a live worker is a duplicate delivery, dropped; one whose worker stopped answering is
    taken over (only the items still missing are asked).
    """
    # The join to critic_version is read with the row; only the system row is locked.
    rows = System.objects.select_related("study", "critic_version").filter(kind=kind)
    return run_claim(System, system_id, queryset=rows, fields={"failed_count": 0})


def _missing_items(system: System):
    answered = Answer.objects.filter(system=system, item=OuterRef("pk"))
    return StudyItem.objects.filter(study_id=system.study_id).exclude(Exists(answered)).select_related("image").order_by("pk")


def _progress(system: System) -> int:
    count = Answer.objects.filter(system=system).count()
    run_heartbeat(System, system.pk, answered_count=count)
    return count


def _finish(system: System, *, failed: int = 0, error: str = "") -> None:
    """READY when every item has an answer, else FAILED with the reason; new trials are made first, either way."""
    count = _progress(system)
    missing = _missing_items(system).count()
    if missing and not error:
        error = f"{missing} item{'s' if missing != 1 else ''} still without an answer."
    with transaction.atomic():  # the trials exist by the time anyone reads the system as ended
        study_trials_generate(study=system.study)
        if missing:
            run_fail(System, system.pk, error, failed_count=failed, answered_count=count)
        else:
            run_finish(System, system.pk, error=error[:5000], failed_count=failed, answered_count=count)


def _critic_fail(system_id: int, message: str) -> None:
    system = System.objects.select_related("study").get(pk=system_id)
    if system.status == System.Status.RUNNING:
        _finish(system, error=message)


def critic_answers_plan(system_id: int, *, queue: str = Queue.GPU.value) -> tuple[str, list[list[int]]] | None:
    """Claim the system and split its items still without an answer into chunks (config.chunks); (run, chunks).

    None when this delivery has nothing to do; a system with no item missing is finished here.
    """
    system = _claim(system_id, System.Kind.CRITIC)
    if system is None:
        return None
    if system.critic_version is None or not system.critic_version.has_trained_adapter:
        _finish(system, error="The critic version has no trained adapter (train it until it is ready first).")
        return None
    size = int(settings.LOUPE_CRITIC_ANSWER_CHUNK)
    chunks = chunks_split(list(_missing_items(system).values_list("pk", flat=True)), size)
    state = chunks_state(chunks, size, queue=queue)
    System.objects.filter(pk=system.pk).update(chunks=state)
    if not chunks:
        _finish(system)
        return None
    logger.info("Study system %s (critic): %s items in %s chunks", system.pk, state["items"], len(chunks))
    return state["run"], chunks


def critic_answers_chunk(system_id: int, run: str, index: int, item_ids: list[int], *, worker: str = "") -> int:
    """Answer one chunk's items that still have no answer; returns the answers written (0: an old or ended run).

    Answers are unique per (system, item) and written with ignore_conflicts, so a chunk run twice writes each once.
    """
    from modeling.critic.core.scoring import generate_answers
    from modeling.critic.pool_scoring import loaded_critic
    from modeling.critic.runs import image_loader, image_names

    def began(system, state):
        chunk_began(state, index, worker)
        system.worker, system.heartbeat_at = worker_identity(), timezone.now()
        return ["worker", "heartbeat_at"]

    rows = System.objects.select_related("study", "critic_version")
    system = chunks_update(System, system_id, "chunks", run, began, queryset=rows)
    if system is None or system.status != System.Status.RUNNING:
        return 0
    keepalive = run_keepalive(System, system.pk)
    written = 0
    try:
        items = list(_missing_items(system).filter(pk__in=item_ids))
        if items:
            critic = loaded_critic(system.critic_version)
            load = image_loader(image_names([item.image_id for item in items]))
            messages = [{"role": "user", "content": [{"type": "image", "index": 0}, {"type": "text", "text": system.study.instruction}]}]
            for start in range(0, len(items), CRITIC_CHUNK):
                batch = items[start : start + CRITIC_CHUNK]
                texts = generate_answers(critic, [[load(str(item.image_id))] for item in batch], messages, max_new_tokens=CRITIC_MAX_NEW_TOKENS)
                written += len(Answer.objects.bulk_create(
                    [Answer(system=system, item=item, text=text.strip() or "(empty answer)") for item, text in zip(batch, texts)],
                    ignore_conflicts=True,
                ))
                _progress(system)
    finally:
        keepalive.stop()
    chunks_update(System, system_id, "chunks", run, lambda system, state: chunk_ended(state, index))
    return written


def critic_answers_chunk_failed(system_id: int, run: str, index: int, error: BaseException, *, final: bool) -> None:
    """Record a chunk's failed attempt; `final` (no retry left) ends the system failed with the chunk's error."""
    message = error_text(error)
    logger.warning("Study system %s: chunk %s failed (%s): %s", system_id, index, "final" if final else "will retry", message)
    failures = {}
    row = chunks_update(System, system_id, "chunks", run, lambda system, state: failures.update(n=chunk_failure(state, index, message)))
    if row is not None and final:
        _critic_fail(system_id, f"Chunk {index + 1} of {row.chunks.get('total', '?')} failed after {failures['n']} attempts: {message}")


def critic_answers_finish(system_id: int, run: str) -> None:
    """End the run (the chord's callback): READY when every item has an answer, else FAILED with the reason."""
    system = System.objects.select_related("study").filter(pk=system_id).first()
    if system is None or (system.chunks or {}).get("run") != run or system.status != System.Status.RUNNING:
        return
    _finish(system)


def system_answers_generate_critic(system_id: int) -> None:
    """Answers by a trained critic version (greedy decoding on the study's instruction), chunk after chunk in this
    process: the same steps as the chord of the `gpu` task, without the broker (tests, benchmarks)."""
    plan = critic_answers_plan(system_id)
    if plan is None:
        return
    run, chunks = plan
    for index, ids in enumerate(chunks):
        try:
            critic_answers_chunk(system_id, run, index, ids, worker="in-process")
        except Exception as error:  # any failure is shown on the study page; the log has the traceback
            logger.exception("Study system %s (critic) failed", system_id)
            critic_answers_chunk_failed(system_id, run, index, error, final=True)
            return
    critic_answers_finish(system_id, run)


#: The sweep's step for a stale critic system (registered in StudiesConfig.ready): config.chunks.run_chunks_requeue.
critic_answers_requeue = run_chunks_requeue(
    System, items=lambda system: StudyItem.objects.filter(study_id=system.study_id),
    chunk_task="studies.system_generate_critic_chunk", finish_task="studies.system_generate_critic_finish",
    fail=lambda pk, message: _critic_fail(pk, message), applies=lambda system: system.kind == System.Kind.CRITIC,
)


def _image_bytes(image) -> bytes:
    """The stored file, or a PNG of it when its format cannot travel as a data URL."""
    with default_storage.open(image.file.name, "rb") as handle:
        data = handle.read()
    if image.format in SENDABLE_FORMATS:
        return data
    from PIL import Image as PILImage

    converted = io.BytesIO()
    PILImage.open(io.BytesIO(data)).convert("RGB").save(converted, format="PNG")
    return converted.getvalue()


def endpoint_client(system: System):
    """An LLMClient for the system's endpoint under the administrator's policy (config/egress.py); the key comes
    from the credential registry on the worker, never from the database."""
    from modeling.assist.core.client import LLMClient, LLMConfig

    try:
        access = endpoint_access(system.endpoint_base_url, system.endpoint_key_env, timeout_s=settings.LOUPE_LLM_TIMEOUT_S)
    except EgressRefused as error:
        raise LLMRequestRejected(str(error), detail=str(error)) from None
    config = LLMConfig(base_url=system.endpoint_base_url, model=system.endpoint_model, api_key=access.api_key,
                       timeout_s=settings.LOUPE_LLM_TIMEOUT_S, max_retries=2)
    return LLMClient(config, http_client=access.http_client, scrub=access.scrub)


def system_answers_generate_endpoint(system_id: int, *, client=None) -> None:
    """Answers from an OpenAI-compatible vision endpoint, one request per item, each sending the image.

    A refused request (bad key, model or URL) stops the run at once; a transient failure that outlasts the
    client's own retries skips that item and goes on. Either way the system ends FAILED with the reason, and
    Retry asks only for the items still missing.
    """
    system = _claim(system_id, System.Kind.ENDPOINT)
    if system is None:
        return
    failed, last_error = 0, ""
    try:
        client = client or endpoint_client(system)
    except LLMError as error:
        _finish(system, error=str(error))
        return
    keepalive = run_keepalive(System, system.pk)
    try:
        for item in _missing_items(system):
            try:
                reply = client.chat(
                    [{"role": "user", "content": system.study.instruction}], images=[_image_bytes(item.image)], max_tokens=ENDPOINT_MAX_TOKENS,
                )
            except LLMRequestRejected as error:
                _finish(system, failed=failed + 1, error=f"{error} ({error.detail})")
                return
            except LLMError as error:
                failed, last_error = failed + 1, f"{error} ({error.detail})"
                logger.warning("Study system %s: item %s failed: %s", system_id, item.pk, error.detail)
                continue
            text = (reply.text or "").strip()
            if not text:
                failed, last_error = failed + 1, "The endpoint returned an empty answer."
                continue
            Answer.objects.get_or_create(system=system, item=item, defaults={"text": text})
            _progress(system)
    finally:
        keepalive.stop()
        client.close()
    _finish(system, failed=failed, error=f"{failed} item{'s' if failed != 1 else ''} failed; last error: {last_error}" if failed else "")
