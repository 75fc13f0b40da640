"""A researcher in headless Chromium opens a project's quality dashboard, sees its plots, excludes an annotator and restores them."""
import os
from pathlib import Path

import pytest

from annotation.models import ExclusionEvent, Judgement, Membership
from annotation.vocabulary import TaskKind
from evaluation.services import project_scale
from tests.evaluation.judgement_builders import annotators_make, images_make, judgements_add
from tests.factories import ProjectFactory, ResearcherFactory

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def screenshot(page, tmp_path):
    """`screenshot(name)`: a full-page PNG under $LOUPE_SCREENSHOT_DIR (to look at) or the test's tmp dir."""
    folder = Path(os.environ.get("LOUPE_SCREENSHOT_DIR") or tmp_path)
    folder.mkdir(parents=True, exist_ok=True)
    return lambda name: page.screenshot(path=str(folder / f"{name}.png"), full_page=True)


def test_dashboard_plots_and_the_exclude_restore_round_trip(page, live_server, login, screenshot):
    """Five SVG plots render; Exclude with a reason marks the annotator and logs it; Restore undoes it, also logged."""
    researcher = ResearcherFactory(username="quinn")
    project = ProjectFactory(created_by=researcher, name="Noise panel")
    images = images_make(project, 6)
    steady, wild = annotators_make(project, 2)
    judgements_add(project, [(image, 1 + i % 5) for i, image in enumerate(images)], [steady], kind=TaskKind.RATING)
    judgements_add(project, [(image, 5 - i % 5) for i, image in enumerate(images)], [wild], kind=TaskKind.RATING)
    judgements_add(project, [(a, b, "a") for a, b in zip(images[:-1], images[1:])], [steady, wild])
    project_scale(project)

    login(page, live_server, researcher)
    page.goto(f"{live_server.url}/projects/{project.pk}/")
    page.get_by_role("link", name="Quality", exact=True).click()
    page.wait_for_url(f"**/projects/{project.pk}/quality/")
    for testid in ("plot-progress", "plot-agreement", "plot-gold", "plot-scores", "plot-critic"):
        plot = page.get_by_test_id(testid).locator("svg")
        assert plot.is_visible() and plot.bounding_box()["width"] > 300, testid
    assert page.get_by_test_id("plot-scores").locator("rect.bar").count() == 20  # the histogram's bins
    assert page.get_by_test_id("plot-progress").locator("polyline.series").count() == 0  # one day: points, no lines
    assert page.get_by_test_id("plot-progress").locator("circle").count() == 2  # pair and rating

    row = page.locator(f"tr[data-annotator='{wild.username}']")
    row.get_by_label(f"Reason for {wild.username}").fill("rates against the panel")
    with page.expect_navigation():
        row.get_by_role("button", name="Exclude").click()
    assert "is excluded from scores" in page.locator(".messages").inner_text()
    screenshot("quality-dashboard-excluded")
    row = page.locator(f"tr[data-annotator='{wild.username}']")
    assert row.get_by_test_id("excluded-badge").is_visible()
    assert "rates against the panel" in page.get_by_test_id("exclusion-log").inner_text()
    assert Membership.objects.get(project=project, user=wild).excluded
    assert not Judgement.objects.filter(annotator=wild, excluded=False).exists()

    row.get_by_label(f"Reason for {wild.username}").fill("checked by hand: fine")
    with page.expect_navigation():
        row.get_by_role("button", name="Restore").click()
    assert "is restored to scores" in page.locator(".messages").inner_text()
    assert page.locator(f"tr[data-annotator='{wild.username}']").get_by_test_id("excluded-badge").count() == 0
    log = page.get_by_test_id("exclusion-log").inner_text()
    assert "checked by hand: fine" in log and "rates against the panel" in log
    assert not Judgement.objects.filter(annotator=wild, excluded=True).exists()
    assert list(ExclusionEvent.objects.order_by("id").values_list("action", flat=True)) == ["exclude", "restore"]


def test_an_empty_reason_is_stopped_in_the_browser(page, live_server, login):
    """The reason box is required: clicking Exclude without one submits nothing."""
    researcher = ResearcherFactory(username="rory")
    project = ProjectFactory(created_by=researcher)
    (annotator,) = annotators_make(project, 1)
    login(page, live_server, researcher)
    page.goto(f"{live_server.url}/projects/{project.pk}/quality/")
    page.locator(f"tr[data-annotator='{annotator.username}']").get_by_role("button", name="Exclude").click()
    assert page.url.endswith(f"/projects/{project.pk}/quality/")
    assert not ExclusionEvent.objects.exists() and not Membership.objects.get(project=project, user=annotator).excluded
