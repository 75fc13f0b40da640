"""In headless Chromium: a crowd participant comes in by the public link, trains, works and leaves with the code;
the S and U keys; the pathway's focus, typing guard and one-Tab-stop helper words; and what is on screen at 1366x900."""
import numpy as np
import pytest

from annotation.models import Image, Judgement, Lease, WorkItem
from annotation.services import work
from annotation.services.imports import image_import
from crowd.models import CrowdJudgement, CrowdParticipant
from crowd.services import crowd_link_update
from tests.browser.test_annotate_browser import MARKER, judgement_for, open_work, ready_for_enter, wait_for_next
from tests.factories import image_bytes
from tests.work_data import work_project

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

PID = "5f8a9c0b1d2e3f4a5b6c7d8e"


def _answer_training_item(page) -> None:
    """Answer the shown training item right (its known level) by keyboard, then go on from the feedback."""
    item = page.wait_for_selector("#work [data-testid=work-item][data-training]")
    level = Lease.objects.select_related("item").get(pk=int(item.get_attribute("data-lease"))).item.gold_answer["level"]
    page.keyboard.press(str(level))
    ready_for_enter(page)
    page.keyboard.press("Enter")
    feedback = page.wait_for_selector("#work [data-testid=training-feedback]")
    assert feedback.get_attribute("data-correct") == "true"
    ready_for_enter(page)  # the page ignores Enter for a moment after new content appears
    page.keyboard.press("Enter")  # next item, or the result


def test_crowd_participant_enters_trains_works_and_gets_the_code(page, live_server, project):
    """Prolific link -> Start -> training (passed) -> two items by keyboard -> completion code; ids kept per judgement."""
    images = work_project(project, kinds=["rating"], images=5, training_required=True, training_pass_mark=0.5)
    work.gold_item_add(project, kind="rating", image=images[0], gold_answer={"level": 1}, purpose="training", feedback="Heavy blur.")
    work.gold_item_add(project, kind="rating", image=images[1], gold_answer={"level": 5}, purpose="training", feedback="Clean.")
    link = crowd_link_update(project=project, enabled=True, platform="prolific", items_required=2, completion_code="C0MPL3TE")
    page.goto(f"{live_server.url}/crowd/{link.token}/?PROLIFIC_PID={PID}&STUDY_ID=st1&SESSION_ID=se1")
    assert page.get_by_test_id("crowd-worker-id").inner_text() == PID
    with page.expect_navigation():
        page.get_by_test_id("crowd-start").click()
    page.wait_for_url(f"**/annotate/{project.pk}/training/")
    page.keyboard.press("Enter")  # Start training (focused)
    _answer_training_item(page)
    _answer_training_item(page)
    result = page.wait_for_selector("#work [data-testid=training-result]")
    assert result.get_attribute("data-passed") == "true"
    page.keyboard.press("Enter")  # Go to work
    page.wait_for_url(f"**/annotate/{project.pk}/")
    for level in ("4", "2"):
        item = page.wait_for_selector("#work [data-testid=work-item]:not([data-training])")
        lease = int(item.get_attribute("data-lease"))
        page.keyboard.press(level)
        ready_for_enter(page)
        page.keyboard.press("Enter")
        page.wait_for_function("lease => !document.querySelector(`#work [data-lease='${lease}']`)", arg=lease)
    code = page.wait_for_selector("#work [data-testid=completion-code]")
    assert code.inner_text() == "C0MPL3TE"
    participant = CrowdParticipant.objects.get()
    assert participant.worker_id == PID and participant.completed_at is not None
    ids = list(CrowdJudgement.objects.filter(participant=participant).values_list("platform_ids", flat=True))
    assert ids == [{"platform": "prolific", "worker_id": PID, "study_id": "st1", "session_id": "se1"}] * 4  # training too
    assert Judgement.objects.filter(annotator=participant.user, training_attempt__isnull=True).count() == 2


def test_s_skips_and_u_undoes_the_last_answer(page, live_server, login, project, annotator_member):
    """S gives the item back; after an answer, U brings that item back (the judgement is gone) to answer again."""
    work_project(project, kinds=["rating"], images=4)
    skipped = open_work(page, live_server, login, annotator_member, project)
    ready_for_enter(page)  # new content takes keys once htmx has settled it (the same grace as Enter)
    page.keyboard.press("s")
    answered = int(wait_for_next(page, skipped))
    assert Lease.objects.get(pk=skipped).status == Lease.Status.RELEASED
    page.keyboard.press("3")
    ready_for_enter(page)
    page.keyboard.press("Enter")
    wait_for_next(page, answered)
    assert judgement_for(answered).level == 3
    ready_for_enter(page)
    page.keyboard.press("u")
    page.wait_for_selector(f"#work [data-testid=work-item][data-lease='{answered}']")
    assert "taken back" in page.get_by_test_id("notice").inner_text()
    assert not Judgement.objects.filter(lease_id=answered).exists()
    page.keyboard.press("5")
    ready_for_enter(page)
    page.keyboard.press("Enter")
    wait_for_next(page, answered)
    assert judgement_for(answered).level == 5
    assert Judgement.objects.count() == 1
    assert page.evaluate("window.__marker") == MARKER


