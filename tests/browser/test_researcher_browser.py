"""A researcher in headless Chromium: logs in through the form, creates a project, finds it listed, imports images."""
import os
from pathlib import Path

import pytest

from annotation.models import ImportBatch, Membership, Project
from annotation.services.imports import image_import
from tests.factories import ResearcherFactory, image_bytes

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]



@pytest.fixture
def screenshot(page, tmp_path):
    """`screenshot(name)`: a full-page PNG under $LOUPE_SCREENSHOT_DIR (to look at) or the test's tmp dir."""
    folder = Path(os.environ.get("LOUPE_SCREENSHOT_DIR") or tmp_path)
    folder.mkdir(parents=True, exist_ok=True)
    return lambda name: page.screenshot(path=str(folder / f"{name}.png"), full_page=True)


def test_researcher_logs_in_creates_a_project_and_sees_it_listed(page, live_server, login, screenshot):
    """Login form → project list → New project form → the project's page → back on the list with it."""
    researcher = ResearcherFactory(username="rita")

    login(page, live_server, researcher)  # through the real form at /accounts/login/
    page.goto(f"{live_server.url}/")
    assert page.url == f"{live_server.url}/projects/"
    assert page.get_by_test_id("role").inner_text().strip() == "Researcher"

    page.get_by_role("link", name="New project").click()
    page.get_by_label("Name").fill("Blur and noise pilot")
    page.get_by_label("Description").fill("Which distortions do people notice first?")
    with page.expect_navigation():
        page.get_by_role("button", name="Create project").click()

    project = Project.objects.get(name="Blur and noise pilot")
    assert page.url == f"{live_server.url}/projects/{project.pk}/"
    assert page.locator("h1").inner_text() == "Blur and noise pilot"
    assert "Created project" in page.locator(".messages").inner_text()
    assert Membership.objects.filter(project=project, user=researcher, role=Membership.Role.RESEARCHER).exists()

    page.get_by_role("link", name="Projects", exact=True).first.click()
    listing = page.get_by_test_id("project-list")
    assert listing.get_by_role("link", name="Blur and noise pilot").is_visible()
    assert "blur-and-noise-pilot" in listing.inner_text()
    screenshot("researcher-project-list")


def test_project_page_shows_thumbnails_and_a_finished_import(page, live_server, login, screenshot):
    """The project page's grid loads each thumbnail through the permission-checked view; the report page shows counts."""
    researcher = ResearcherFactory()
    project = Project.objects.create(name="KonIQ sample", slug="koniq-sample", created_by=researcher)
    Membership.objects.create(project=project, user=researcher, role=Membership.Role.RESEARCHER)
    batch = ImportBatch.objects.create(project=project, created_by=researcher, source=ImportBatch.Source.UPLOAD)
    report = []
    for seed in range(6):
        result = image_import(project=project, name=f"photo_{seed}.png", data=image_bytes(size=(120, 90), seed=seed), batch=batch)
        report.append(result.as_report_entry())
    report.append({"name": "notes.txt", "status": "error", "message": "not an image", "image_id": None})
    ImportBatch.objects.filter(pk=batch.pk).update(status="done", report=report, imported_count=6, error_count=1)

    login(page, live_server, researcher)
    page.goto(f"{live_server.url}/projects/{project.pk}/")
    thumbnails = page.get_by_test_id("image-grid").locator("img")
    assert thumbnails.count() == 6
    thumbnails.last.scroll_into_view_if_needed()
    # Each thumbnail really loaded (naturalWidth > 0): the file view served it to the signed-in researcher.
    page.wait_for_function(
        "() => [...document.querySelectorAll('[data-testid=image-grid] img')].every(i => i.complete && i.naturalWidth > 0)"
    )
    screenshot("researcher-project-grid")

    page.get_by_test_id("import-history").get_by_role("link", name=str(batch.pk)).click()
    assert page.get_by_test_id("imported-count").inner_text() == "6"
    assert page.get_by_test_id("import-report").locator("tbody tr").first.inner_text().startswith("notes.txt")
    screenshot("researcher-import-report")


@pytest.mark.worker
def test_import_page_uploads_and_the_report_polls_until_done(page, live_server, login, tmp_path, celery_worker, worker_media_root):
    """Uploading through the import form opens the report page, which polls until the real worker is done."""
    researcher = ResearcherFactory()
    project = Project.objects.create(name="Uploads", slug="uploads", created_by=researcher)
    Membership.objects.create(project=project, user=researcher, role=Membership.Role.RESEARCHER)
    files = []
    for seed in range(2):
        path = tmp_path / f"up_{seed}.png"
        path.write_bytes(image_bytes(seed=seed))
        files.append(str(path))
    (tmp_path / "notes.txt").write_text("not an image")
    files.append(str(tmp_path / "notes.txt"))

    login(page, live_server, researcher)
    page.goto(f"{live_server.url}/projects/{project.pk}/imports/new/")
    page.set_input_files("input[name='files']", files)
    page.get_by_label("MOS scale minimum").fill("1")
    page.get_by_label("MOS scale maximum").fill("5")
    with page.expect_navigation():
        page.get_by_role("button", name="Start import").click()

    batch = ImportBatch.objects.get(project=project)
    assert page.url == f"{live_server.url}/imports/{batch.pk}/"
    # The worker imports the batch; htmx's polling shows the finished report without a reload.
    page.wait_for_function("() => document.querySelector('#import-status').dataset.status === 'done'", timeout=60_000)
    assert page.get_by_test_id("imported-count").inner_text() == "2"
    assert page.get_by_test_id("error-count").inner_text() == "1"
    assert "not an image" in page.get_by_test_id("import-report").inner_text()
