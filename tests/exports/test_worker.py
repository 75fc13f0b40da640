"""An export requested on the page is written by a real worker process through the real broker, then downloaded."""
import io
import json
import time
import zipfile

import pytest
from django.urls import reverse

from exports.models import ExportJob
from tests.exports.data import judge, pair_item, rating_item
from tests.factories import AnnotatorFactory, MembershipFactory
from tests.work_data import project_images

pytestmark = [pytest.mark.worker, pytest.mark.django_db(transaction=True)]


def test_worker_writes_the_requested_zip_and_the_researcher_downloads_it(celery_worker, worker_media_root, client, project, researcher):
    """POST on the page -> task on the `default` queue -> done with progress and checksum -> the download is the zip."""
    annotator = MembershipFactory(project=project, user=AnnotatorFactory()).user
    pool = project_images(project, 3)
    judge(pair_item(project, pool[0], pool[1]), annotator, choice="b")
    judge(rating_item(project, pool[2]), annotator, level=2)
    client.force_login(researcher)
    response = client.post(
        reverse("exports:export_list", kwargs={"project_id": project.pk}),
        {"formats": ["pairs", "mos", "pathway"], "include_images": "on"},
    )
    assert response.status_code == 302
    job = ExportJob.objects.get(project=project)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        job.refresh_from_db()
        if not job.is_active:
            break
        time.sleep(0.2)
    assert job.status == ExportJob.Status.DONE, (job.error, celery_worker.log_tail())
    assert job.row_counts == {"pairs": 1, "mos": 1, "pathway": 0} and job.rows_written == 2 and job.progress_percent == 100
    assert (worker_media_root / job.file_path).is_file()
    download = client.get(reverse("exports:export_download", kwargs={"project_id": project.pk, "export_id": job.pk}))
    assert download.status_code == 200 and download["Content-Type"] == "application/zip"
    with zipfile.ZipFile(io.BytesIO(b"".join(download.streaming_content))) as archive:
        manifest = json.loads(archive.read("manifest.json"))
        assert manifest["counts"]["images"] == 3 and archive.read("pairs.csv").decode().count("\n") == 2
