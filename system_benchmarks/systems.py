"""The systems a run asks: an OpenAI-compatible vision endpoint or a trained critic version, behind one seam.

Both answer ``answer(protocol=..., prompt=..., exemplar_ids=..., image_ids=...) -> str`` (``exemplar_ids``: every image
shown before the test images, in-context exemplars then a full-reference run's reference); the run's
executor never needs to know which (the narrow seam of STYLE.md). Errors that no later call can get
past (no key, unknown model, server down after retries) raise :class:`SystemUnavailable` and stop the
run; a reply that cannot be read fails only its call (:class:`CallFailed`).
"""
from __future__ import annotations

import io
from functools import lru_cache

from django.conf import settings
from django.core.files.storage import default_storage

from annotation.models import Image
from config.egress import EgressRefused, endpoint_access

ENDPOINT_MAX_SIDE = 1024  # images are sent at most this large (longest side, pixels)
ENDPOINT_MAX_TOKENS = {"standard": 64, "in_context": 64, "chain_of_thought": 700}
_SNIFFED = (b"\x89PNG\r\n\x1a\n", b"\xff\xd8\xff", b"GIF87a", b"GIF89a")


class SystemUnavailable(Exception):
    """The system cannot answer at all (configuration, authentication, an unreachable server): the run stops."""


class CallFailed(Exception):
    """This one call got no usable reply (an unreadable body, a refusal): the call is marked failed."""


def _image_bytes_loader(image_ids):
    names = dict(Image.objects.filter(id__in=list(image_ids)).values_list("id", "file"))

    @lru_cache(maxsize=256)
    def load(image_id: int) -> bytes:
        from PIL import Image as PILImage

        with default_storage.open(names[image_id], "rb") as handle:
            data = handle.read()
        with PILImage.open(io.BytesIO(data)) as opened:
            small = max(opened.size) <= ENDPOINT_MAX_SIDE
            if small and (data.startswith(_SNIFFED) or (data[:4] == b"RIFF" and data[8:12] == b"WEBP")):
                return data  # as stored
            # Too large (tokens cost money) or a format endpoints do not take (TIFF, BMP): a PNG, shrunk.
            image = opened.convert("RGB")
        image.thumbnail((ENDPOINT_MAX_SIDE, ENDPOINT_MAX_SIDE))
        buffer = io.BytesIO()
        image.save(buffer, format="PNG")
        return buffer.getvalue()

    return load


def run_image_ids(run) -> list[int]:
    """Every image a run may show: its pool, its exemplars and (full-reference) its pool's references."""
    ids = [row["image_id"] for row in run.pool] + [row["image_id"] for row in run.exemplars]
    return list(dict.fromkeys(ids + [row["reference_id"] for row in run.pool if row.get("reference_id")]))


class EndpointSystem:
    """A vision model behind an OpenAI-compatible Chat Completions endpoint, via :class:`modeling.assist.core.client.LLMClient`."""

    def __init__(self, run):
        from modeling.assist.core.client import LLMClient, LLMConfig

        try:
            access = endpoint_access(run.endpoint_base_url, run.endpoint_key_env, timeout_s=settings.LOUPE_LLM_TIMEOUT_S)
            config = LLMConfig(
                base_url=run.endpoint_base_url, model=run.endpoint_model, api_key=access.api_key,
                timeout_s=settings.LOUPE_LLM_TIMEOUT_S, max_retries=settings.LOUPE_LLM_MAX_RETRIES,
                requests_per_minute=run.requests_per_minute or None,
            )
        except EgressRefused as error:
            raise SystemUnavailable(str(error)) from error
        except ValueError as error:
            raise SystemUnavailable(f"The endpoint settings are invalid: {error}") from error
        self.client = LLMClient(config, rate_key=f"benchmark-{run.pk}", http_client=access.http_client, scrub=access.scrub)
        self.load = _image_bytes_loader(run_image_ids(run))

    def answer(self, *, protocol: str, prompting: str, prompt: str, exemplar_ids, image_ids) -> str:
        from modeling.assist.core.errors import LLMBadResponse, LLMError

        images = [self.load(int(i)) for i in list(exemplar_ids) + list(image_ids)]
        try:
            reply = self.client.chat(
                [{"role": "user", "content": prompt}], images=images, temperature=0.0,
                max_tokens=ENDPOINT_MAX_TOKENS.get(prompting, 700),
            )
        except LLMBadResponse as error:
            raise CallFailed(f"{type(error).__name__}: {error.detail or error}") from error
        except LLMError as error:
            raise SystemUnavailable(f"{type(error).__name__}: {error.detail or error}") from error
        return reply.text

    def close(self) -> None:
        self.client.close()


class CriticSystem:
    """A trained critic version, on a `gpu` worker; it answers by likelihood (see critic_answers.py)."""

    def __init__(self, run, *, kept: bool = False):
        """`kept`: use the critic this worker process keeps loaded between chunks (modeling.critic.pool_scoring)."""
        from modeling.critic.models import CriticVersion
        from modeling.critic.pool_scoring import loaded_critic
        from modeling.critic.runs import image_loader, image_names, load_trained

        version = run.critic_version
        if version is None or not version.artifact_sha256 or version.status not in (
            CriticVersion.Status.READY, CriticVersion.Status.ACTIVE, CriticVersion.Status.RETIRED,
        ):
            raise SystemUnavailable("The critic version has no trained adapter (train it until it is ready first).")
        try:
            self.critic = loaded_critic(version) if kept else load_trained(version)
        except (FileNotFoundError, RuntimeError) as error:
            raise SystemUnavailable(str(error)) from error
        self.load = image_loader(image_names(run_image_ids(run)))

    def answer(self, *, protocol: str, prompting: str, prompt: str, exemplar_ids, image_ids) -> str:
        from system_benchmarks.critic_answers import critic_answer

        return critic_answer(
            self.critic, protocol, prompt, [self.load(str(i)) for i in exemplar_ids], [self.load(str(i)) for i in image_ids],
        )

    def close(self) -> None:
        self.critic = None


def system_for(run):
    """The run's system, ready to answer; raises SystemUnavailable when it cannot be set up."""
    if run.system_kind == run.SystemKind.CRITIC:
        return CriticSystem(run)
    return EndpointSystem(run)
