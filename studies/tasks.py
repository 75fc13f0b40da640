"""Celery tasks of studies: a system's answers, from a critic version (`gpu` queue) or an endpoint (`default`), and the GPT4-score judge."""
from config.tasks import default_task, gpu_task
from studies.services import answers

GENERATE_SOFT_LIMIT_S = 4 * 3600


# Safe to run twice: the run claims the system row under a lock and skips a READY one, and only items
# without an answer are generated (answers are unique per system and item). A redelivery after the worker
# died (acks_late + reject_on_worker_lost) resumes where the answers stop. Never retried automatically:
# out-of-memory and a broken artifact are not transient; the study page has Retry.
@gpu_task(
    name="studies.system_generate_critic", soft_time_limit=GENERATE_SOFT_LIMIT_S,
    time_limit=GENERATE_SOFT_LIMIT_S + 300,
)
def system_generate_critic(system_id: int) -> None:
    answers.system_answers_generate_critic(system_id)


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
