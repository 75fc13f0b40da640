"""Celery tasks of the LLM's help (drafts, VQA items, training answers), and the requests that queue them."""
from celery.exceptions import SoftTimeLimitExceeded
from django.core.exceptions import ValidationError
from django.db import transaction

from annotation.models import Project
from config.tasks import default_task
from modeling.assist import construction
from modeling.assist import services as llm_services
from modeling.assist.core.errors import LLMError, LLMTimeout

#: Times the task re-queues itself on a transient failure, on top of the client's own retries.
LLM_DRAFT_TASK_RETRIES = 3


# Safe to run twice: the service drafts only a revision still in "drafting" and the stores lock the row and
# leave a saved revision alone, so a redelivered message (acks_late, reject_on_worker_lost) changes nothing.
# Retried: 429, 5xx, timeouts and lost connections (the error says `retryable`), with the server's
# Retry-After when it gave one. Never retried: a rejected request or an unreadable reply. On the last
# failure the revision shows the annotator a message; the questionnaire answers were saved before any of
# this. The limits sit above one client call's worst case with the default settings (4 x 60 s + 3 x 60 s).
@default_task(
    bind=True, name="modeling.llm_draft", max_retries=LLM_DRAFT_TASK_RETRIES, soft_time_limit=600, time_limit=660,
)
def llm_draft(self, revision_id: int) -> None:
    try:
        llm_services.draft_for_revision(revision_id)
    except LLMError as error:
        if error.retryable and self.request.retries < self.max_retries:
            raise self.retry(exc=error, countdown=llm_services.draft_retry_countdown(error, self.request.retries)) from error
        llm_services.draft_give_up(revision_id, error)
    except SoftTimeLimitExceeded:
        llm_services.draft_give_up(revision_id, LLMTimeout(detail="the draft task ran past its time limit"))


# Safe to run twice: a (judgement, kind) that has items already is skipped. Not retried as a whole: each
# call's failure is recorded on the ledger and shown on the VQA page, and the researcher can generate again.
@default_task(name="modeling.vqa_generate", soft_time_limit=1800, time_limit=1900)
def vqa_generate(project_id: int, judgement_ids: list[int]) -> int:
    project = Project.objects.filter(pk=project_id).first()
    if project is None:
        return 0
    return len(llm_services.vqa_generate(project=project, judgement_ids=judgement_ids))


# Safe to run twice: inputs that have a row for the active prompt version and model are skipped. Not retried as
# a whole: failed calls are stored (and shown on the Critic page) and the next run tries them again.
@default_task(name="modeling.llm_construct", soft_time_limit=3600, time_limit=3700)
def llm_construct(project_id: int, numeric: bool = False) -> dict:
    project = Project.objects.filter(pk=project_id).first()
    if project is None:
        return {}
    return construction.constructed_texts_write(project=project, numeric=numeric)


def vqa_generate_request(*, project: Project, judgement_ids: list[int]) -> None:
    """Enqueue `modeling.vqa_generate` for these judgements once the current transaction commits."""
    ids = sorted({int(pk) for pk in judgement_ids})
    if not ids:
        raise ValidationError({"judgement_ids": "Pick at least one pathway judgement."})
    transaction.on_commit(lambda: vqa_generate.delay(project.pk, ids))


def constructed_texts_request(*, project: Project, numeric: bool = False) -> None:
    """Queue `modeling.llm_construct` (default queue) once the current transaction commits; `numeric`: quantitative answers too."""
    if numeric:
        transaction.on_commit(lambda: llm_construct.delay(project.pk, True))
    else:
        transaction.on_commit(lambda: llm_construct.delay(project.pk))
