"""Loupe's task decorators: a task names its queue and its time limits where it is declared."""
from celery import shared_task

from config.queues import Queue

# Filled as the tasks modules are imported; read by `task_route`, the app's router (config/celery.py). Not
# the `queue` task attribute: Celery 5 warns that it is deprecated and 6.0 ignores it.
_DECLARED_QUEUES: dict[str, Queue] = {}


def task_queue(name: str) -> Queue | None:
    """The queue the task called `name` was declared on; None for a task not declared with these decorators."""
    return _DECLARED_QUEUES.get(name)


def task_route(name: str, args, kwargs, options, task=None, **router_kwargs) -> dict | None:
    """Celery router (`task_routes`): send a task to the queue it was declared on; None leaves it to Celery.

    A `queue=` given to `apply_async` still wins over this route.
    """
    queue = task_queue(name)
    return None if queue is None else {"queue": queue.value}


def _task(*, queue: Queue, name: str, soft_time_limit: int, time_limit: int, **celery_options):
    if soft_time_limit <= 0:
        raise ValueError("soft_time_limit must be > 0")
    if time_limit <= soft_time_limit:
        raise ValueError("time_limit must be > soft_time_limit, so the task can clean up after the soft limit")
    if _DECLARED_QUEUES.setdefault(name, queue) is not queue:
        raise ValueError(f"task {name!r} is already declared on the {_DECLARED_QUEUES[name].value!r} queue")
    # acks_late and reject_on_worker_lost come from the settings (CELERY_TASK_*), for every task.
    return shared_task(name=name, soft_time_limit=soft_time_limit, time_limit=time_limit, **celery_options)


def default_task(*, name: str, soft_time_limit: int, time_limit: int, **celery_options):
    """Declare a task on the `default` queue: selection, scaling, LLM calls, imports, exports.

    Parameters
    ----------
    name
        The task's name, as it travels in queued messages (`"<app>.<task>"`); never rename a task that
        may have messages waiting.
    soft_time_limit
        Seconds after which the task gets `SoftTimeLimitExceeded`.
    time_limit
        Seconds after which the worker kills the task; above `soft_time_limit`.
    **celery_options
        Passed on to `celery.shared_task` (`bind`, `max_retries`, ...).

    Raises
    ------
    ValueError
        If the limits are not positive, `time_limit` is not above `soft_time_limit`, or a task of this
        name is already declared on the other queue.
    """
    return _task(
        queue=Queue.DEFAULT, name=name, soft_time_limit=soft_time_limit, time_limit=time_limit, **celery_options,
    )


def gpu_task(*, name: str, soft_time_limit: int, time_limit: int, **celery_options):
    """Declare a task on the `gpu` queue: training, scoring, generation (one task at a time per GPU worker).

    Takes the same arguments as `default_task`.
    """
    return _task(
        queue=Queue.GPU, name=name, soft_time_limit=soft_time_limit, time_limit=time_limit, **celery_options,
    )
