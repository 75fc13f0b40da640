"""The annotator's pages: their projects, the work page whose items htmx swaps in one after another, and training.

The work page is a shell; `WorkItemView` renders the current item (or why there is none), and the
submit and release endpoints answer with the next one, so the page never reloads between items.
Every rule (leases, fatigue pauses, training, idempotent submission) is the queue's, in
annotation/services/queue.py; these views only translate between forms and its calls.
"""
from __future__ import annotations

import uuid

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import HttpResponse, HttpResponseBadRequest
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.views import View

from annotation import image_links, selectors_work
from annotation.forms_work import (
    ANSWER_FIELDS,
    answer_from_post,
    description_rows,
    errors_by_field,
    form_values,
    level_row,
    reasoning_rows,
)
from annotation.models import Lease, Project, TextRevision
from annotation.permissions import can_annotate_project, require_project_member
from annotation.services import queue, revisions, training, undo
from annotation.services.answers import answer_for_screen
from annotation.signals import work_item_override
from annotation.views.access import RuleRequiredMixin, SignedInMixin
from annotation.vocabulary import (
    PATHWAY_ATTRIBUTES,
    PATHWAY_CONTEXT_HINTS,
    PATHWAY_MIN_CONCLUSION_CHARS,
    PATHWAY_MIN_DESCRIPTION_CHARS,
    TaskKind,
)

ITEM_TEMPLATE = "annotation/work/_item.html"
STATE_TEMPLATE = "annotation/work/_state.html"
REVISION_TEMPLATE = "annotation/work/_revision.html"
# An answer the queue refused: the same form comes back with the messages (htmx swaps 422, see annotate.js).
INVALID_STATUS = 422


class ProjectAnnotatorMixin(RuleRequiredMixin):
    """Annotator members of the project in the URL; its other members (researchers) get 403, everyone else 404."""

    project: Project

    def has_access(self) -> bool:
        self.project = get_object_or_404(Project, pk=self.kwargs["project_id"])
        require_project_member(self.request.user, self.project)
        return can_annotate_project(self.request.user, self.project)


class AnnotatorHomeView(SignedInMixin, View):
    """The projects the user annotates, each with their progress, training state and a way in."""

    def get(self, request):
        cards = []
        for membership in selectors_work.annotator_memberships(user=request.user):
            project = membership.project
            cards.append(
                {
                    "project": project,
                    "progress": queue.annotator_progress(project=project, annotator=request.user),
                    "training": training.training_status(project=project, annotator=request.user),
                    "kind_labels": [TaskKind(kind).label for kind in project.task_kinds or [] if kind in TaskKind.values],
                    "kind_choices": [(kind, TaskKind(kind).label) for kind in TaskKind.values if kind in (project.task_kinds or [])],
                    "preferred_kind": membership.preferred_kind,
                }
            )
        return render(request, "annotation/annotator_home.html", {"cards": cards})


# --- Rendering one item -------------------------------------------------------------------------


def _item_context(
    *,
    lease: Lease,
    progress: queue.Progress | None,
    values: dict | None = None,
    field_errors: dict | None = None,
    general_errors: list | None = None,
    notice: str = "",
) -> dict:
    """Everything the item partial shows: the images in screen order, the questions, and what was typed so far."""
    item = lease.item
    project = item.project
    values = values or {}
    field_errors = field_errors or {}
    client_id = values.get("client_id") or ""
    try:
        client_id = str(uuid.UUID(client_id))
        fresh = False  # a re-rendered form keeps its id, so the eventual submission is still one judgement
    except ValueError:
        client_id, fresh = str(uuid.uuid4()), True  # the fallback where crypto.randomUUID is missing
    context = {
        "project": project,
        "lease": lease,
        "item": item,
        "kind": item.kind,
        "training": lease.training_attempt is not None,
        "progress": progress,
        "values": values,
        "field_errors": field_errors,
        "general_errors": general_errors or [],
        "client_id": client_id,
        "client_id_fresh": fresh,
        "notice": notice,
        "undo_available": lease.training_attempt is None
        and selectors_work.undo_available(project=project, annotator=lease.annotator, now=timezone.now()),
    }
    # Opaque per-lease URLs: nothing on the page names the image, so gold and repeats look like any other item.
    context["image_urls"] = image_links.lease_image_urls(lease)
    if item.kind == TaskKind.PAIR:
        context.update(reasoning_rows=reasoning_rows(values, field_errors))
        context["reasoning_open"] = bool(values.get("choice")) or bool(field_errors)
    if item.kind == TaskKind.DESCRIPTION:
        context["rows"] = description_rows(values, field_errors)
    elif item.kind == TaskKind.RATING:
        context["rows"] = [level_row(values, field_errors, legend="How good is the quality of this image?")]
    elif item.kind == TaskKind.PATHWAY:
        context["rows"] = [level_row(values, field_errors, legend="Overall level (optional)")]
        context["min_description"] = PATHWAY_MIN_DESCRIPTION_CHARS
        context["min_conclusion"] = PATHWAY_MIN_CONCLUSION_CHARS
        context["attribute_words"] = PATHWAY_ATTRIBUTES
        context["context_words"] = PATHWAY_CONTEXT_HINTS
        context["mos_shown"] = selectors_work.pathway_mos_shown(item=item)
    return context


