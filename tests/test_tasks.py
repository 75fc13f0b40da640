"""Every Loupe task goes to the queue it declares, is safe to redeliver, and has time limits."""
import inspect

import pytest
from django.apps import apps
from kombu import Connection

from config.celery import app
from config.queues import Queue
from config.tasks import default_task, gpu_task, task_queue

# The GPU work: training, scoring and generation with a critic, and the device report of a GPU worker.
GPU_TASKS = {
    "modeling.device_report",
    "modeling.critic_retrain",
    "modeling.critic_score_pool",
    "modeling.critic_score_chunk",
    "modeling.critic_score_finish",
    "modeling.critic_generate",
    "studies.system_generate_critic",
    "studies.system_generate_critic_chunk",
    "studies.system_generate_critic_finish",
    "system_benchmarks.run_critic",
    "system_benchmarks.run_critic_chunk",
    "system_benchmarks.run_critic_finish",
}


def _loupe_tasks() -> dict:
    """Loupe's registered tasks by name (Celery's own `celery.*` tasks left out)."""
    app.loader.import_default_modules()  # the apps' tasks modules, as a worker imports them
    return {name: task for name, task in app.tasks.items() if not name.startswith("celery.")}


def _queue_of_sent_message(task) -> str:
    """Send the task as a caller does (`apply_async`) to an in-memory broker; the queue that holds the message."""
    arguments = [
        1 for parameter in inspect.signature(task.run).parameters.values() if parameter.default is parameter.empty
    ]
    with Connection("memory://") as connection:
        queues = [queue(connection.default_channel) for queue in app.amqp.queues.values()]
        for queue in queues:
            queue.declare()
            queue.purge()
        task.apply_async(args=arguments, producer=app.amqp.Producer(connection))
        holding = [queue.name for queue in queues if queue.get(no_ack=True) is not None]
    assert len(holding) == 1, f"{task.name}: message in {holding}"
    return holding[0]


def test_task_names_start_with_their_app():
    """Each task is named `<app>.<task>` after an installed app, or `config.<task>` for the project's own (names travel
    in queued messages)."""
    labels = {config.label for config in apps.get_app_configs()} | {"config"}
    for name in _loupe_tasks():
        assert name.split(".")[0] in labels, name


def test_every_task_declares_its_queue_and_the_gpu_ones_are_the_gpu_work():
    """Every task was declared with `default_task` or `gpu_task`, and the `gpu` ones are exactly the GPU work."""
    tasks = _loupe_tasks()
    assert GPU_TASKS <= tasks.keys()
    assert {name: task_queue(name) for name in tasks} == {
        name: Queue.GPU if name in GPU_TASKS else Queue.DEFAULT for name in tasks
    }


@pytest.mark.parametrize("name", sorted(_loupe_tasks()))
def test_the_router_sends_each_task_to_its_declared_queue(name):
    """Celery's router, given a task's name only (as `send_task` has), picks the queue the task declared."""
    assert app.amqp.router.route({}, name)["queue"].name == task_queue(name).value


@pytest.mark.parametrize("name", sorted(_loupe_tasks()))
def test_apply_async_sends_the_task_to_its_declared_queue(name):
    """A message sent with `apply_async` (as `delay` and the services do) lands on the task's own queue."""
    assert _queue_of_sent_message(app.tasks[name]) == task_queue(name).value


def test_a_queue_given_to_apply_async_still_wins():
    """An explicit `queue=` (as the studies service passes) overrides the declared queue."""
    assert app.amqp.router.route({"queue": "default"}, "modeling.device_report")["queue"].name == "default"


def test_a_task_name_cannot_be_declared_on_both_queues():
    """Declaring a name on `gpu` that is already a `default` task is refused, so its route is never ambiguous."""
    with pytest.raises(ValueError, match="already declared"):
        gpu_task(name="modeling.pair_queue_refill", soft_time_limit=60, time_limit=90)


def test_every_task_is_acked_late_and_has_time_limits():
    """Every task hands its message back if its worker dies, and stops itself before the worker kills it."""
    for name, task in _loupe_tasks().items():
        assert task.acks_late is True, name
        assert task.reject_on_worker_lost is True, name
        assert task.soft_time_limit and task.soft_time_limit > 0, name
        assert task.time_limit and task.time_limit > task.soft_time_limit, name


@pytest.mark.parametrize("decorator", [default_task, gpu_task])
@pytest.mark.parametrize(("soft_time_limit", "time_limit"), [(0, 10), (-1, 10), (60, 60), (60, 30)])
def test_decorators_refuse_limits_that_leave_no_time_to_clean_up(decorator, soft_time_limit, time_limit):
    """A soft limit that is not positive, or a hard limit not above it, is refused when the task is declared."""
    with pytest.raises(ValueError):
        decorator(name="tests.never_registered", soft_time_limit=soft_time_limit, time_limit=time_limit)
