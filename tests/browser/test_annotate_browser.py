"""An annotator in headless Chromium: every task kind by mouse and by keyboard alone, idempotent submits, refused
answers, fatigue and the training round. Each answer must load the next item without a page reload."""
import os
import uuid
from pathlib import Path

import pytest

from annotation.models import Image, Judgement, Lease, Membership, Project, WorkItem
from annotation.services import work
from tests.work_data import work_project

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

MARKER = "set before the first answer"


@pytest.fixture
def screenshot(page, tmp_path):
    """`screenshot(name)`: a full-page PNG under $LOUPE_SCREENSHOT_DIR (to look at) or the test's tmp dir."""
    folder = Path(os.environ.get("LOUPE_SCREENSHOT_DIR") or tmp_path)
    folder.mkdir(parents=True, exist_ok=True)
    return lambda name: page.screenshot(path=str(folder / f"{name}.png"), full_page=True)


def open_work(page, live_server, login, user, project) -> int:
    """Sign in, open the work page, wait for its first item and mark the window; the lease id shown."""
    login(page, live_server, user)
    page.goto(f"{live_server.url}/annotate/{project.pk}/")
    item = page.wait_for_selector("[data-testid=work-item]")
    page.evaluate(f"window.__marker = {MARKER!r}")
    return int(item.get_attribute("data-lease"))


def wait_for_next(page, previous_lease: int) -> str:
    """Wait until #work shows something other than `previous_lease` (a new item or a state); prove no reload happened."""
    page.wait_for_function(
        """previous => {
            const shown = document.querySelector('#work [data-testid=work-item], #work [data-testid=work-state]');
            return shown && shown.dataset.lease !== String(previous);
        }""",
        arg=previous_lease,
    )
    assert page.evaluate("window.__marker") == MARKER, "the page reloaded"
    shown = page.locator("#work > *").first
    return shown.get_attribute("data-lease") or shown.get_attribute("data-state")


def ready_for_enter(page) -> None:
    """Wait until the page takes Enter (it ignores Enter for a moment after an item appears: a double Enter)."""
    page.wait_for_function("() => window.loupeWork && window.loupeWork.acceptsEnter()")


def press_keys(page, *keys: str) -> None:
    for key in keys:
        page.keyboard.press(key)


def tab_to(page, selector: str, limit: int = 120) -> None:
    """Press Tab until the focused element matches `selector` (keyboard only, as a person would)."""
    for _ in range(limit):
        if page.evaluate("s => document.activeElement && document.activeElement.matches(s)", selector):
            return
        page.keyboard.press("Tab")
    raise AssertionError(f"Tab never reached {selector}")


def option(page, row: str, label: str):
    return page.locator(f"#work fieldset[data-row={row}] label.opt", has_text=label)


def judgement_for(lease_id: int) -> Judgement:
    return Judgement.objects.get(lease_id=lease_id)


# ------------------------------------------------------------------------------------------------ rating


def test_rating_by_mouse(page, live_server, login, project, annotator_member, screenshot):
    """Clicking a level button and Submit stores that level and swaps in the next item."""
    work_project(project, kinds=["rating"], images=2)
    lease = open_work(page, live_server, login, annotator_member, project)
    assert page.locator("#work input[type=number]").count() == 0
    screenshot("annotate-rating")
    option(page, "level", "Good").click()
    page.locator("#work [data-submit]").click()
    wait_for_next(page, lease)
    judgement = judgement_for(lease)
    assert judgement.level == 4 and judgement.answer == {"level": 4}
    assert judgement.duration_ms is not None and judgement.duration_ms > 0


def test_rating_by_keyboard_with_zoom(page, live_server, login, project, annotator_member):
    """Z opens and closes the full-resolution view; 2 then Enter rates the item; the client id is the page's own."""
    work_project(project, kinds=["rating"], images=2)
    lease = open_work(page, live_server, login, annotator_member, project)
    client_id = page.input_value("#work input[name=client_id]")
    page.keyboard.press("z")
    page.wait_for_selector("#zoom[open] img")
    # The full file (not a thumbnail), by the item's own opaque URL, loaded for the signed-in annotator.
    zoomed = page.locator("#zoom img")
    assert zoomed.evaluate("img => new URL(img.src).pathname") == page.locator("#work img").first.get_attribute("data-full")
    assert zoomed.evaluate("img => img.decode().then(() => img.naturalWidth)") == Lease.objects.get(pk=lease).item.image.width
    page.keyboard.press("z")
    page.wait_for_selector("#zoom:not([open])", state="attached")
    page.keyboard.press("2")
    assert page.locator("#work input[name=level][value='2']").is_checked()
    ready_for_enter(page)
    page.keyboard.press("Enter")
    next_lease = wait_for_next(page, lease)
    judgement = judgement_for(lease)
    assert judgement.level == 2
    assert str(judgement.client_id) == client_id
    # The next item's id is a new one, made in the browser (localhost is a secure context).
    assert page.input_value("#work input[name=client_id]") != client_id
    assert next_lease != str(lease)


