"""The drafted paragraph in headless Chromium: questionnaire → draft appears → edit → save, by keyboard alone.

The first test goes through the real worker (offline template drafter); the others keep the worker out of it
(the enqueue is replaced) so the test decides what the draft box sees: a failure, or no draft yet.
"""
import pytest

from annotation.models import TextRevision
from annotation.services import revisions
from modeling.assist.tasks import llm_draft
from tests.browser.test_annotate_browser import (  # noqa: F401 - screenshot is a fixture
    open_work,
    press_keys,
    ready_for_enter,
    screenshot,
    wait_for_next,
)
from tests.work_data import work_project

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

EXPECTED = {
    "texture_category": "bricks", "texture_condition": "barely", "overall": "mild",
    "distortions": {"brightness": "undistorted", "color": "mild", "noise": "severe", "artifacts": "undistorted", "blurriness": "mild"},
}


def answer_questionnaire_by_keyboard(page) -> None:
    """Digits answer the highlighted row and move on: bricks, barely; the five distortions; mild. Then Enter."""
    press_keys(page, "2", "2", "1", "2", "3", "1", "2", "2")
    ready_for_enter(page)
    page.keyboard.press("Enter")


def wait_for_focus(page, testid: str) -> None:
    """Focus moves after htmx swaps the box in: wait for it rather than read it at once."""
    page.wait_for_function("id => document.activeElement && document.activeElement.dataset.testid === id", arg=testid)


def test_questionnaire_then_draft_then_edit_and_save_by_keyboard(page, live_server, login, project, annotator_member, celery_worker, worker_media_root, screenshot):
    """The worker's offline draft appears in a focused text box, labelled; typing and Ctrl+Enter save it and bring the next item."""
    if celery_worker.env.get("LOUPE_LLM_API_KEY"):
        pytest.skip("the worker has LOUPE_LLM_API_KEY in its environment: it would call a real model")
    work_project(project, kinds=["description"], images=2)
    lease = open_work(page, live_server, login, annotator_member, project)
    assert page.locator("#work [data-llm-draft-slot]").is_visible()  # told beforehand that a draft will come
    answer_questionnaire_by_keyboard(page)
    assert wait_for_next(page, lease) == "revision"
    page.wait_for_selector("#work [data-testid=revision-text]", timeout=60_000)
    assert "Written by the offline template drafter" in page.inner_text("#work [data-testid=draft-source]")
    revision = TextRevision.objects.get(judgement__lease_id=lease)
    assert revision.judgement.answer == EXPECTED
    assert page.input_value("#work [data-testid=revision-text]") == revision.draft
    wait_for_focus(page, "revision-text")
    screenshot("revision-draft")
    page.keyboard.type(" The brick joints are still visible.")
    page.keyboard.press("Control+Enter")
    page.wait_for_selector("#work [data-testid=work-item]")
    assert page.evaluate("window.__marker") is not None, "the page reloaded"
    revision.refresh_from_db()
    assert revision.status == TextRevision.Status.SAVED
    assert revision.final_text == revision.draft + " The brick joints are still visible."
    assert revision.edit_distance == len(" The brick joints are still visible.") and not revision.accepted_unchanged
    assert revision.time_spent_ms is not None and revision.time_spent_ms > 0


@pytest.fixture
def no_enqueue(monkeypatch):
    """Keep drafts off the broker: the test plays the worker's part."""
    monkeypatch.setattr(llm_draft, "delay", lambda revision_id: None)


def test_a_failed_draft_shows_the_error_and_the_annotator_writes_it(page, live_server, login, project, annotator_member, no_enqueue, screenshot):
    """While drafting the box polls; a failure appears with its message and an empty, focused box; the answers stay saved."""
    work_project(project, kinds=["description"], images=2)
    lease = open_work(page, live_server, login, annotator_member, project)
    answer_questionnaire_by_keyboard(page)
    assert wait_for_next(page, lease) == "revision"
    page.wait_for_selector("#work [data-testid=draft-waiting]")
    revision = TextRevision.objects.get(judgement__lease_id=lease)
    revisions.revision_draft_failed(revision_id=revision.pk, message="The text assistant did not answer in time. Your questionnaire answers are saved; you can write the paragraph yourself.")
    page.wait_for_selector("#work [data-testid=draft-error]")
    assert "did not answer in time" in page.inner_text("#work [data-testid=draft-error]")
    screenshot("revision-failed")
    assert page.input_value("#work [data-testid=revision-text]") == ""
    wait_for_focus(page, "revision-text")
    page.keyboard.press("Control+Enter")  # empty: refused, nothing written
    page.wait_for_selector("#work [data-testid=revision-errors]")
    page.locator("#work [data-testid=revision-text]").focus()
    page.keyboard.type("Mild distortion overall, with severe noise over the bricks.")
    page.keyboard.press("Control+Enter")
    page.wait_for_selector("#work [data-testid=work-item]")
    revision.refresh_from_db()
    assert revision.status == TextRevision.Status.SAVED and revision.edit_distance is None
    assert revision.final_text == "Mild distortion overall, with severe noise over the bricks."
    assert revision.judgement.answer == EXPECTED


def test_write_it_yourself_while_the_draft_is_coming(page, live_server, login, project, annotator_member, no_enqueue):
    """Enter on the focused "Write it yourself" button opens an empty box at once; a draft that comes later changes nothing."""
    work_project(project, kinds=["description"], images=2)
    lease = open_work(page, live_server, login, annotator_member, project)
    answer_questionnaire_by_keyboard(page)
    wait_for_next(page, lease)
    page.wait_for_selector("#work [data-testid=write-own]")
    page.wait_for_function("() => document.activeElement && document.activeElement.dataset.testid === 'write-own'")
    page.keyboard.press("Enter")
    page.wait_for_selector("#work [data-testid=revision-text]")
    wait_for_focus(page, "revision-text")
    page.keyboard.type("My own paragraph about the bricks.")
    page.keyboard.press("Control+Enter")
    page.wait_for_selector("#work [data-testid=work-item]")
    revision = TextRevision.objects.get(judgement__lease_id=lease)
    assert revision.status == TextRevision.Status.SAVED and revision.edit_distance is None
