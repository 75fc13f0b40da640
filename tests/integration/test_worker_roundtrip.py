"""A real worker process takes tasks from the real broker and writes to the test database."""
import time

import pytest

from config.queues import Queue
from modeling.models import DeviceReport
from modeling.tasks import device_report

pytestmark = [pytest.mark.worker, pytest.mark.django_db(transaction=True)]


def _wait_for(predicate, *, timeout_s: float = 60, interval_s: float = 0.2):
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(interval_s)
    return predicate()


def test_device_report_on_gpu_queue_writes_a_row(celery_worker, worker_media_root, settings):
    """A `device_report` sent to the `gpu` queue is run by the worker, which records a DeviceReport row."""
    assert not getattr(settings, "CELERY_TASK_ALWAYS_EAGER", False)
    assert DeviceReport.objects.count() == 0

    result = device_report.apply_async(queue=Queue.GPU)

    assert _wait_for(lambda: DeviceReport.objects.exists()), "no DeviceReport row appeared within 60 s"
    row = DeviceReport.objects.get()
    assert row.device_name  # "cpu" or the GPU's name
    assert row.torch_version
    # The worker also stored the task's outcome in the django-db result backend: the row's id.
    assert result.get(timeout=30) == row.pk
    assert f"Task modeling.device_report[{result.id}] received" in celery_worker.log_path.read_text()


def test_worker_and_tests_share_the_media_root(celery_worker, worker_media_root, settings):
    """Tests that use the worker see the worker's MEDIA_ROOT, not their own temporary one."""
    assert settings.MEDIA_ROOT == worker_media_root
    assert celery_worker.env["MEDIA_ROOT"] == str(worker_media_root)
