"""Celery tasks of system benchmarks: an endpoint run on `default`, a critic run on `gpu`."""
from config.tasks import default_task, gpu_task
from system_benchmarks.services.execution import benchmark_run_execute

RUN_SOFT_LIMIT_S = 12 * 3600


# Safe to run twice: the run row is claimed under a lock and only its `pending` calls are answered, each
# row written as soon as it is answered; a redelivery after a killed worker (acks_late +
# reject_on_worker_lost) takes the run over and goes on from the first pending call. Not retried
# here: the LLM client already retries what is transient, and a run that gives up shows why and resumes.
@default_task(
    name="system_benchmarks.run_endpoint", soft_time_limit=RUN_SOFT_LIMIT_S, time_limit=RUN_SOFT_LIMIT_S + 300,
)
def benchmark_run_endpoint(run_id: int) -> None:
    benchmark_run_execute(run_id=run_id)


# The same for a critic version, on the `gpu` queue (one task at a time per GPU worker).
@gpu_task(name="system_benchmarks.run_critic", soft_time_limit=RUN_SOFT_LIMIT_S, time_limit=RUN_SOFT_LIMIT_S + 300)
def benchmark_run_critic(run_id: int) -> None:
    benchmark_run_execute(run_id=run_id)
