"""Text revisions: a drafted paragraph per questionnaire judgement, and the annotator's revision of it (issue 5).

The flow (paper 002, §3.2: a model turns questionnaire answers into a paragraph, people correct it):

1. `judgement_submit` (annotation/services/queue.py) calls `revision_request` inside its transaction. For a
   description questionnaire, or a comparison whose reasoning questionnaire was answered (never for training
   items), a TextRevision is written with status "drafting"; once the transaction commits, the signal
   `draft_requested` goes out. annotation never imports modeling: modeling's receiver enqueues the draft.
2. The modeling task reports back with `revision_draft_store` (a draft, with the rules it breaks, if any) or
   `revision_draft_failed` (a message the annotator can read). Both leave a saved revision alone.
3. The annotator edits the draft (or writes the paragraph themself) and `revision_save` stores the final text,
   its character-level Levenshtein distance from the draft that was shown, and the time spent.

The questionnaire answer is on the judgement, written before any of this; nothing here can lose it.
"""
from __future__ import annotations

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone
from rapidfuzz.distance import Levenshtein

from annotation.models import Judgement, Project, TextRevision
from annotation.services.answers import answer_for_screen
from annotation.signals import draft_requested
from annotation.vocabulary import TaskKind

#: The longest paragraph an annotator may save (a DepictQA paragraph is a few hundred characters).
REVISION_TEXT_MAX_CHARS = 5000
#: A client's time on the draft box may be anything from 0 to a day; beyond that the clock was wrong.
TIME_SPENT_MS_MAX = 24 * 3600 * 1000
#: What the modeling side drafts from each questionnaire (the prompt template's task).
TASK_DESCRIPTION = "description"
TASK_COMPARISON = "comparison"
#: The model name the offline template drafter signs its drafts with (modeling.assist.core.template_drafter; a test
#: checks they agree): the page labels such drafts clearly, since no language model wrote them.
TEMPLATE_DRAFTER_MODEL = "loupe-template-drafter"

_OPEN = (TextRevision.Status.DRAFTING, TextRevision.Status.DRAFT_READY, TextRevision.Status.DRAFT_FAILED)


class RevisionNotFound(Exception):
    """No such revision, or it belongs to someone else (the same answer for both, so ids leak nothing)."""

    code = "revision_not_found"
    status = 404

    def __init__(self, message: str = "No such text revision."):
        super().__init__(message)
        self.message = message


# ------------------------------------------------------------------------------------------- reads


def revision_wanted(judgement: Judgement) -> bool:
    """A paragraph is drafted for description questionnaires and answered comparison-reasoning questionnaires.

    Training answers are not drafted (they get feedback instead); gold and repeat items are, so that nothing
    on the page tells them apart from ordinary work.
    """
    if judgement.training_attempt is not None:
        return False
    if judgement.kind == TaskKind.DESCRIPTION:
        return True
    return judgement.kind == TaskKind.PAIR and bool((judgement.answer or {}).get("reasoning"))


def revision_questionnaire(*, revision: TextRevision) -> tuple[str, dict]:
    """(task, answer) to draft from, in the terms the annotator saw: ("description", answer) or
    ("comparison", reasoning answer plus "choice"), where for a pair "a" is the image shown on the left."""
    judgement = revision.judgement
    screen = answer_for_screen(kind=judgement.kind, answer=judgement.answer, swap=judgement.swap)
    if judgement.kind == TaskKind.DESCRIPTION:
        return TASK_DESCRIPTION, dict(screen)
    return TASK_COMPARISON, {**screen["reasoning"], "choice": screen["choice"]}


def revision_of_annotator(*, revision_id: int, annotator, project: Project | None = None) -> TextRevision:
    """The annotator's own revision (in `project`, when given); RevisionNotFound for anyone else's."""
    revisions = TextRevision.objects.select_related("judgement", "project").filter(pk=revision_id, annotator_id=annotator.pk)
    if project is not None:
        revisions = revisions.filter(project=project)
    revision = revisions.first()
    if revision is None:
        raise RevisionNotFound()
    return revision


def revision_pending(*, project: Project, annotator) -> TextRevision | None:
    """The annotator's oldest revision in the project that is not saved yet (the page shows it before the next item)."""
    return (
        TextRevision.objects.select_related("judgement", "project")
        .filter(project=project, annotator_id=annotator.pk, status__in=_OPEN)
        .order_by("id")
        .first()
    )


def revision_for_judgement(*, judgement: Judgement) -> TextRevision | None:
    return TextRevision.objects.select_related("judgement", "project").filter(judgement=judgement).first()


def text_edit_distance(draft: str, final: str) -> int:
    """Character-level Levenshtein distance (insertions, deletions, substitutions, each costing 1)."""
    return Levenshtein.distance(draft, final)


# ------------------------------------------------------------------------------------------ writes