def test_pathway_focus_guard_and_one_tab_stop_for_the_chips(page, live_server, login, project, annotator_member):
    """Focus starts in the first box; digits and Enter before typing pick the level / do nothing; the 36 helper
    words are one Tab stop with arrow keys inside; after a submit the next item's box has the focus again."""
    work_project(project, kinds=["pathway"], images=3)
    lease = open_work(page, live_server, login, annotator_member, project)
    page.wait_for_function("() => document.activeElement && document.activeElement.id === 'pathway-description'")
    page.keyboard.press("3")
    page.keyboard.press("Enter")
    assert page.input_value("#pathway-description") == ""
    assert page.locator("#work input[name=level][value='3']").is_checked()
    assert not Judgement.objects.exists()
    page.keyboard.type("Strong blur over the whole frame, 2 bright areas are overexposed at")
    assert page.locator("#work [data-roving] [data-insert]").count() == 36
    assert page.locator("#work [data-roving] [tabindex='0']").count() == 1
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.dataset.insert") == "blur"
    page.keyboard.press("ArrowRight")
    page.keyboard.press("ArrowRight")
    assert page.evaluate("document.activeElement.dataset.insert") == "out of focus"
    page.keyboard.press("End")
    assert page.evaluate("document.activeElement.dataset.insert") == "edges"
    page.keyboard.press("Enter")  # inserts the word where the annotator was typing, and goes back there
    assert page.input_value("#pathway-description").endswith("overexposed at edges ")
    page.keyboard.press("Tab")  # one stop for all the words: back on the (last used) word
    assert page.evaluate("document.activeElement.dataset.insert") == "edges"
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.id") == "pathway-conclusion"
    page.keyboard.type("Poor quality overall.")
    ready_for_enter(page)
    page.keyboard.press("Control+Enter")
    next_lease = wait_for_next(page, lease)
    assert judgement_for(lease).answer["level"] == 3
    page.wait_for_function("() => document.activeElement && document.activeElement.id === 'pathway-description'")
    page.keyboard.press("4")
    page.keyboard.press("Enter")
    assert page.input_value("#pathway-description") == ""
    assert page.locator("#work form input[name=lease_id]").input_value() == next_lease
    page.keyboard.press("Escape")  # out of the box: S skips
    page.keyboard.press("s")
    wait_for_next(page, int(next_lease))


def _on_screen(page, selector: str) -> None:
    """Every element matching `selector` lies inside the 1366x900 viewport (as scrolled now)."""
    boxes = page.locator(selector).evaluate_all(
        "els => els.map(el => { const r = el.getBoundingClientRect(); return [r.top, r.bottom, r.left, r.right]; })"
    )
    assert boxes, selector
    for top, bottom, left, right in boxes:
        assert 0 <= top and bottom <= 900 and 0 <= left and right <= 1366, (selector, top, bottom, left, right)


def _big_images(project, count: int, size) -> list[Image]:
    return [image_import(project=project, name=f"big_{n}.png", data=image_bytes(size=size, color=(40 * n, 90, 140), seed=n)).image
            for n in range(count)]


def test_pair_buttons_and_training_items_fit_1366x900(page, live_server, login, project, annotator_member):
    """Portrait pairs: both images and the answer buttons are on screen; on the training page, below five levels of
    examples, the training item and its level buttons are scrolled into view."""
    page.set_viewport_size({"width": 1366, "height": 900})
    images = _big_images(project, 3, (900, 1200))
    work.project_settings_update(project, task_kinds=["pair", "rating"], training_required=True, gold_rate=0.0, overlap=1, training_pass_mark=0.5)
    for level, image in zip((1, 3, 5), images):
        work.gold_item_add(project, kind="rating", image=image, gold_answer={"level": level}, purpose="training", feedback=f"Level {level}.")
    login(page, live_server, annotator_member)
    page.goto(f"{live_server.url}/annotate/{project.pk}/training/")
    page.get_by_test_id("training-start").click()
    page.wait_for_selector("#work [data-testid=work-item][data-training]")
    page.wait_for_function("() => document.querySelector('#work img').complete")
    page.wait_for_timeout(300)  # the smooth scroll, if any
    _on_screen(page, "#work fieldset[data-row=level] label.opt")
    _on_screen(page, "#work [data-submit]")

    work.project_settings_update(project, task_kinds=["pair"], training_required=False)
    work.pairs_generate(project, count=3, rng=np.random.default_rng(0))
    page.goto(f"{live_server.url}/annotate/{project.pk}/")
    page.wait_for_selector("#work [data-pair-choice]")
    page.wait_for_function("() => [...document.querySelectorAll('#work img')].every(img => img.complete && img.naturalWidth)")
    _on_screen(page, "#work [data-pair-choice] label.opt")
    _on_screen(page, "#work [data-testid=image-a] img")
    _on_screen(page, "#work [data-testid=image-b] img")
    assert page.evaluate("window.scrollY") == 0  # it fits without scrolling
    assert WorkItem.objects.filter(kind="pair").exists()
