"""A questionnaire's paragraph is drafted by a real worker process through the real broker (the offline drafter).

The session's worker is started once with the environment of the test run, so it cannot be pointed at a
per-test loopback LLM server; it runs without a key (the offline template drafter), and the server paths
(success, 429, 5xx, timeout, malformed, rule-breaking) are tested in-process in tests/modeling/assist/test_services.py.
"""
import time
import uuid

import pytest

from annotation.models import TextRevision
from annotation.services import revisions
from annotation.services.queue import assignment_next, judgement_submit
from modeling.assist import selectors as llm_selectors
from modeling.assist import services as llm_services
from modeling.assist.models import LLMCall
from tests.work_data import work_project

pytestmark = [pytest.mark.worker, pytest.mark.django_db(transaction=True)]

DESCRIPTION = {
    "texture_category": "plants_foliage", "texture_condition": "clear", "overall": "severe",
    "distortions": {"brightness": "severe", "color": "undistorted", "noise": "undistorted", "artifacts": "mild", "blurriness": "severe"},
}


def _wait_for(predicate, *, timeout_s: float = 60, interval_s: float = 0.2) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(interval_s)
    return predicate()


def test_the_worker_drafts_the_paragraph_of_a_submitted_questionnaire(celery_worker, worker_media_root, project, annotator_member):
    """Submit → on commit, draft_requested → modeling enqueues llm_draft → the worker stores the offline draft."""
    if celery_worker.env.get("LOUPE_LLM_API_KEY"):
        pytest.skip("the worker has LOUPE_LLM_API_KEY in its environment: it would call a real model")
    work_project(project, kinds=["description"], images=2)
    lease = assignment_next(project=project, annotator=annotator_member).lease
    judgement = judgement_submit(lease_id=lease.pk, annotator=annotator_member, client_id=uuid.uuid4(), answer=DESCRIPTION).judgement
    revision = TextRevision.objects.get(judgement=judgement)

    def drafted() -> bool:
        revision.refresh_from_db()
        return revision.status != TextRevision.Status.DRAFTING

    assert _wait_for(drafted), "no draft within 60 s:\n" + celery_worker.log_tail()
    assert revision.status == TextRevision.Status.DRAFT_READY, revision.draft_error
    assert revision.model == "loupe-template-drafter" and revision.draft_problems == []
    assert "severe brightness distortion" in revision.draft and "severe blurriness" in revision.draft
    assert "Task modeling.llm_draft" in celery_worker.log_path.read_text()
    assert LLMCall.objects.get(project=project).ok

    saved = revisions.revision_save(
        revision_id=revision.pk, annotator=annotator_member, final_text=revision.draft + " The leaves are still sharp.", time_spent_ms=3000,
    )
    assert saved.edit_distance == len(" The leaves are still sharp.")
    (row,) = llm_selectors.revision_stats(project=project)
    assert (row.saved, row.with_draft, row.share_unchanged) == (1, 1, 0.0)


def test_the_worker_writes_the_critics_llm_answers_on_the_default_queue(celery_worker, worker_media_root, project):
    """"Write answers with the LLM" → modeling.llm_construct on the worker → accepted, labelled ConstructedText rows."""
    from annotation.models import Image
    from modeling.assist.tasks import constructed_texts_request
    from modeling.assist.models import ConstructedText
    from modeling.critic.data import CriticDataSettings, heldout_split
    from tests.work_data import project_images

    if celery_worker.env.get("LOUPE_LLM_API_KEY"):
        pytest.skip("the worker has LOUPE_LLM_API_KEY in its environment: it would call a real model")
    project_images(project, 12)
    train_ids, _ = heldout_split(project=project, fraction=CriticDataSettings().heldout_fraction)
    Image.objects.filter(pk__in=[int(i) for i in train_ids[:3]]).update(mos_normalised=55.0, source_dataset="spaq")

    constructed_texts_request(project=project)  # outside a transaction: sent at once

    assert _wait_for(lambda: ConstructedText.objects.filter(project=project).count() >= 3), celery_worker.log_tail()
    rows = ConstructedText.objects.filter(project=project)
    assert set(rows.values_list("status", "model")) == {("accepted", "loupe-template-drafter")}
    assert {row.purpose for row in rows} == {"scores"}  # equal MOS: no comparison pairs
    assert "Task modeling.llm_construct" in celery_worker.log_path.read_text()
