"""A researcher in headless Chromium starts a benchmark from the Benchmarks tab; the real worker runs it; the page follows."""
import os
from pathlib import Path

import pytest

from annotation.models import Membership
from system_benchmarks.models import BenchmarkRun
from tests.factories import ProjectFactory, ResearcherFactory
from tests.llm_server import FakeLLMServer, Ok
from tests.system_benchmarks.conftest import labelled

pytestmark = [pytest.mark.browser, pytest.mark.worker, pytest.mark.django_db(transaction=True)]


def test_researcher_starts_a_benchmark_and_sees_srcc_per_protocol(page, live_server, login, tmp_path, celery_worker, worker_media_root,
                                                                loopback_endpoints):
    """Benchmarks tab → fill the endpoint form → run page → the worker answers → results table, plot, downloads appear."""
    researcher = ResearcherFactory()
    project = ProjectFactory(created_by=researcher)
    assert Membership.objects.filter(project=project, user=researcher).exists()
    labelled(project, 8)  # image i (in id order) has MOS 5 + 8 i
    login(page, live_server, researcher)
    with FakeLLMServer() as server:
        # The worker asks in call order: 8 single-stimulus calls (the whole pool, in id order), then 8 pairs.
        server.script(*[Ok(str(5 + 8 * i)) for i in range(8)], *[Ok("Image A") for _ in range(7)], Ok("No idea."))
        page.goto(f"{live_server.url}/projects/{project.pk}/")
        page.get_by_role("link", name="Benchmarks").click()
        assert "8 labelled images" in page.get_by_test_id("labelled-count").inner_text()
        page.get_by_label("OpenAI-compatible vision endpoint").check()
        page.get_by_label("Endpoint base URL").fill(server.base_url)
        page.get_by_label("Model").fill("fake-vision-1")
        page.get_by_label("Double stimulus (which is better)").check()
        page.get_by_label("Subset size").fill("8")
        with page.expect_navigation():
            page.get_by_role("button", name="Start benchmark").click()
        run = BenchmarkRun.objects.get(project=project)
        page.wait_for_selector("[data-testid=benchmark-results]", timeout=60_000)  # htmx swaps the live part in by itself
        assert len(server.requests) == run.n_calls == 16
    assert page.get_by_test_id("benchmark-status").inner_text() == "Done"
    assert "1 unparseable" in page.get_by_test_id("benchmark-progress").locator("..").inner_text()
    rows = page.locator("[data-testid=benchmark-results] tbody tr")
    assert rows.count() == 2  # single and double × standard
    assert page.locator("[data-cell='single:standard'] td").nth(2).inner_text() == "1.000"
    assert page.get_by_test_id("benchmark-plot").locator("svg").is_visible()
    assert page.get_by_role("link", name="Download CSV").is_visible()
    folder = Path(os.environ.get("LOUPE_SCREENSHOT_DIR") or tmp_path)
    page.screenshot(path=str(folder / "benchmark-run.png"), full_page=True)
