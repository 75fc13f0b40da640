"""Celery tasks of system benchmarks: an endpoint run on `default`, a critic run on `gpu`."""
from config.chunks import CHUNK_SOFT_LIMIT_S, chord_send, chunk_task_run
from config.queues import Queue
from config.tasks import default_task, gpu_task
from system_benchmarks.services import execution
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


# A critic version's run, on the `gpu` queue: claimed like the endpoint's, then its pending calls are split into
# chunks of LOUPE_CRITIC_ANSWER_CHUNK sent as a chord to the queue this task came on, so every `gpu` worker takes
# a share (config.chunks). Safe to run twice: a second delivery while the run is alive is dropped; a stale one is
# taken over with a new chunk run, whose token makes the old run's chunks change nothing.
@gpu_task(name="system_benchmarks.run_critic", bind=True, soft_time_limit=600, time_limit=900)
def benchmark_run_critic(self, run_id: int) -> None:
    queue = (self.request.delivery_info or {}).get("routing_key") or Queue.GPU.value
    plan = execution.critic_run_plan(run_id, queue=queue)
    if plan is not None:
        token, chunks = plan
        chord_send(benchmark_run_critic_chunk.name, benchmark_run_critic_finish.name, run_id, token, dict(enumerate(chunks)), queue=queue)


# Safe to run twice: only pending calls are asked, and the chunk counts done once. An error retries this chunk
# alone (LOUPE_CRITIC_SCORE_RETRIES times); the last one fails the run (answered calls kept, Resume goes on).
@gpu_task(name="system_benchmarks.run_critic_chunk", bind=True, soft_time_limit=CHUNK_SOFT_LIMIT_S, time_limit=CHUNK_SOFT_LIMIT_S + 300)
def benchmark_run_critic_chunk(self, run_id: int, token: str, index: int, call_ids: list[int]) -> int:
    return chunk_task_run(
        self, lambda: execution.critic_run_chunk(run_id, token, index, call_ids, worker=self.request.hostname or ""),
        lambda error, final: execution.critic_run_chunk_failed(run_id, token, index, error, final=final),
    )


# Safe to run twice: it ends only the current, still running run.
@gpu_task(name="system_benchmarks.run_critic_finish", soft_time_limit=600, time_limit=900)
def benchmark_run_critic_finish(run_id: int, token: str) -> None:
    execution.critic_run_finish(run_id, token)
