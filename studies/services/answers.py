"""Generating a system's answers on the workers: a critic version (`gpu` queue) or an OpenAI-compatible endpoint (`default`).

Both are resumable: only items without an answer are asked, and each answer is written as soon as it exists,
so a crash or a retry never redoes finished answers. Progress (`answered_count`, `failed_count`) and the last
error live on the System row, where the study page and the API read them.
"""
from __future__ import annotations

import io
import logging
import os

from django.core.files.storage import default_storage
from django.db import transaction
from django.db.models import Exists, OuterRef
from django.utils import timezone

from modeling.assist.core.errors import LLMError, LLMRequestRejected
from studies.models import Answer, StudyItem, System
from studies.services.setup import study_trials_generate

logger = logging.getLogger(__name__)

#: Items per critic generation chunk (one bulk write and one progress update each).
CRITIC_CHUNK = 16
CRITIC_MAX_NEW_TOKENS = 160
ENDPOINT_MAX_TOKENS = 512
#: Formats a data URL may carry; others are converted to PNG before they are sent.
SENDABLE_FORMATS = ("JPEG", "PNG", "WEBP", "GIF")


def _claim(system_id: int, kind: str) -> System | None:
    """Lock the row and mark it running, unless it is done already (a duplicate delivery) or is not of `kind`."""
    with transaction.atomic():
        # of=("self",): PostgreSQL cannot lock the nullable side of the outer join to critic_version.
        system = (
            System.objects.select_for_update(of=("self",)).select_related("study", "critic_version")
            .filter(pk=system_id, kind=kind).first()
        )
        if system is None or system.status == System.Status.READY:
            return None
        system.status, system.error, system.failed_count = System.Status.RUNNING, "", 0
        system.save(update_fields=["status", "error", "failed_count", "updated_at"])
    return system


def _missing_items(system: System):
    answered = Answer.objects.filter(system=system, item=OuterRef("pk"))
    return StudyItem.objects.filter(study_id=system.study_id).exclude(Exists(answered)).select_related("image").order_by("pk")


def _progress(system: System) -> int:
    count = Answer.objects.filter(system=system).count()
    System.objects.filter(pk=system.pk).update(answered_count=count, updated_at=timezone.now())
    return count


def _finish(system: System, *, failed: int = 0, error: str = "") -> None:
    """READY when every item has an answer, else FAILED with the reason; new trials are made either way."""
    count = _progress(system)
    missing = _missing_items(system).count()
    if missing and not error:
        error = f"{missing} item{'s' if missing != 1 else ''} still without an answer."
    status = System.Status.FAILED if missing else System.Status.READY
    System.objects.filter(pk=system.pk).update(status=status, error=error[:5000], failed_count=failed, answered_count=count, updated_at=timezone.now())
    study_trials_generate(study=system.study)


def system_answers_generate_critic(system_id: int) -> None:
    """Answers by a trained critic version (greedy decoding on the study's instruction), written a chunk at a time."""
    from modeling.critic.core.scoring import generate_answers
    from modeling.critic.runs import image_loader, image_names, load_trained

    system = _claim(system_id, System.Kind.CRITIC)
    if system is None:
        return
    try:
        critic = load_trained(system.critic_version)
        items = list(_missing_items(system))
        load = image_loader(image_names([item.image_id for item in items]))
        messages = [{"role": "user", "content": [{"type": "image", "index": 0}, {"type": "text", "text": system.study.instruction}]}]
        for start in range(0, len(items), CRITIC_CHUNK):
            chunk = items[start : start + CRITIC_CHUNK]
            texts = generate_answers(critic, [[load(str(item.image_id))] for item in chunk], messages, max_new_tokens=CRITIC_MAX_NEW_TOKENS)
            Answer.objects.bulk_create(
                [Answer(system=system, item=item, text=text.strip() or "(empty answer)") for item, text in zip(chunk, texts)],
                ignore_conflicts=True,
            )
            _progress(system)
    except Exception as error:  # any failure is shown on the study page; the worker log has the traceback
        logger.exception("Study system %s (critic) failed", system_id)
        _finish(system, error=f"{type(error).__name__}: {error}")
        return
    _finish(system)


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
    """An LLMClient for the system's endpoint; the key comes from the environment, never from the database."""
    from modeling.assist.core.client import LLMClient, LLMConfig

    key = ""
    if system.endpoint_key_env:
        key = os.environ.get(system.endpoint_key_env, "")
        if not key:
            raise LLMRequestRejected(
                f"The environment variable {system.endpoint_key_env} is not set on the worker.",
                detail=f"missing {system.endpoint_key_env}",
            )
    return LLMClient(LLMConfig(base_url=system.endpoint_base_url, model=system.endpoint_model, api_key=key, max_retries=2))


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
        client.close()
    _finish(system, failed=failed, error=f"{failed} item{'s' if failed != 1 else ''} failed; last error: {last_error}" if failed else "")
