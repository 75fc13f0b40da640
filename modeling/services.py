"""Writes of the modeling app."""
from dataclasses import asdict

from modeling.devices import device_info
from modeling.models import DeviceReport


def device_report_create() -> DeviceReport:
    """Record what this worker process can run on."""
    return DeviceReport.objects.create(**asdict(device_info()))