# ----------------------------------------------------------------------------------------------- pathway


def test_pathway_by_mouse_with_helper_words(page, live_server, login, project, annotator_member, screenshot):
    """The attribute chips insert words into the description; both texts and the optional level are stored."""
    work_project(project, kinds=["pathway"], images=2)
    lease = open_work(page, live_server, login, annotator_member, project)
    description = page.locator("#pathway-description")
    description.click()
    page.locator("#work .chip", has_text="the left part").click()
    description.press_sequentially("is soft with visible")
    page.locator("#work .chip", has_text="motion blur").click()
    description.press_sequentially("and some noise in the shadows")
    page.locator("#pathway-conclusion").fill("Overall the quality is fair.")
    option(page, "level", "Fair").click()
    screenshot("annotate-pathway")
    page.locator("#work [data-submit]").click()
    wait_for_next(page, lease)
    answer = judgement_for(lease).answer
    assert answer["description"] == "the left part is soft with visible motion blur and some noise in the shadows"
    assert answer["conclusion"] == "Overall the quality is fair."
    assert answer["level"] == 3


def test_pathway_by_keyboard(page, live_server, login, project, annotator_member):
    """Tab into the text boxes, type, Tab to the level and press 2 (digits typed in a box stay text), Enter submits."""
    work_project(project, kinds=["pathway"], images=2)
    lease = open_work(page, live_server, login, annotator_member, project)
    tab_to(page, "#pathway-description")
    page.keyboard.type("Strong blur over the whole frame, 2 bright areas are overexposed.")
    tab_to(page, "#pathway-conclusion")
    page.keyboard.type("Poor quality overall.")
    tab_to(page, "#work input[name=level]")
    page.keyboard.press("2")
    ready_for_enter(page)
    page.keyboard.press("Enter")
    wait_for_next(page, lease)
    answer = judgement_for(lease).answer
    assert answer == {
        "description": "Strong blur over the whole frame, 2 bright areas are overexposed.",
        "conclusion": "Poor quality overall.",
        "level": 2,
    }


def test_ctrl_enter_submits_from_a_text_box(page, live_server, login, project, annotator_member):
    """Inside a text box Enter is a new line, Ctrl+Enter submits."""
    work_project(project, kinds=["pathway"], images=1)
    lease = open_work(page, live_server, login, annotator_member, project)
    tab_to(page, "#pathway-description")
    page.keyboard.type("Noise everywhere, colours washed out, edges smeared.")
    page.keyboard.press("Enter")
    page.keyboard.type("The sky is banded.")
    tab_to(page, "#pathway-conclusion")
    page.keyboard.type("Bad quality overall.")
    ready_for_enter(page)
    page.keyboard.press("Control+Enter")
    wait_for_next(page, lease)
    assert judgement_for(lease).answer["description"] == "Noise everywhere, colours washed out, edges smeared.\nThe sky is banded."


def test_refused_answer_shows_the_message_keeps_the_text_and_writes_nothing(page, live_server, login, project, annotator_member):
    """A too-short description comes back with a clear message and the typed text; the fix is then one judgement."""
    work_project(project, kinds=["pathway"], images=2)
    lease = open_work(page, live_server, login, annotator_member, project)
    page.locator("#pathway-description").fill("blurry")
    page.locator("#pathway-conclusion").fill("Poor overall quality.")
    client_id = page.input_value("#work input[name=client_id]")
    page.locator("#work [data-submit]").click()
    page.wait_for_selector("#work [data-testid=form-errors]")
    assert "at least 40 characters" in page.locator("#work").inner_text()
    assert page.input_value("#pathway-description") == "blurry"
    assert page.input_value("#work input[name=client_id]") == client_id
    assert not Judgement.objects.exists()
    assert page.evaluate("window.__marker") == MARKER
    page.locator("#pathway-description").fill("blurry everywhere, strong noise in the dark areas of the frame")
    page.locator("#work [data-submit]").click()
    wait_for_next(page, lease)
    assert Judgement.objects.count() == 1
    assert str(judgement_for(lease).client_id) == client_id


