"""Receivers of the LLM's help: thin, each queues one task (connected in modeling/apps.py)."""
from django.db import transaction

from modeling.assist.tasks import llm_draft


def draft_requested_enqueue(sender, *, project, revision, **kwargs) -> None:
    """A questionnaire was answered: draft its paragraph on the `default` queue (once the transaction commits)."""
    revision_id = revision.pk
    transaction.on_commit(lambda: llm_draft.delay(revision_id))