def revision_request(*, judgement: Judgement) -> TextRevision | None:
    """Start a text revision for a newly written judgement, if its kind is drafted; call inside its transaction.

    The revision row is written in the caller's transaction (so the page can show the draft box as soon as the
    answer is saved); `draft_requested` is sent only once that transaction commits.
    """
    if not revision_wanted(judgement):
        return None
    revision = TextRevision.objects.create(
        judgement=judgement, annotator=judgement.annotator, project=judgement.project, status=TextRevision.Status.DRAFTING,
    )
    project = judgement.project
    transaction.on_commit(lambda: draft_requested.send(sender=Project, project=project, revision=revision))
    return revision


def _text_clean(final_text) -> str:
    if not isinstance(final_text, str):
        raise ValidationError({"final_text": "The paragraph must be text."})
    text = final_text.strip()
    if not text:
        raise ValidationError({"final_text": "Write the paragraph before saving (edit the draft, or write it yourself)."})
    if len(text) > REVISION_TEXT_MAX_CHARS:
        raise ValidationError(
            {"final_text": f"The paragraph is {len(text)} characters long; at most {REVISION_TEXT_MAX_CHARS} are allowed."}
        )
    return text


def _time_clean(time_spent_ms) -> int | None:
    if time_spent_ms is None:
        return None
    if isinstance(time_spent_ms, bool) or not isinstance(time_spent_ms, int) or not 0 <= time_spent_ms <= TIME_SPENT_MS_MAX:
        raise ValidationError({"time_spent_ms": f"The time must be a whole number of milliseconds from 0 to {TIME_SPENT_MS_MAX}."})
    return time_spent_ms


def revision_save(
    *, revision_id: int, annotator, final_text: str, time_spent_ms: int | None = None, draft_shown: bool | None = None,
) -> TextRevision:
    """Store the annotator's paragraph. Only the owner may (RevisionNotFound otherwise); ValidationError for an
    empty or too long text, with nothing written.

    `draft_shown` says whether the box was pre-filled with the draft (False: the annotator chose to write it
    themself before the draft came). None means: shown if a draft was ready. Only a shown draft gets an edit
    distance and can be "accepted unchanged". Saving again replaces the text (a correction).
    """
    text = _text_clean(final_text)
    time_spent_ms = _time_clean(time_spent_ms)
    with transaction.atomic():
        revision = TextRevision.objects.select_for_update().filter(pk=revision_id, annotator_id=annotator.pk).first()
        if revision is None:
            raise RevisionNotFound()
        had_draft = bool(revision.draft) and revision.status in (TextRevision.Status.DRAFT_READY, TextRevision.Status.SAVED)
        shown = had_draft if draft_shown is None else (draft_shown and had_draft)
        revision.final_text = text
        revision.edit_distance = text_edit_distance(revision.draft.strip(), text) if shown else None
        revision.accepted_unchanged = shown and text == revision.draft.strip()
        revision.time_spent_ms = time_spent_ms
        revision.status = TextRevision.Status.SAVED
        revision.saved_at = timezone.now()
        revision.save(
            update_fields=["final_text", "edit_distance", "accepted_unchanged", "time_spent_ms", "status", "saved_at", "updated_at"]
        )
    return revision


def revision_draft_store(
    *, revision_id: int, text: str, model: str, prompt_name: str, prompt_version: int | None, problems: list[str],
) -> TextRevision | None:
    """Record a draft (and the rules it breaks). None for a deleted revision; a saved one is left as it is
    (the annotator wrote their own paragraph meanwhile). Safe to run twice."""
    with transaction.atomic():
        revision = TextRevision.objects.select_for_update().filter(pk=revision_id).first()
        if revision is None or revision.status == TextRevision.Status.SAVED:
            return revision
        revision.draft = text.strip()
        revision.draft_problems = [str(problem) for problem in problems]
        revision.draft_error = ""
        revision.model = model[:200]
        revision.prompt_name = prompt_name[:100]
        revision.prompt_version = prompt_version
        revision.status = TextRevision.Status.DRAFT_READY
        revision.drafted_at = timezone.now()
        revision.save(
            update_fields=[
                "draft", "draft_problems", "draft_error", "model", "prompt_name", "prompt_version", "status", "drafted_at", "updated_at",
            ]
        )
    return revision


def revision_draft_failed(
    *, revision_id: int, message: str, model: str = "", prompt_name: str = "", prompt_version: int | None = None,
) -> TextRevision | None:
    """Record that no draft will come, with a message for the annotator (who then writes the paragraph).
    A revision that already has a draft or was saved is left as it is. Safe to run twice."""
    with transaction.atomic():
        revision = TextRevision.objects.select_for_update().filter(pk=revision_id).first()
        if revision is None or revision.status in (TextRevision.Status.SAVED, TextRevision.Status.DRAFT_READY):
            return revision
        revision.status = TextRevision.Status.DRAFT_FAILED
        revision.draft_error = message
        revision.model = model[:200]
        revision.prompt_name = prompt_name[:100]
        revision.prompt_version = prompt_version
        revision.drafted_at = timezone.now()
        revision.save(update_fields=["status", "draft_error", "model", "prompt_name", "prompt_version", "drafted_at", "updated_at"])
    return revision