# ------------------------------------------------------------------------------------------- description


@pytest.fixture
def description_project(project, annotator_member):
    images = work_project(project, kinds=["description"], images=3)
    Image.objects.filter(pk__in=[images[0].pk, images[1].pk]).update(reference=images[2])
    return project


DESCRIPTION_EXPECTED = {
    "texture_category": "bricks",
    "texture_condition": "barely",
    "distortions": {"brightness": "undistorted", "color": "mild", "noise": "severe", "artifacts": "undistorted", "blurriness": "mild"},
    "overall": "mild",
}


def test_description_by_mouse_with_reference(page, live_server, login, description_project, annotator_member, screenshot):
    """Clicking one option per row fills DepictQA's questionnaire; the reference image is shown beside the image."""
    lease = open_work(page, live_server, login, annotator_member, description_project)
    item_image = Lease.objects.select_related("item__image").get(pk=lease).item.image
    if item_image.reference_id:
        assert page.locator("#work [data-testid=reference-image]").is_visible()
    screenshot("annotate-description")
    option(page, "texture_category", "Bricks").click()
    option(page, "texture_condition", "Barely").click()
    for name, value in [("brightness", "Undistorted"), ("color", "Mild"), ("noise", "Severe"), ("artifacts", "Undistorted"), ("blurriness", "Mild")]:
        option(page, f"distortion_{name}", value).click()
    option(page, "overall", "Mild distortion").click()
    page.locator("#work [data-submit]").click()
    wait_for_next(page, lease)
    assert judgement_for(lease).answer == DESCRIPTION_EXPECTED


def test_description_by_keyboard_rows(page, live_server, login, description_project, annotator_member):
    """Digits pick an option of the highlighted row and move on; ↑ goes back to change an answer."""
    lease = open_work(page, live_server, login, annotator_member, description_project)
    assert page.locator("#work fieldset.qrow.current").get_attribute("data-row") == "texture_category"
    press_keys(page, "2", "1")  # bricks, then "clearly identifiable" (changed below)
    press_keys(page, "1", "2", "3", "1", "2", "2")  # five distortions, overall
    assert page.locator("#work fieldset.qrow.current").get_attribute("data-row") == "overall"
    press_keys(page, *["ArrowUp"] * 6)
    assert page.locator("#work fieldset.qrow.current").get_attribute("data-row") == "texture_condition"
    page.keyboard.press("2")  # barely identifiable
    ready_for_enter(page)
    page.keyboard.press("Enter")
    wait_for_next(page, lease)
    assert judgement_for(lease).answer == DESCRIPTION_EXPECTED


def test_incomplete_questionnaire_marks_the_missing_rows(page, live_server, login, description_project, annotator_member):
    """Submitting with rows unanswered keeps the answers given, marks the others and writes nothing."""
    lease = open_work(page, live_server, login, annotator_member, description_project)
    press_keys(page, "2", "1")
    ready_for_enter(page)
    page.keyboard.press("Enter")
    page.wait_for_selector("#work [data-testid=form-errors]")
    assert page.locator("#work fieldset.qrow.has-error").count() == 6
    assert page.locator("#work input[name=texture_category][value=bricks]").is_checked()
    assert page.locator("#work fieldset.qrow.current").get_attribute("data-row") == "distortion_brightness"
    assert not Judgement.objects.exists()
    assert int(page.get_attribute("#work [data-testid=work-item]", "data-lease")) == lease


# ------------------------------------------------------------------------------------------------- pairs


def _expected_item_choice(lease_id: int, screen_choice: str) -> str:
    swap = Lease.objects.get(pk=lease_id).swap
    return {"a": "b", "b": "a", "tie": "tie"}[screen_choice] if swap else screen_choice


def test_pair_by_mouse(page, live_server, login, project, annotator_member, screenshot):
    """Clicking "A (left) is better" stores the item's image that was on the left."""
    work_project(project, kinds=["pair"], images=3)
    lease = open_work(page, live_server, login, annotator_member, project)
    assert page.locator("#work [data-testid=image-a]").is_visible() and page.locator("#work [data-testid=image-b]").is_visible()
    assert page.locator("#work [data-testid=reference-image]").count() == 0  # these images have no reference
    screenshot("annotate-pair")
    page.locator("#work label.opt", has_text="A (left) is better").click()
    page.locator("#work [data-submit]").click()
    wait_for_next(page, lease)
    assert judgement_for(lease).choice == _expected_item_choice(lease, "a")


