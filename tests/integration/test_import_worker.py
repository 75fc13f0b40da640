"""An upload is imported by a real worker process through the real broker, and its report fills in."""
import time

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from annotation.models import Image, ImportBatch
from annotation.services.imports import import_batch_create
from tests.factories import image_bytes, zip_bytes

pytestmark = [pytest.mark.worker, pytest.mark.django_db(transaction=True)]


def test_staged_upload_is_imported_by_the_worker(celery_worker, worker_media_root, project, researcher):
    """The on-commit enqueue reaches the worker, which imports the good files and reports the bad ones."""
    uploads = [
        SimpleUploadedFile("a.png", image_bytes(seed=1)),
        SimpleUploadedFile("set.zip", zip_bytes({"b.png": image_bytes(seed=2), "c.txt": b"not an image"})),
    ]
    batch = import_batch_create(project=project, user=researcher, source=ImportBatch.Source.UPLOAD, files=uploads)

    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        batch.refresh_from_db()
        if batch.status in (ImportBatch.Status.DONE, ImportBatch.Status.FAILED):
            break
        time.sleep(0.2)
    assert batch.status == ImportBatch.Status.DONE, celery_worker.log_path.read_text()[-3000:]
    assert (batch.imported_count, batch.error_count) == (2, 1)
    assert {e["name"]: e["status"] for e in batch.report} == {"a.png": "imported", "b.png": "imported", "c.txt": "error"}
    assert sorted(Image.objects.filter(project=project).values_list("original_name", flat=True)) == ["a.png", "b.png"]
    for image in Image.objects.filter(project=project):
        assert (worker_media_root / image.file.name).is_file()
