"""End to end: a researcher asks for a device report in the browser and a real worker answers it."""
import pytest

from modeling.models import DeviceReport

pytestmark = [pytest.mark.worker, pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_workers_page_shows_the_report_a_gpu_worker_sent(page, live_server, login, researcher, celery_worker, worker_media_root):
    """Pressing "Ask a GPU worker to report" enqueues the task; after a reload the worker's row is on the page."""
    login(page, live_server, researcher)
    page.goto(f"{live_server.url}/workers/")
    assert DeviceReport.objects.count() == 0

    page.get_by_role("button", name="Ask a GPU worker to report").click()
    page.wait_for_load_state()

    rows = page.locator("[data-testid='device-reports'] tbody tr")
    for _ in range(120):  # up to about 60 s: the worker imports torch on its first task
        if rows.count():
            break
        page.wait_for_timeout(500)
        page.reload()
    assert rows.count() == 1
    report = DeviceReport.objects.get()
    assert report.device_name in rows.first.inner_text()
