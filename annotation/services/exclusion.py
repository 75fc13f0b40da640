"""Quality control's one reversible action: exclude an annotator's data from a project, or restore it, audited.

Excluding sets `Judgement.excluded` on everything the annotator did in the project (and the queue stores
their later judgements excluded too, while `Membership.excluded` is set), so scaling, exports and critic
training all leave it out; restoring clears what the exclusion set. Each action writes an `ExclusionEvent`
and, once committed, sends `annotator_exclusion_changed` so that evaluation re-scales the project.
"""
from __future__ import annotations

from django.db import transaction

from annotation.models import ExclusionEvent, Judgement, Membership, Project, WorkItem
from annotation.signals import annotator_exclusion_changed

REASON_MAX_CHARS = 2000
#: What the quality dashboard's "Judgements" column counts (work and gold answers, not repeats nor training
#: answers); exclusion flags every row of the annotator, but its message counts these so the two agree.
SCREENED_PURPOSES = (WorkItem.Purpose.WORK, WorkItem.Purpose.GOLD)


def judgements_screened(queryset):
    """The judgements of `queryset` the quality dashboard counts per annotator: work and gold, first answers only."""
    return queryset.filter(purpose__in=SCREENED_PURPOSES, is_repeat=False)


class ExclusionError(ValueError):
    """The action cannot be done: not an annotator of the project, already in that state, or no reason given."""


def _reason_clean(reason: str) -> str:
    reason = (reason or "").strip()
    if not reason:
        raise ExclusionError("Give a reason: it is kept in the project's audit log.")
    if len(reason) > REASON_MAX_CHARS:
        raise ExclusionError(f"Keep the reason under {REASON_MAX_CHARS} characters.")
    return reason


def _membership_lock(*, project: Project, annotator) -> Membership:
    # The same row judgement_submit locks: a submission running now commits before this reads the
    # judgements, or waits and then stores its judgement with the new state.
    membership = (
        Membership.objects.select_for_update()
        .filter(project=project, user_id=annotator.pk, role=Membership.Role.ANNOTATOR)
        .first()
    )
    if membership is None:
        raise ExclusionError("Only annotators of this project can be excluded or restored.")
    return membership


def _announce(project: Project, event: ExclusionEvent) -> None:
    transaction.on_commit(lambda: annotator_exclusion_changed.send(sender=Project, project=project, event=event))


def annotator_exclude(*, project: Project, annotator, by, reason: str) -> ExclusionEvent:
    """Exclude every judgement `annotator` made in `project`, now and until restored; audited with `reason`.

    Raises ExclusionError if the user is not an annotator of the project, is excluded already, or no reason is given.
    """
    reason = _reason_clean(reason)
    with transaction.atomic():
        membership = _membership_lock(project=project, annotator=annotator)
        if membership.excluded:
            raise ExclusionError(f"{annotator} is excluded already.")
        judgements = Judgement.objects.filter(project=project, annotator_id=annotator.pk)
        kept = list(judgements.filter(excluded=True).order_by("id").values_list("id", flat=True))
        changing = judgements.filter(excluded=False)
        screened = judgements_screened(changing).count()
        changed = changing.update(excluded=True)
        membership.excluded = True
        membership.save(update_fields=["excluded"])
        event = ExclusionEvent.objects.create(
            project=project, annotator=annotator, action=ExclusionEvent.Action.EXCLUDE, reason=reason,
            created_by=by, judgements_changed=changed, kept_excluded_ids=kept,
        )
        event.judgements_screened = screened  # not stored: the message's count, as the dashboard counts
        _announce(project, event)
    return event


def annotator_restore(*, project: Project, annotator, by, reason: str) -> ExclusionEvent:
    """Undo the annotator's current exclusion: clear `excluded` on their judgements in the project, except those
    that were excluded before it; audited with `reason`.

    Raises ExclusionError if the user is not an annotator of the project, is not excluded, or no reason is given.
    """
    reason = _reason_clean(reason)
    with transaction.atomic():
        membership = _membership_lock(project=project, annotator=annotator)
        if not membership.excluded:
            raise ExclusionError(f"{annotator} is not excluded.")
        exclusion = (
            ExclusionEvent.objects.filter(project=project, annotator_id=annotator.pk, action=ExclusionEvent.Action.EXCLUDE)
            .order_by("-created_at", "-id")
            .first()
        )
        kept = exclusion.kept_excluded_ids if exclusion is not None else []
        changing = Judgement.objects.filter(project=project, annotator_id=annotator.pk, excluded=True).exclude(id__in=kept)
        screened = judgements_screened(changing).count()
        changed = changing.update(excluded=False)
        membership.excluded = False
        membership.save(update_fields=["excluded"])
        event = ExclusionEvent.objects.create(
            project=project, annotator=annotator, action=ExclusionEvent.Action.RESTORE, reason=reason,
            created_by=by, judgements_changed=changed,
        )
        event.judgements_screened = screened  # not stored: the message's count, as the dashboard counts
        _announce(project, event)
    return event
