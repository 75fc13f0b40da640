"""Writes of the modeling app."""
from dataclasses import asdict

from django.db import transaction

from modeling.devices import device_info
from modeling.models import DeviceReport


def device_report_create() -> DeviceReport:
    """Record what this worker process can run on."""
    return DeviceReport.objects.create(**asdict(device_info()))


def device_report_request() -> None:
    """Ask a `gpu`-queue worker to report its device, once the current transaction commits."""
    from modeling.tasks import device_report

    transaction.on_commit(device_report.delay)  # routed to the `gpu` queue by config/celery.py
