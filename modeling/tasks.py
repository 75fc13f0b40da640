"""Celery tasks of the modeling app."""
from celery import shared_task

from modeling import services


# Safe to run twice: each run only adds one dated report row.
@shared_task(name="modeling.device_report", soft_time_limit=60, time_limit=90)
def device_report() -> int:
    return services.device_report_create().pk
