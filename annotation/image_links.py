"""Opaque image URLs for annotators: signed, short-lived, one per lease and side, never naming the image.

Everything that shows an annotator an image (work and training items, the drafted paragraph, training examples,
study trials; pages and API alike) links to `/i/<signed>/`. The signed value names what was handed out, not the
image: a work lease, a study trial lease or a training example item, and the side shown ("left", "right",
"reference"). A repeat is a new lease, so its URL never equals an earlier one, and a gold item's URL has the
same shape as any other. The image view checks the signature, its age (the lease's life plus a margin) and that
the requester, signed in or with an API token, is the one the lease was given to; anything else is a plain 404.
"""
from __future__ import annotations

from dataclasses import dataclass

from django.core import signing
from django.urls import reverse

from annotation.models import Image, Lease, WorkItem
from annotation.permissions import can_annotate_project
from annotation.selectors_work import item_reference
from annotation.vocabulary import TaskKind

SALT = "annotation.image_links"
SIDES = ("left", "right", "reference")
#: Beyond the lease's own life: a page opened just before the lease ran out can still load and zoom its images.
MARGIN_S = 600
#: Training examples belong to no lease: their URLs live this long.
EXAMPLE_MAX_AGE_S = 3600
#: No URL lives longer than this, whatever its lease says (a first, cheap check before any lookup).
MAX_AGE_CAP_S = 2 * 24 * 3600

_WORK_LEASE, _EXAMPLE = "l", "e"


@dataclass(frozen=True)
class LinkedImage:
    image: Image
    thumbnail: bool


def lease_images(lease: Lease) -> dict[str, Image | None]:
    """The images of a work lease by screen side: a pair's left and right as the lease's `swap` shows them, and
    the reference (single images: the image's own; pairs: the one both images share, if any)."""
    item = lease.item
    reference = item_reference(item=item)
    if item.kind == TaskKind.PAIR:
        left, right = (item.image_b, item.image) if lease.swap else (item.image, item.image_b)
        return {"left": left, "right": right, "reference": reference}
    return {"left": item.image, "right": None, "reference": reference}


def _link(kind: str, pk: int, side: str, thumbnail: bool) -> str:
    if side not in SIDES:
        raise ValueError(f"side must be one of {SIDES}")
    signed = signing.TimestampSigner(salt=SALT).sign_object({"k": kind, "o": pk, "s": side, "t": int(thumbnail)})
    return reverse("annotation:image_signed", kwargs={"signed": signed})


def lease_image_urls(lease: Lease, *, thumbnail: bool = False) -> dict[str, str | None]:
    """Signed URLs of a work lease's images by side (None where the lease has no such image)."""
    images = lease_images(lease)
    return {side: _link(_WORK_LEASE, lease.pk, side, thumbnail) if images[side] else None for side in SIDES}


def signed_image_url(kind: str, pk: int, side: str, *, thumbnail: bool = False) -> str:
    """A signed URL for a kind of hand-out another app registered with :func:`image_link_kind_register`."""
    if kind not in _resolvers:
        raise ValueError(f"no image link kind {kind!r} is registered")
    return _link(kind, pk, side, thumbnail)


def image_link_kind_register(kind: str, resolver) -> None:
    """Let another app hand out signed image URLs: `resolver(pk, side, user)` returns (image or None, max age in
    seconds), or None when `user` may not see it. Apps built on annotation (studies) register in their ready()."""
    if _resolvers.get(kind, resolver) is not resolver:
        raise ValueError(f"image link kind {kind!r} is already registered")
    _resolvers[kind] = resolver


def example_image_url(*, item: WorkItem) -> str:
    """A signed URL of a training item's image, for the level examples on the training page."""
    return _link(_EXAMPLE, item.pk, "left", False)


def image_link_resolve(*, signed: str, user) -> LinkedImage | None:
    """The image a signed value names, if it is genuine, young enough and `user` may see it; else None."""
    signer = signing.TimestampSigner(salt=SALT)
    try:
        payload = signer.unsign_object(signed, max_age=MAX_AGE_CAP_S)
        kind, pk, side, thumbnail = payload["k"], int(payload["o"]), payload["s"], bool(payload["t"])
    except (signing.BadSignature, KeyError, TypeError, ValueError):
        return None
    if side not in SIDES or user is None or not user.is_authenticated:
        return None
    found = _resolvers[kind](pk, side, user) if kind in _resolvers else None
    if found is None:
        return None
    image, max_age = found
    try:
        signer.unsign_object(signed, max_age=max_age)
    except signing.SignatureExpired:
        return None
    return LinkedImage(image=image, thumbnail=thumbnail) if image is not None else None


def _work_lease(pk: int, side: str, user) -> tuple[Image | None, int] | None:
    lease = (
        Lease.objects.select_related("item__project", "item__image__reference", "item__image_b")
        .filter(pk=pk, annotator_id=user.pk).first()
    )
    if lease is None or not can_annotate_project(user, lease.item.project):
        return None
    return lease_images(lease)[side], lease.item.project.lease_seconds + MARGIN_S


def _example(pk: int, side: str, user) -> tuple[Image | None, int] | None:
    item = WorkItem.objects.select_related("project", "image").filter(pk=pk, purpose=WorkItem.Purpose.TRAINING).first()
    if item is None or side != "left" or not can_annotate_project(user, item.project):
        return None
    return item.image, EXAMPLE_MAX_AGE_S


_resolvers = {_WORK_LEASE: _work_lease, _EXAMPLE: _example}