def _state(request, project: Project, error: queue.QueueError, *, status: int = 200):
    """Why there is no item to show: no work, a pause (until when), training first, or a lost lease."""
    context = {
        "project": project,
        "state": error.code,
        "message": error.message,
        "until": getattr(error, "until", None),
        "seconds_left": max(0, int((error.until - timezone.now()).total_seconds())) + 1 if isinstance(error, queue.Paused) else None,
        "progress": _progress_or_none(request, project),
        "undo_available": selectors_work.undo_available(project=project, annotator=request.user, now=timezone.now()),
    }
    return render(request, STATE_TEMPLATE, context, status=status)


def _progress_or_none(request, project: Project) -> queue.Progress | None:
    """The annotator's progress as the queue counts it (None if they stopped being a member meanwhile)."""
    try:
        return queue.annotator_progress(project=project, annotator=request.user)
    except queue.QueueError:
        return None


def _next_item(request, project: Project, *, notice: str = ""):
    """The annotator's unsaved paragraph if there is one, else their current or next work item (the queue hands
    back an unfinished lease before a new one)."""
    pending = revisions.revision_pending(project=project, annotator=request.user)
    if pending is not None:
        return render(request, REVISION_TEMPLATE, _revision_context(pending, notice=notice))
    override = _override(request, project, no_work=False)
    if override is not None:
        return override
    try:
        assignment = queue.assignment_next(project=project, annotator=request.user)
    except queue.QueueError as error:
        if isinstance(error, queue.NoWork):
            override = _override(request, project, no_work=True)
            if override is not None:
                return override
        return _state(request, project, error)
    return render(request, ITEM_TEMPLATE, _item_context(lease=assignment.lease, progress=assignment.progress, notice=notice))


def _override(request, project: Project, *, no_work: bool) -> HttpResponse | None:
    """What another app shows instead of the next item (a crowd participant's completion code), if anything."""
    for _receiver, response in work_item_override.send(sender=Project, request=request, project=project, no_work=no_work):
        if response is not None:
            return response
    return None


def _next_training_item(request, project: Project):
    """The next item of the annotator's training attempt, or the attempt's result once it is complete."""
    try:
        assignment = training.training_next(project=project, annotator=request.user)
    except queue.NoWork:
        status = training.training_status(project=project, annotator=request.user)
        return render(request, "annotation/work/_training_result.html", {"project": project, "status": status})
    except queue.QueueError as error:
        return _state(request, project, error)
    status = training.training_status(project=project, annotator=request.user)
    context = _item_context(lease=assignment.lease, progress=None)
    context["training_status"] = status
    return render(request, ITEM_TEMPLATE, context)


# --- Work ---------------------------------------------------------------------------------------


class WorkPageView(ProjectAnnotatorMixin, View):
    """The work page's shell: it asks for the current item as soon as it loads."""

    def get(self, request, project_id):
        return render(request, "annotation/work/work_page.html", {"project": self.project})


class WorkItemView(ProjectAnnotatorMixin, View):
    """The current item as a partial (htmx); a plain visit goes to the work page around it."""

    def get(self, request, project_id):
        if not request.htmx:
            return redirect("annotation:annotate", project_id=self.project.pk)
        return _next_item(request, self.project)


def _posted_lease(request, project: Project) -> Lease | None:
    """The lease named in the POST, if it is this annotator's in this project (else None: 404, whoever owns it)."""
    try:
        lease_id = int(request.POST.get("lease_id", ""))
    except ValueError:
        return None
    return (
        Lease.objects.select_related("item", "item__project", "item__image", "item__image__reference", "item__image_b")
        .filter(pk=lease_id, annotator=request.user, item__project=project)
        .first()
    )


def _lease_not_found(request, project: Project):
    return _state(request, project, queue.LeaseNotFound("There is no such item for you (it may belong to someone else)."), status=404)


