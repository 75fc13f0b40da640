"""The periodic sweep (Celery beat, every LOUPE_RUN_SWEEP_EVERY_S): stale runs failed, leases expired, old task results pruned."""
from __future__ import annotations

import logging
from functools import partial

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
    """One pass: fail (or re-queue, where its kind can resume) every run that lost its worker, run the steps the apps
    registered (lost chunks of chunked critic runs re-sent: config.chunks.chunks_requeue), expire the leases that ran
    out, delete the staging folders of imports that ended without their worker, prune old task results. A step that
    raises is logged and counted 0; the others still run.

    Returns how many rows of each kind it changed (`app_label.Model`, each registered step, `leases` and `import_stagings`).
    """
    from annotation.services.imports import import_stagings_prune
    from annotation.services.leasing import leases_expire_due

    now = timezone.now()
    steps = {model._meta.label: partial(runs_stale_fail, model, now=now) for model in run_models()}
    steps.update(_STEPS)
    steps["leases"] = partial(leases_expire_due, now=now)
    steps["import_stagings"] = import_stagings_prune
    changed = {}
    for name, step in steps.items():
        try:  # one failing step (a broker outage while re-queueing) never stops the others
            changed[name] = step()
        except Exception:
            logger.exception("Sweep: step %s failed", name)
            changed[name] = 0
    task_results_prune()
    if any(changed.values()):
        logger.info("Sweep: %s", {name: n for name, n in changed.items() if n})
    return changed


# Safe to run twice, and at any time: every change is a conditional update of rows that are stale or expired
# already. No result is kept (it would fill the result table once a minute); never retried, the next beat runs it again.
@default_task(name="config.runs_sweep", ignore_result=True, soft_time_limit=120, time_limit=180)
def runs_sweep_task() -> None:
    runs_sweep()
