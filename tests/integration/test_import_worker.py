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


def test_import_survives_its_worker_process_being_killed(celery_worker, worker_media_root, project, researcher):
    """Killing the pool process mid-import (as the OOM killer would) requeues the task; the rerun finishes it exactly once."""
    import psutil

    total = 150
    uploads = [SimpleUploadedFile(f"{n:03d}.png", image_bytes(size=(320, 240), seed=n)) for n in range(total)]
    batch = import_batch_create(project=project, user=researcher, source=ImportBatch.Source.UPLOAD, files=uploads)

    killed = None
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and killed is None:
        batch.refresh_from_db()
        if 0 < batch.imported_count < total:
            children = psutil.Process(celery_worker.process.pid).children()
            assert children, "the worker has no pool process"
            killed = children[0].pid
            children[0].kill()
        elif batch.status == ImportBatch.Status.DONE:
            pytest.fail("the import finished before the test could kill its worker; raise `total`")
        time.sleep(0.02)
    assert killed, "the import never started"

    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        batch.refresh_from_db()
        if batch.status == ImportBatch.Status.DONE:
            break
        time.sleep(0.2)
    log = celery_worker.log_tail()
    assert batch.status == ImportBatch.Status.DONE, log
    assert "WorkerLostError" in log or "exited with 'signal 9" in log
    assert (batch.imported_count, batch.duplicate_count, batch.error_count) == (total, 0, 0)
    assert Image.objects.filter(project=project).count() == total
    image_files = [p for p in (worker_media_root / "images" / str(project.pk)).rglob("*") if p.is_file()]
    assert len(image_files) == total
