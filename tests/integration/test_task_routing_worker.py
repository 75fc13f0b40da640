"""A real worker that consumes only `gpu` runs a gpu task sent without a queue, and never gets a `default` one."""
import os

import pytest
from django.conf import settings

from config.celery import app
from modeling.models import DeviceReport
from modeling.selection.tasks import pair_queue_refill
from modeling.tasks import device_report
from tests.workers import worker_env, worker_start, worker_stop

pytestmark = [
    pytest.mark.worker,
    pytest.mark.django_db(transaction=True),
    # Its own broker folder keeps the session's `default,gpu` worker away from these messages.
    pytest.mark.skipif(
        not settings.CELERY_BROKER_URL.startswith("filesystem://"), reason="needs a broker folder of its own"
    ),
]


@pytest.fixture
def gpu_only_worker(test_database_url, tmp_path):
    """A `celery worker -Q gpu` on the test database, with a broker folder of its own; yields (broker, log)."""
    var_dir = tmp_path / "var"  # the worker's settings put its broker folders under LOUPE_VAR_DIR/broker
    broker_dir = var_dir / "broker"
    env = worker_env(database=test_database_url, media_dir=tmp_path / "media", LOUPE_VAR_DIR=str(var_dir))
    log_path = tmp_path / "worker.log"
    process = worker_start(queues="gpu", nodename=f"loupe-gpu-only-{os.getpid()}@%h", env=env, log_path=log_path)
    try:
        transport_options = {
            **settings.CELERY_BROKER_TRANSPORT_OPTIONS,
            "data_folder_in": str(broker_dir / "queue"),
            "data_folder_out": str(broker_dir / "queue"),
            "processed_folder": str(broker_dir / "processed"),
            "control_folder": str(broker_dir / "control"),
        }
        with app.connection_for_write(transport_options=transport_options) as broker:
            yield broker, log_path
    finally:
        worker_stop(process)


def test_a_gpu_only_worker_runs_gpu_tasks_and_leaves_default_ones(gpu_only_worker):
    """`apply_async` with no queue (as `delay`) sends device_report to `gpu`, where the worker runs it; a `default`
    task sent beside it stays in the broker, untouched."""
    broker, log_path = gpu_only_worker
    producer = app.amqp.Producer(broker)
    left = pair_queue_refill.apply_async(args=[0], producer=producer)
    result = device_report.apply_async(producer=producer)

    assert result.get(timeout=90) == DeviceReport.objects.get().pk
    log = log_path.read_text(errors="replace")
    assert f"Task modeling.device_report[{result.id}] received" in log
    assert f"Task modeling.pair_queue_refill[{left.id}]" not in log
    queued = [path.name for path in (log_path.parent / "var" / "broker" / "queue").iterdir()]
    assert len(queued) == 1 and queued[0].endswith(".default.msg"), queued
    assert left.state == "PENDING"