def test_pair_shows_the_reference_both_images_share(page, live_server, login, project, annotator_member, screenshot):
    """Two distorted versions of one reference: the reference is shown, loaded, above A and B (DepictQA Tasks 2-3)."""
    images = work_project(project, kinds=["pair"], images=3)
    Image.objects.filter(pk__in=[images[0].pk, images[1].pk]).update(reference=images[2])
    WorkItem.objects.filter(project=project, kind="pair").exclude(image=images[0], image_b=images[1]).update(retired=True)
    lease = open_work(page, live_server, login, annotator_member, project)
    reference = page.locator("#work [data-testid=reference-image]")
    assert reference.is_visible() and "Reference" in reference.inner_text()
    page.wait_for_function("() => document.querySelector('#work [data-testid=reference-image] img').naturalWidth > 0")
    assert reference.bounding_box()["y"] < page.locator("#work [data-testid=image-a]").bounding_box()["y"]
    screenshot("annotate-pair-reference")
    page.keyboard.press("ArrowLeft")
    ready_for_enter(page)
    page.keyboard.press("Enter")
    wait_for_next(page, lease)
    assert judgement_for(lease).choice == _expected_item_choice(lease, "a")


def test_pair_by_keyboard_right_arrow(page, live_server, login, project, annotator_member):
    """→ chooses the right image, Enter submits; the left/right position is recorded."""
    work_project(project, kinds=["pair"], images=3)
    lease = open_work(page, live_server, login, annotator_member, project)
    page.keyboard.press("ArrowRight")
    assert page.locator("#work input[name=choice][value=b]").is_checked()
    ready_for_enter(page)
    page.keyboard.press("Enter")
    wait_for_next(page, lease)
    judgement = judgement_for(lease)
    assert judgement.choice == _expected_item_choice(lease, "b")
    assert judgement.swap == Lease.objects.get(pk=lease).swap


def test_pair_with_reasoning_by_keyboard(page, live_server, login, project, annotator_member, screenshot):
    """T (tie) reveals the comparison questionnaire; its rows are answered with digits; the answer is stored in item terms."""
    work_project(project, kinds=["pair"], images=3, pair_reasoning=True)
    lease = open_work(page, live_server, login, annotator_member, project)
    assert page.locator("#work [data-reasoning]").is_hidden()
    page.keyboard.press("t")
    page.wait_for_selector("#work [data-reasoning]:not([hidden])")
    assert page.locator("#work fieldset.qrow.current").get_attribute("data-row") == "r_texture_category"
    press_keys(page, "9", "1", "2")  # sky or clouds; texture of A clear, of B barely
    press_keys(page, "1", "3", "3", "3", "5")  # A much less bright-distorted … A much more blurred
    press_keys(page, "2")  # A slightly better
    screenshot("annotate-pair-reasoning")
    ready_for_enter(page)
    page.keyboard.press("Enter")
    wait_for_next(page, lease)
    judgement = judgement_for(lease)
    screen = {
        "choice": "tie",
        "reasoning": {
            "texture_category": "sky_clouds", "texture_a": "clear", "texture_b": "barely",
            "distortions": {"brightness": "a_much_less", "color": "equal", "noise": "equal", "artifacts": "equal", "blurriness": "a_much_more"},
            "overall": "a_slightly_better",
        },
    }
    from annotation.services.answers import answer_for_screen

    assert answer_for_screen(kind="pair", answer=judgement.answer, swap=judgement.swap) == screen


def test_pair_with_reasoning_by_mouse(page, live_server, login, project, annotator_member):
    """Clicking B reveals the questionnaire; clicking through it and Submit stores both parts."""
    work_project(project, kinds=["pair"], images=3, pair_reasoning=True, pair_allow_tie=False)
    lease = open_work(page, live_server, login, annotator_member, project)
    assert page.locator("#work [data-pair-choice] label.opt", has_text="Hard to decide").count() == 0
    page.locator("#work label.opt", has_text="B (right) is better").click()
    option(page, "r_texture_category", "Faces").click()
    option(page, "r_texture_a", "Completely damaged").click()
    option(page, "r_texture_b", "Clearly").click()
    for name in ["brightness", "color", "noise", "artifacts", "blurriness"]:
        option(page, f"r_distortion_{name}", "A much worse").click()
    option(page, "r_overall", "A is worse than B").click()
    page.locator("#work [data-submit]").click()
    wait_for_next(page, lease)
    judgement = judgement_for(lease)
    assert judgement.choice == _expected_item_choice(lease, "b")
    assert judgement.answer["reasoning"]["texture_category"] == "faces"


