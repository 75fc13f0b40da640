"""Celery tasks of the critic, all declared on the `gpu` queue."""
from config.tasks import gpu_task
from modeling.critic import runs as critic_runs

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


# Safe to run twice: scores are upserted on (version, image), so a rerun rewrites the same rows.
@gpu_task(name="modeling.critic_score_pool", soft_time_limit=SCORE_SOFT_LIMIT_S, time_limit=SCORE_SOFT_LIMIT_S + 300)
def critic_score_pool(version_id: int) -> None:
    critic_runs.critic_pool_score(version_id)


# Safe to run twice: images that already have this version's description are skipped.
@gpu_task(name="modeling.critic_generate", soft_time_limit=SCORE_SOFT_LIMIT_S, time_limit=SCORE_SOFT_LIMIT_S + 300)
def critic_generate(version_id: int, image_ids: list[int]) -> None:
    critic_runs.critic_texts_generate(version_id, image_ids)
