"""Celery tasks of the critic, all declared on the `gpu` queue."""
from celery.signals import task_prerun

from config.chunks import CHUNK_SOFT_LIMIT_S, chord_send, chunk_task_run
from config.queues import Queue
from config.tasks import gpu_task
from modeling.critic import pool_scoring, runs as critic_runs

#: Hours a training run may take before it is stopped (a real checkpoint on a large project runs long).
TRAIN_SOFT_LIMIT_S = 12 * 3600
SCORE_SOFT_LIMIT_S = 4 * 3600


# Safe to run twice: the run claims its version row under a lock and trains only a `queued` one. A
# redelivery after the worker was killed (acks_late + reject_on_worker_lost bring the message back)
# finds the version `training` with its process gone and marks it failed instead of training again;
# a duplicate while the first run is alive is dropped. Never retried: out-of-memory and bad data are
# not transient, and Retry makes a fresh version. The active version is never touched here.
@gpu_task(name="modeling.critic_retrain", soft_time_limit=TRAIN_SOFT_LIMIT_S, time_limit=TRAIN_SOFT_LIMIT_S + 300)
def critic_retrain(version_id: int) -> None:
    critic_runs.critic_version_train(version_id)


# Safe to run twice: a second delivery starts a new scoring run, whose token makes the first run's chunks
# change nothing; scores are upserted on (version, image). The chunks and the callback go to the queue this
# task came on (`gpu`), so every worker consuming it takes a share (modeling.critic.pool_scoring).
@gpu_task(name="modeling.critic_score_pool", bind=True, soft_time_limit=600, time_limit=900)
def critic_score_pool(self, version_id: int) -> None:
    queue = (self.request.delivery_info or {}).get("routing_key") or Queue.GPU.value
    plan = pool_scoring.scoring_plan(version_id, queue=queue)
    if plan is None:
        return
    run, chunks = plan
    chord_send(critic_score_chunk.name, critic_score_finish.name, version_id, run, dict(enumerate(chunks)), queue=queue)


# Safe to run twice: the chunk's scores are upserted and its index is counted done once. An error retries
# this chunk alone (LOUPE_CRITIC_SCORE_RETRIES times, LOUPE_CRITIC_SCORE_RETRY_S apart); the last one fails the run.
@gpu_task(name="modeling.critic_score_chunk", bind=True, soft_time_limit=CHUNK_SOFT_LIMIT_S, time_limit=CHUNK_SOFT_LIMIT_S + 300)
def critic_score_chunk(self, version_id: int, run: str, index: int, image_ids: list[int]) -> int:
    return chunk_task_run(
        self, lambda: pool_scoring.chunk_score(version_id, run, index, image_ids, worker=self.request.hostname or ""),
        lambda error, final: pool_scoring.chunk_failed(version_id, run, index, error, final=final),
    )


# Safe to run twice: it finishes only the current, still running run.
@gpu_task(name="modeling.critic_score_finish", soft_time_limit=300, time_limit=600)
def critic_score_finish(version_id: int, run: str) -> None:
    pool_scoring.scoring_finish(version_id, run)


# Safe to run twice: images that already have this version's description are skipped.
@gpu_task(name="modeling.critic_generate", soft_time_limit=SCORE_SOFT_LIMIT_S, time_limit=SCORE_SOFT_LIMIT_S + 300)
def critic_generate(version_id: int, image_ids: list[int]) -> None:
    critic_runs.critic_texts_generate(version_id, image_ids)


@task_prerun.connect(weak=False)
def _free_kept_critic(sender=None, **kwargs) -> None:
    """A task other than scoring frees the critic the scoring chunks kept loaded in this process."""
    if getattr(sender, "name", None) not in pool_scoring.SCORING_TASKS:
        pool_scoring.loaded_critic_free()