class SubmitView(ProjectAnnotatorMixin, View):
    """Submit an answer (POST, htmx): the next item, training feedback, or the same form with what is wrong."""

    http_method_names = ["post"]

    def post(self, request, project_id):
        lease = _posted_lease(request, self.project)
        if lease is None:
            return _lease_not_found(request, self.project)
        try:
            client_id = uuid.UUID(request.POST.get("client_id", ""))
        except ValueError:
            return HttpResponseBadRequest("client_id must be a UUID.")
        try:
            duration_ms = min(max(0, int(float(request.POST.get("duration_ms") or ""))), queue.DURATION_MS_MAX)
        except (ValueError, OverflowError):
            duration_ms = None  # timing is a nicety: a client without it still gets its answer saved
        answer = answer_from_post(kind=lease.item.kind, data=request.POST, pair_reasoning=self.project.pair_reasoning)
        try:
            result = queue.judgement_submit(
                lease_id=lease.pk, annotator=request.user, client_id=client_id, answer=answer, duration_ms=duration_ms,
            )
        except ValidationError as exc:
            values = form_values(request.POST)
            field_errors, general = errors_by_field(exc, ANSWER_FIELDS)
            context = _item_context(lease=lease, progress=None, values=values, field_errors=field_errors, general_errors=general)
            if context["training"]:
                context["training_status"] = training.training_status(project=self.project, annotator=request.user)
            else:
                context["progress"] = _progress_or_none(request, self.project)
            return render(request, ITEM_TEMPLATE, context, status=INVALID_STATUS)
        except queue.LeaseNotFound:
            return _lease_not_found(request, self.project)
        except queue.LeaseClosed as error:
            # Expired, released or answered elsewhere: nothing was written, and the next item is what helps.
            notice = f"That answer was not saved: {error.message} Here is your next item."
            if lease.training_attempt is not None:
                return _next_training_item(request, self.project)
            return _next_item(request, self.project, notice=notice)
        except queue.QueueError as error:
            return _state(request, self.project, error, status=error.status)
        if lease.training_attempt is not None:
            if result.training_feedback is None:
                return _next_training_item(request, self.project)
            context = {
                "project": self.project,
                "feedback": result.training_feedback,
                "expected_rows": selectors_work.answer_display(kind=lease.item.kind, answer=result.training_feedback.get("expected")),
                "given_rows": selectors_work.answer_display(
                    kind=lease.item.kind,
                    answer=answer_for_screen(kind=lease.item.kind, answer=result.judgement.answer, swap=result.judgement.swap),
                ),
                "status": training.training_status(project=self.project, annotator=request.user),
            }
            return render(request, "annotation/work/_training_feedback.html", context)
        return _next_item(request, self.project)


class ReleaseView(ProjectAnnotatorMixin, View):
    """Skip: give the item back to the queue (POST, htmx) and show the next one."""

    http_method_names = ["post"]

    def post(self, request, project_id):
        lease = _posted_lease(request, self.project)
        if lease is None:
            return _lease_not_found(request, self.project)
        try:
            queue.lease_release(lease_id=lease.pk, annotator=request.user)
        except queue.LeaseNotFound:
            return _lease_not_found(request, self.project)
        except queue.LeaseClosed:
            pass  # already back in the queue: the next item is what the annotator wants either way
        return _next_item(request, self.project)


class UndoView(ProjectAnnotatorMixin, View):
    """Undo (POST, htmx): take back the annotator's last answer while its item is still held for them, and show
    that item again; when it cannot be undone, the current item with the reason (409)."""

    http_method_names = ["post"]

    def post(self, request, project_id):
        try:
            undo.judgement_undo(project=self.project, annotator=request.user)
        except queue.QueueError as error:
            response = _next_item(request, self.project, notice=error.message)
            response.status_code = error.status
            return response
        return _next_item(request, self.project, notice="Your last answer was taken back: answer this item again.")


# --- Training -----------------------------------------------------------------------------------


class TrainingPageView(ProjectAnnotatorMixin, View):
    """Examples of each level, then the training items one by one with feedback, then the result."""

    def get(self, request, project_id):
        examples = selectors_work.training_level_examples(project=self.project)
        for example in examples:
            example["items"] = [{"url": image_links.example_image_url(item=item), "feedback": item.feedback} for item in example["items"]]
        context = {
            "project": self.project,
            "examples": examples,
            "status": training.training_status(project=self.project, annotator=request.user),
        }
        return render(request, "annotation/work/training.html", context)


class TrainingItemView(ProjectAnnotatorMixin, View):
    """The next training item as a partial (htmx), or the attempt's result once every item is answered."""

    def get(self, request, project_id):
        if not request.htmx:
            return redirect("annotation:training", project_id=self.project.pk)
        return _next_training_item(request, self.project)


