"""The periodic sweep (Celery beat, every LOUPE_RUN_SWEEP_EVERY_S): stale runs failed, leases expired, old task results pruned."""
from __future__ import annotations

import logging

from django.apps import apps
from django.utils import timezone

from config.runs import RunRow, runs_stale_fail
from config.tasks import default_task

logger = logging.getLogger(__name__)


#: Extra steps of the sweep, registered by the apps that own them (their AppConfig.ready): {name: step}; a step
#: returns how many rows it changed. Scoring runs, which are no run rows, are swept this way.
_STEPS: dict = {}


def sweep_step_register(name: str, step) -> None:
    _STEPS[name] = step


def run_models() -> list[type[RunRow]]:
    """Every installed run kind: the concrete models built on the run-row kernel."""
    return [model for model in apps.get_models() if issubclass(model, RunRow)]


def task_results_prune() -> None:
    """Delete task results older than CELERY_RESULT_EXPIRES (the django-db backend; others expire their own)."""
    from config.celery import app

    app.backend.cleanup()


def runs_sweep() -> dict[str, int]:
    """One pass: fail every run that lost its worker, expire the leases that ran out, delete the staging folders of
    imports that ended without their worker, prune old task results.

    Returns how many rows of each kind it changed (`app_label.Model`, `leases` and `import_stagings`).
    """
    from annotation.services.imports import import_stagings_prune
    from annotation.services.leasing import leases_expire_due

    now = timezone.now()
    changed = {model._meta.label: runs_stale_fail(model, now=now) for model in run_models()}
    for name, step in _STEPS.items():
        changed[name] = step()
    changed["leases"] = leases_expire_due(now=now)
    changed["import_stagings"] = import_stagings_prune()
    task_results_prune()
    if any(changed.values()):
        logger.info("Sweep: %s", {name: n for name, n in changed.items() if n})
    return changed


# Safe to run twice, and at any time: every change is a conditional update of rows that are stale or expired
# already. No result is kept (it would fill the result table once a minute); never retried, the next beat runs it again.
@default_task(name="config.runs_sweep", ignore_result=True, soft_time_limit=120, time_limit=180)
def runs_sweep_task() -> None:
    runs_sweep()
