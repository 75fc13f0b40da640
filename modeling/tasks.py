"""Celery tasks of the modeling app itself: the GPU workers' device reports.

The critic's, the selection's and the LLM's tasks sit in their packages (`modeling/*/tasks.py`); ModelingConfig.ready()
imports them so that the worker registers them.
"""
from django.db import transaction

from config.tasks import gpu_task
from modeling import services


# Safe to run twice: each run only adds one dated report row.
@gpu_task(name="modeling.device_report", soft_time_limit=60, time_limit=90)
def device_report() -> int:
    return services.device_report_create().pk


def device_report_request() -> None:
    """Ask a `gpu`-queue worker to report its device, once the current transaction commits."""
    transaction.on_commit(device_report.delay)  # declared on the `gpu` queue
