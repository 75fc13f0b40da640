"""Celery tasks of studies: a system's answers, from a critic version (`gpu` queue) or an endpoint (`default`), and the GPT4-score judge."""
from config.chunks import CHUNK_SOFT_LIMIT_S, chord_send, chunk_task_run
from config.queues import Queue
from config.tasks import default_task, gpu_task
from studies.services import answers

GENERATE_SOFT_LIMIT_S = 4 * 3600


# Safe to run twice: the run claims the system row under a lock and skips a READY one; a stale RUNNING one is
# taken over with a new chunk run (the old run's chunks then change nothing). Only items without an answer are
# planned, in chunks of LOUPE_CRITIC_ANSWER_CHUNK sent as a chord to the queue this task came on (`gpu`), so every
# worker consuming it takes a share (config.chunks). Never retried itself: the study page has Retry.
@gpu_task(name="studies.system_generate_critic", bind=True, soft_time_limit=600, time_limit=900)
def system_generate_critic(self, system_id: int) -> None:
    queue = (self.request.delivery_info or {}).get("routing_key") or Queue.GPU.value
    plan = answers.critic_answers_plan(system_id, queue=queue)
    if plan is not None:
        run, chunks = plan
        chord_send(system_generate_critic_chunk.name, system_generate_critic_finish.name, system_id, run, dict(enumerate(chunks)), queue=queue)


# Safe to run twice: answers are unique per (system, item) and only missing ones are generated; the chunk counts
# done once. An error retries this chunk alone (LOUPE_CRITIC_SCORE_RETRIES times); the last one fails the system.
@gpu_task(name="studies.system_generate_critic_chunk", bind=True, soft_time_limit=CHUNK_SOFT_LIMIT_S, time_limit=CHUNK_SOFT_LIMIT_S + 300)
def system_generate_critic_chunk(self, system_id: int, run: str, index: int, item_ids: list[int]) -> int:
    return chunk_task_run(
        self, lambda: answers.critic_answers_chunk(system_id, run, index, item_ids, worker=self.request.hostname or ""),
        lambda error, final: answers.critic_answers_chunk_failed(system_id, run, index, error, final=final),
    )


# Safe to run twice: it ends only the current, still running run.
@gpu_task(name="studies.system_generate_critic_finish", soft_time_limit=300, time_limit=600)
def system_generate_critic_finish(system_id: int, run: str) -> None:
    answers.critic_answers_finish(system_id, run)


# Safe to run twice for the same reasons. Transient HTTP failures are retried inside the LLM client (with
# backoff and Retry-After); what still fails is counted on the row and asked again by Retry.
@default_task(
    name="studies.system_generate_endpoint", soft_time_limit=GENERATE_SOFT_LIMIT_S,
    time_limit=GENERATE_SOFT_LIMIT_S + 300,
)
def system_generate_endpoint(system_id: int) -> None:
    answers.system_answers_generate_endpoint(system_id)


# Safe to run twice: only answers without a score are judged, and each writes its own row (one per answer). A
# redelivery after the worker died scores what is still missing. Transient HTTP failures are retried inside the
# LLM client; an endpoint that stays down stops the run with the reason on the answer's row, and a new request
# goes on from there.
@default_task(name="studies.judge_answers", soft_time_limit=GENERATE_SOFT_LIMIT_S, time_limit=GENERATE_SOFT_LIMIT_S + 300)
def study_judge_answers(study_id: int, base_url: str, model: str, key_env: str = "") -> None:
    from studies.services.judge import JudgeEndpoint, study_answers_judge

    study_answers_judge(study_id=study_id, endpoint=JudgeEndpoint(base_url, model, key_env))