class TrainingRestartView(ProjectAnnotatorMixin, View):
    """Start a new training attempt after a failed one (POST)."""

    http_method_names = ["post"]

    def post(self, request, project_id):
        try:
            training.training_restart(project=self.project, annotator=request.user)
        except ValidationError as exc:
            messages.error(request, " ".join(exc.messages))
        return redirect("annotation:training", project_id=self.project.pk)


# --- The drafted paragraph ----------------------------------------------------------------------


def _revision_context(
    revision: TextRevision, *, write_own: bool = False, values: dict | None = None, field_errors: dict | None = None,
    notice: str = "",
) -> dict:
    """The draft box: waiting for the draft, or the text box pre-filled with it (empty when the annotator writes it)."""
    judgement = revision.judgement
    screen = answer_for_screen(kind=judgement.kind, answer=judgement.answer, swap=judgement.swap)
    waiting = revision.status == TextRevision.Status.DRAFTING and not write_own and values is None
    from_draft = revision.status == TextRevision.Status.DRAFT_READY and not write_own
    if values is not None:
        text = values.get("final_text", "")
        from_draft = values.get("draft_shown") == "1" and revision.status == TextRevision.Status.DRAFT_READY
    else:
        text = revision.draft if from_draft else ""
    context = {
        "project": revision.project,
        "revision": revision,
        "waiting": waiting,
        "failed": revision.status == TextRevision.Status.DRAFT_FAILED,
        "from_draft": from_draft,
        "template_drafter": revision.model == revisions.TEMPLATE_DRAFTER_MODEL,
        "text": text,
        "max_chars": revisions.REVISION_TEXT_MAX_CHARS,
        "field_errors": field_errors or {},
        "answer_rows": selectors_work.answer_display(kind=judgement.kind, answer=screen),
        "is_pair": judgement.kind == TaskKind.PAIR,
        "notice": notice,
    }
    context["image_urls"] = image_links.lease_image_urls(judgement.lease, thumbnail=True)
    return context


def _revision_or_none(request, project: Project, revision_id: int) -> TextRevision | None:
    try:
        return revisions.revision_of_annotator(revision_id=revision_id, annotator=request.user, project=project)
    except revisions.RevisionNotFound:
        return None


def _revision_not_found(request, project: Project):
    return _state(request, project, revisions.RevisionNotFound("There is no such paragraph for you (it may belong to someone else)."), status=404)


class RevisionPanelView(ProjectAnnotatorMixin, View):
    """The draft box as a partial (htmx). `?poll=1` answers 204 while the draft is still being written (nothing
    to swap), `?write=1` opens an empty box for an annotator who would rather write the paragraph themself."""

    def get(self, request, project_id, revision_id):
        if not request.htmx:
            return redirect("annotation:annotate", project_id=self.project.pk)
        revision = _revision_or_none(request, self.project, revision_id)
        if revision is None:
            return _revision_not_found(request, self.project)
        if revision.status == TextRevision.Status.SAVED:
            return _next_item(request, self.project)
        if request.GET.get("poll") and revision.status == TextRevision.Status.DRAFTING:
            return HttpResponse(status=204)
        return render(request, REVISION_TEMPLATE, _revision_context(revision, write_own=request.GET.get("write") == "1"))


class RevisionSaveView(ProjectAnnotatorMixin, View):
    """Save the paragraph (POST, htmx) and show the next item; an empty or too long text comes back with the message."""

    http_method_names = ["post"]

    def post(self, request, project_id, revision_id):
        revision = _revision_or_none(request, self.project, revision_id)
        if revision is None:
            return _revision_not_found(request, self.project)
        try:
            time_spent_ms = min(max(0, int(float(request.POST.get("time_spent_ms") or ""))), revisions.TIME_SPENT_MS_MAX)
        except (ValueError, OverflowError):
            time_spent_ms = None  # timing is a nicety: the paragraph is saved without it
        shown = request.POST.get("draft_shown")
        try:
            revisions.revision_save(
                revision_id=revision.pk, annotator=request.user, final_text=request.POST.get("final_text", ""),
                time_spent_ms=time_spent_ms, draft_shown=None if shown is None else shown == "1",
            )
        except revisions.RevisionNotFound:
            return _revision_not_found(request, self.project)
        except ValidationError as exc:
            messages_by_field = exc.message_dict if hasattr(exc, "error_dict") else {"final_text": exc.messages}
            values = {"final_text": request.POST.get("final_text", ""), "draft_shown": shown or "0"}
            errors = [message for field_messages in messages_by_field.values() for message in field_messages]
            context = _revision_context(revision, values=values, field_errors={"final_text": errors})
            return render(request, REVISION_TEMPLATE, context, status=INVALID_STATUS)
        return _next_item(request, self.project)
