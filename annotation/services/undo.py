"""Undo: take back the annotator's last answer while its item is still held for them (as Prodigy's undo does).

The judgement is deleted (its drafted paragraph with it), the lease becomes active again and the item's count
goes back down, so the queue serves the same item to the same annotator next (`assignment_next` hands out the
oldest active lease first) and nobody else can take the slot meanwhile. Once the lease has run out the answer
stands: the item may have gone to someone else since.
"""
from __future__ import annotations

from datetime import datetime

from django.db import transaction
from django.db.models import F
from django.db.models.functions import Greatest
from django.utils import timezone

from annotation.models import Judgement, Lease, Project, WorkItem
from annotation.services.leasing import QueueError, in_transaction, membership_lock
from annotation.signals import judgement_undone


class UndoRefused(QueueError):
    """Nothing to undo, or the last answer's lease has run out (409: the request is fine, the state says no)."""

    code, status = "undo_refused", 409


def judgement_undo(*, project: Project, annotator, now: datetime | None = None) -> Lease:
    """Delete the annotator's last work answer in `project` and give its lease back to them; returns the lease.

    Training answers are not undone (the round scores each answer as given). Raises NotAnnotator, or
    UndoRefused with a message that says why.
    """

    def attempt() -> Lease:
        membership = membership_lock(project.pk, annotator)
        at = now or timezone.now()  # after the lock
        judgement = (
            Judgement.objects.filter(project=project, annotator=annotator, training_attempt__isnull=True)
            .order_by("-submitted_at", "-id")
            .first()
        )
        if judgement is None:
            raise UndoRefused("There is no answer of yours to undo.")
        lease = Lease.objects.select_for_update(of=("self", "item")).select_related("item").get(pk=judgement.lease_id)
        if lease.status != Lease.Status.SUBMITTED or lease.expires_at <= at:
            raise UndoRefused(
                f"Your last answer can no longer be undone: its item was held for you until "
                f"{timezone.localtime(lease.expires_at):%H:%M}, and the answer is kept."
            )
        judgement.delete()
        lease.status, lease.closed_at = Lease.Status.ACTIVE, None
        lease.save(update_fields=["status", "closed_at"])
        if not lease.is_repeat:
            WorkItem.objects.filter(pk=lease.item_id).update(judgement_count=Greatest(F("judgement_count") - 1, 0))
        membership.run_count = max(0, membership.run_count - 1)
        membership.save(update_fields=["run_count"])
        transaction.on_commit(lambda: judgement_undone.send(sender=Project, project=project, lease=lease))
        return lease

    return in_transaction(attempt)
