"""Signed image URLs for study trials: annotation's `/i/<signed>/` links, for a trial lease's image and reference."""
from __future__ import annotations

from annotation.image_links import MARGIN_S, image_link_kind_register, signed_image_url
from annotation.permissions import can_annotate_project
from studies.models import TrialLease

TRIAL_LEASE = "t"


def trial_image_url(*, trial_lease_id: int, side: str) -> str:
    """A signed URL of a study trial lease's image ("left": the image) or its reference ("reference")."""
    return signed_image_url(TRIAL_LEASE, trial_lease_id, side)


def _trial_lease(pk: int, side: str, user):
    lease = (
        TrialLease.objects.select_related("trial__study__project", "trial__item__image__reference")
        .filter(pk=pk, annotator_id=user.pk).first()
    )
    if lease is None or not can_annotate_project(user, lease.trial.study.project):
        return None
    image = lease.trial.item.image
    study = lease.trial.study
    chosen = {"left": image, "reference": image.reference if study.show_reference else None}.get(side)
    return chosen, study.lease_seconds + MARGIN_S


def register() -> None:
    image_link_kind_register(TRIAL_LEASE, _trial_lease)
