"""A real worker that consumes only `gpu` runs a gpu task sent without a queue, and never gets a `default` one."""
import os
import subprocess
import time

import pytest
from django.conf import settings

from config.celery import app
from modeling.models import DeviceReport
from modeling.selection.tasks import pair_queue_refill
from modeling.tasks import device_report
from tests.conftest import REPO_ROOT, _celery_command, _database_url, _stop_worker

pytestmark = [
    pytest.mark.worker,
    pytest.mark.django_db(transaction=True),
    # Its own broker folder keeps the session's `default,gpu` worker away from these messages.
    pytest.mark.skipif(
        not settings.CELERY_BROKER_URL.startswith("filesystem://"), reason="needs a broker folder of its own"
    ),
]

READY_TIMEOUT_S = 90


def _ready(log_path) -> bool:
    return any(line.rstrip().endswith("ready.") for line in log_path.read_text(errors="replace").splitlines())


@pytest.fixture
def gpu_only_worker(django_db_blocker, tmp_path):
    """A `celery worker -Q gpu` on the test database, with a broker folder of its own; yields (broker, log)."""
    from django.db import connection

    with django_db_blocker.unblock():
        database_url = _database_url(connection.settings_dict)
    var_dir = tmp_path / "var"  # the worker's settings put its broker folders under LOUPE_VAR_DIR/broker
    broker_dir = var_dir / "broker"
    env = {
        **os.environ,
        "LOUPE_ENV": "test",
        "DATABASE_URL": database_url,
        "CELERY_BROKER_URL": settings.CELERY_BROKER_URL,
        "LOUPE_VAR_DIR": str(var_dir),
        "LOG_LEVEL": "INFO",
        "PYTHONUNBUFFERED": "1",
    }
    nodename = f"loupe-gpu-only-{os.getpid()}@%h"
    log_path = tmp_path / "worker.log"
    with log_path.open("wb") as log_file:
        process = subprocess.Popen(
            _celery_command("worker", "-Q", "gpu", "-c", "1", "--without-gossip", "--without-mingle", "-l", "info",
                            "-n", nodename),
            cwd=REPO_ROOT, env=env, stdout=log_file, stderr=subprocess.STDOUT, start_new_session=True,
        )
        try:
            deadline = time.monotonic() + READY_TIMEOUT_S
            while not _ready(log_path):
                if process.poll() is not None or time.monotonic() > deadline:
                    pytest.fail(f"the gpu-only worker did not start:\n{log_path.read_text(errors='replace')}")
                time.sleep(0.2)
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
            _stop_worker(process)


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
