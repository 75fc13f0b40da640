"""A researcher in headless Chromium: sets a project's annotation up, adds a training item, and reads the judgements."""
import os
import uuid
from datetime import timedelta
from pathlib import Path

import pytest
from django.utils import timezone

from annotation.models import Lease, Project, WorkItem
from annotation.services import queue, work
from tests.factories import MembershipFactory
from tests.work_data import project_images, work_project

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def screenshot(page, tmp_path):
    """`screenshot(name)`: a full-page PNG under $LOUPE_SCREENSHOT_DIR (to look at) or the test's tmp dir."""
    folder = Path(os.environ.get("LOUPE_SCREENSHOT_DIR") or tmp_path)
    folder.mkdir(parents=True, exist_ok=True)
    return lambda name: page.screenshot(path=str(folder / f"{name}.png"), full_page=True)


def test_settings_form_saves_and_reports_errors(page, live_server, login, project, researcher, screenshot):
    """The Annotation tab saves task kinds and numbers through the service, and shows its refusal when they clash."""
    project_images(project, 3)
    login(page, live_server, researcher)
    page.goto(f"{live_server.url}/projects/{project.pk}/")
    page.get_by_role("link", name="Annotation", exact=True).click()
    page.get_by_label("Single-stimulus rating").check()
    page.get_by_label("Pairwise comparison").check()
    page.get_by_label("Annotators per item").fill("2")
    page.get_by_label("Ask for the comparison-reasoning questionnaire after each comparison").check()
    page.get_by_label("Lease length (seconds)").fill("300")
    screenshot("researcher-annotation-settings")
    with page.expect_navigation():
        page.get_by_role("button", name="Save settings").click()
    assert "Saved the annotation settings" in page.locator(".messages").inner_text()
    project.refresh_from_db()
    assert project.task_kinds == ["pair", "rating"]
    assert (project.overlap, project.pair_reasoning, project.lease_seconds) == (2, True, 300)
    assert WorkItem.objects.filter(project=project, kind="rating", purpose="work").count() == 3

    page.get_by_label("Pause after (items in a row)").fill("5")  # below the warning (30): refused
    with page.expect_navigation():
        page.get_by_role("button", name="Save settings").click()
    assert page.get_by_test_id("settings-errors").is_visible()
    assert "The pause must come after the warning" in page.locator("[data-field=fatigue_pause_after]").inner_text()
    assert Project.objects.get(pk=project.pk).fatigue_pause_after == 50


def test_gold_page_adds_a_training_item(page, live_server, login, project, researcher):
    """The Gold & training tab adds an item from an image id with its known answer and feedback, and lists it."""
    images = project_images(project, 2)
    login(page, live_server, researcher)
    page.goto(f"{live_server.url}/projects/{project.pk}/gold/")
    page.get_by_label("Kind").select_option("rating")
    page.get_by_label("Purpose").select_option("training")
    page.get_by_label("Image id").fill(str(images[1].pk))
    page.get_by_label("Known level").select_option("2")
    page.get_by_label("Feedback").fill("Strong noise in the shadows.")
    with page.expect_navigation():
        page.get_by_role("button", name="Add item").click()
    item = WorkItem.objects.get(project=project, purpose="training")
    assert (item.image_id, item.gold_answer) == (images[1].pk, {"level": 2})
    listing = page.get_by_test_id("gold-items").inner_text()
    assert "2 – Poor" in listing and "Strong noise in the shadows." in listing


def test_judgements_page_shows_gold_accuracy_and_answers(page, live_server, login, project, researcher, annotator_member, screenshot):
    """Per-annotator gold accuracy, progress per kind and readable answers; the filter narrows the list."""
    images = work_project(project, kinds=["rating", "pair"], images=3)
    work.gold_item_add(project, kind="rating", image=images[0], gold_answer={"level": 5}, purpose="gold")
    work.gold_item_add(project, kind="rating", image=images[1], gold_answer={"level": 1}, purpose="gold")
    now = timezone.now()
    for level, item in zip([5, 5], WorkItem.objects.filter(project=project, purpose="gold").order_by("id")):
        lease = Lease.objects.create(item=item, annotator=annotator_member, issued_at=now, expires_at=now + timedelta(minutes=5))
        queue.judgement_submit(lease_id=lease.pk, annotator=annotator_member, client_id=uuid.uuid4(), answer={"level": level}, duration_ms=3000)
    other = MembershipFactory(project=project).user
    assignment = queue.assignment_next(project=project, annotator=other)
    answer = {"level": 4} if assignment.lease.item.kind == "rating" else {"choice": "a"}
    queue.judgement_submit(lease_id=assignment.lease.pk, annotator=other, client_id=uuid.uuid4(), answer=answer, duration_ms=8000)

    login(page, live_server, researcher)
    page.goto(f"{live_server.url}/projects/{project.pk}/")
    page.get_by_role("link", name="Judgements", exact=True).click()
    stats = page.get_by_test_id("annotator-stats")
    row = stats.locator(f"tr[data-annotator='{annotator_member.username}']")
    assert row.get_by_test_id("gold-accuracy").inner_text().startswith("50%")  # one of two gold items right (±1 level)
    assert "3.0 s" in row.inner_text()
    assert stats.locator(f"tr[data-annotator='{other.username}'] [data-testid=gold-accuracy]").inner_text() == "—"
    assert page.get_by_test_id("kind-progress").locator("tr[data-kind=rating]").is_visible()
    assert "5 – Excellent" in page.get_by_test_id("judgement-list").inner_text()
    screenshot("researcher-judgements")

    page.get_by_label("Annotator").select_option(str(other.pk))
    with page.expect_navigation():
        page.get_by_role("button", name="Filter").click()
    assert page.get_by_test_id("judgement-list").locator("tbody tr").count() == 1


def test_settings_dropdowns_show_their_options_whole(page, live_server, login, project, researcher):
    """Every dropdown of the Annotation settings is wide enough for its longest option at 1366 px (they were cut
    at 16rem: issue 17, bug 9). Measured with the select's own font; the arrow and padding take the rest."""
    project_images(project, 2)
    page.set_viewport_size({"width": 1366, "height": 900})
    login(page, live_server, researcher)
    page.goto(f"{live_server.url}/projects/{project.pk}/annotation/")
    cut = page.evaluate(
        """() => {
            const context = document.createElement('canvas').getContext('2d');
            const cut = [];
            for (const select of document.querySelectorAll('[data-testid=settings-form] select')) {
                const style = getComputedStyle(select);
                context.font = `${style.fontWeight} ${style.fontSize} ${style.fontFamily}`;
                const room = select.clientWidth - parseFloat(style.paddingLeft) - 24;  // the arrow
                for (const option of select.options) {
                    const width = context.measureText(option.text).width;
                    if (width > room) cut.push(`${select.name}: "${option.text}" ${width.toFixed(0)} > ${room.toFixed(0)}`);
                }
            }
            return cut;
        }"""
    )
    assert page.locator("[data-testid=settings-form] select").count() >= 2
    assert cut == []