def test_pair_overall_contradicting_the_choice_is_refused(page, live_server, login, project, annotator_member):
    """B chosen, then "A is better than B" overall: the form comes back with the message on the overall row, nothing
    stored; making them agree stores the answer."""
    work_project(project, kinds=["pair"], images=3, pair_reasoning=True, pair_allow_tie=False)
    lease = open_work(page, live_server, login, annotator_member, project)
    page.locator("#work label.opt", has_text="B (right) is better").click()
    option(page, "r_texture_category", "Faces").click()
    option(page, "r_texture_a", "Clearly").click()
    option(page, "r_texture_b", "Clearly").click()
    for name in ["brightness", "color", "noise", "artifacts", "blurriness"]:
        option(page, f"r_distortion_{name}", "About equal").click()
    option(page, "r_overall", "A is better than B").click()
    page.locator("#work [data-submit]").click()
    page.wait_for_selector("#work [data-testid=form-errors]")
    overall_row = page.locator("#work fieldset[data-row=r_overall]")
    assert "has-error" in overall_row.get_attribute("class")
    assert "You chose “B (right) is better” but answered “A is better than B” overall" in overall_row.inner_text()
    assert not Judgement.objects.exists()
    assert page.evaluate("window.__marker") == MARKER
    option(page, "r_overall", "A is worse than B").click()
    page.locator("#work [data-submit]").click()
    wait_for_next(page, lease)
    assert judgement_for(lease).answer["reasoning"]["overall"] == ("a_better" if Lease.objects.get(pk=lease).swap else "a_worse")


# ------------------------------------------------------------------------------------------ idempotency


def test_double_click_creates_one_judgement(page, live_server, login, project, annotator_member):
    """A double click on Submit sends the answer once (button disabled, same client id): one judgement."""
    work_project(project, kinds=["rating"], images=3)
    lease = open_work(page, live_server, login, annotator_member, project)
    option(page, "level", "Poor").click()
    page.locator("#work [data-submit]").dblclick()
    wait_for_next(page, lease)
    page.wait_for_timeout(500)  # let a second request, had there been one, arrive
    assert Judgement.objects.filter(annotator=annotator_member).count() == 1
    assert page.locator("#work [data-testid=form-errors]").count() == 0


def test_double_enter_creates_one_judgement(page, live_server, login, project, annotator_member):
    """Enter pressed twice in a row submits once; the second press neither answers nor complains about the next item."""
    work_project(project, kinds=["rating"], images=3)
    lease = open_work(page, live_server, login, annotator_member, project)
    page.keyboard.press("5")
    ready_for_enter(page)
    page.keyboard.press("Enter")
    page.keyboard.press("Enter")
    wait_for_next(page, lease)
    page.wait_for_timeout(500)
    assert Judgement.objects.filter(annotator=annotator_member).count() == 1
    assert page.locator("#work [data-testid=form-errors]").count() == 0


def test_skip_gives_the_item_back(page, live_server, login, project, annotator_member):
    """"Skip this item" releases the lease and shows another item, without a reload and without a console error
    (it once inherited the form's `hx-disabled-elt` selector, which finds no submit button inside Skip: issue 17, bug 6)."""
    errors = []
    page.on("console", lambda message: errors.append(message.text) if message.type == "error" else None)
    work_project(project, kinds=["rating"], images=3)
    lease = open_work(page, live_server, login, annotator_member, project)
    page.locator("#work [data-testid=skip]").click()
    wait_for_next(page, lease)
    assert Lease.objects.get(pk=lease).status == Lease.Status.RELEASED
    assert not Judgement.objects.exists()
    assert errors == []


# ------------------------------------------------------------------------------------------------ fatigue


