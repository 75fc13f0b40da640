"""The exports page in a real browser: ask for an export, watch htmx follow the worker, download the file."""
import csv
import io

import pytest

from exports.models import ExportJob
from tests.exports.data import judge, pair_item, rating_item
from tests.factories import AnnotatorFactory, MembershipFactory
from tests.work_data import project_images

pytestmark = [pytest.mark.browser, pytest.mark.worker, pytest.mark.django_db(transaction=True)]


def test_researcher_exports_and_downloads_from_the_page(page, live_server, login, project, researcher, celery_worker, worker_media_root):
    """Ticking a format and pressing Export queues a job; the row polls until done; its link downloads the CSV."""
    annotator = MembershipFactory(project=project, user=AnnotatorFactory()).user
    pool = project_images(project, 2)
    judge(rating_item(project, pool[0]), annotator, level=4)
    judge(pair_item(project, pool[0], pool[1]), annotator, choice="a")

    login(page, live_server, researcher)
    page.goto(f"{live_server.url}/projects/{project.pk}/exports/")
    page.get_by_label("MOS per image from ratings (CSV)").check()
    with page.expect_navigation():
        page.get_by_role("button", name="Export").click()
    job = ExportJob.objects.get(project=project)
    page.wait_for_function(f"() => document.querySelector('#export-{job.pk}').dataset.status === 'done'", timeout=60_000)
    with page.expect_download() as download_info:
        page.get_by_test_id("export-download").click()
    download = download_info.value
    assert download.suggested_filename == f"{project.slug}-export{job.pk}-mos.csv"
    rows = list(csv.DictReader(io.StringIO(open(download.path(), encoding="utf-8").read())))
    assert [(int(row["image_id"]), row["n"], row["mos"]) for row in rows] == [(pool[0].pk, "1", "4.000000")]