def test_fatigue_warning_then_a_server_enforced_pause(page, live_server, login, project, annotator_member, screenshot):
    """After `fatigue_warn_after` items a banner warns; after `fatigue_pause_after` the server stops handing out work."""
    work_project(project, kinds=["rating"], images=5, fatigue_warn_after=1, fatigue_pause_after=2, fatigue_break_minutes=15)
    lease = open_work(page, live_server, login, annotator_member, project)
    assert page.locator("#work [data-testid=fatigue-warning]").count() == 0
    page.keyboard.press("3")
    ready_for_enter(page)
    page.keyboard.press("Enter")
    second = int(wait_for_next(page, lease))
    assert page.locator("#work [data-testid=fatigue-warning]").is_visible()
    screenshot("annotate-fatigue-warning")
    page.keyboard.press("3")
    ready_for_enter(page)
    page.keyboard.press("Enter")
    assert wait_for_next(page, second) == "paused"
    assert page.locator("#work [data-testid=paused-until]").is_visible()
    screenshot("annotate-paused")
    # Enforced by the server: asking again (a reload) gives no new lease.
    page.reload()
    page.wait_for_selector("#work [data-testid=work-state][data-state=paused]")
    assert Lease.objects.filter(annotator=annotator_member).count() == 2


# ----------------------------------------------------------------------------------------------- training


def test_training_round_with_feedback_then_work(page, live_server, login, project, annotator_member, screenshot):
    """Training first: examples per level, an item, feedback (right/wrong, expected, why), the result, then work."""
    images = work_project(project, kinds=["rating"], images=4, training_required=True, training_pass_mark=0.5)
    work.gold_item_add(project, kind="rating", image=images[0], gold_answer={"level": 1}, purpose="training",
                       feedback="Heavy blur hides every edge.")
    work.gold_item_add(project, kind="rating", image=images[1], gold_answer={"level": 5}, purpose="training",
                       feedback="Sharp, clean and well exposed.")
    login(page, live_server, annotator_member)
    page.goto(f"{live_server.url}/annotate/{project.pk}/")
    page.wait_for_selector("#work [data-testid=work-state][data-state=training_required]")
    page.keyboard.press("Enter")  # the "Go to the training round" link has the focus
    page.wait_for_url(f"**/annotate/{project.pk}/training/")
    examples = page.get_by_test_id("level-examples")
    assert "Heavy blur hides every edge." in examples.inner_text()
    assert examples.locator("[data-level='5'] img").count() == 1
    screenshot("training-examples")

    page.keyboard.press("Enter")  # Start training (focused)
    page.wait_for_selector("#work [data-testid=work-item][data-training]")
    page.keyboard.press("1")
    ready_for_enter(page)
    page.keyboard.press("Enter")
    feedback = page.wait_for_selector("#work [data-testid=training-feedback]")
    assert feedback.get_attribute("data-correct") == "true"
    assert "Heavy blur hides every edge." in feedback.inner_text()

    ready_for_enter(page)
    page.keyboard.press("Enter")  # Next item
    page.wait_for_selector("#work [data-testid=work-item][data-training]")
    page.keyboard.press("2")  # wrong: the answer is 5
    ready_for_enter(page)
    page.keyboard.press("Enter")
    feedback = page.wait_for_selector("#work [data-testid=training-feedback]")
    assert feedback.get_attribute("data-correct") == "false"
    assert "5 – Excellent" in page.get_by_test_id("expected-answer").inner_text()
    screenshot("training-feedback")

    ready_for_enter(page)
    page.keyboard.press("Enter")  # See the result
    result = page.wait_for_selector("#work [data-testid=training-result]")
    assert result.get_attribute("data-passed") == "true"
    assert Membership.objects.get(project=project, user=annotator_member).training_passed_at is not None
    page.keyboard.press("Enter")  # Go to work
    page.wait_for_url(f"**/annotate/{project.pk}/")
    page.wait_for_selector("#work [data-testid=work-item]:not([data-training])")
    assert Judgement.objects.filter(annotator=annotator_member, training_attempt=1).count() == 2


def test_annotator_home_leads_to_work(page, live_server, login, project, annotator_member):
    """Home shows the project's progress and Start opens the work page."""
    work_project(project, kinds=["rating"], images=2)
    login(page, live_server, annotator_member)
    page.goto(f"{live_server.url}/annotate/")
    card = page.get_by_test_id("project-card")
    assert "0 done · 2 left" in card.inner_text()
    card.get_by_role("link", name="Start").click()
    page.wait_for_selector("#work [data-testid=work-item]")
    assert Project.objects.get(pk=project.pk).name in page.locator("h1").inner_text()
    uuid.UUID(page.input_value("#work input[name=client_id]"))
