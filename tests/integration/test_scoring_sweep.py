"""A scoring run whose chord never comes back, finished through the sweep on the real worker (config/chunks.py).

The state is the one a dead worker leaves: the run planned and its first chunk begun on a worker that is gone, the
messages lost. The sweep sends the missing chunks again with the callback, and the session's worker (`gpu` queue)
scores them; then a run whose chunks are all done but whose callback was lost is ended by the callback alone.
"""
import time

import pytest

from config.chunks import chunk_began
from config.sweep import runs_sweep
from modeling.critic import pool_scoring
from modeling.critic.models import CriticScore, CriticVersion
from tests.modeling.critic.scorable import scorable_version
from tests.work_data import project_images

pytestmark = [pytest.mark.worker, pytest.mark.django_db(transaction=True)]


def _wait_scored(version, worker, timeout_s=120) -> CriticVersion:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        version.refresh_from_db()
        if version.score_status != CriticVersion.ScoreStatus.RUNNING:
            return version
        time.sleep(0.2)
    pytest.fail(f"scoring still running: {version.score_chunks}\n{worker.log_tail()}")


def test_the_sweep_requeues_a_lost_chunk_and_a_lost_callback(settings, celery_worker, worker_media_root, project):
    settings.LOUPE_CRITIC_SCORE_CHUNK, settings.LOUPE_CHUNK_LOST_AFTER_S = 3, 0
    images = project_images(project, 6)
    version = scorable_version(project)
    run, chunks = pool_scoring.scoring_plan(version.pk)
    pool_scoring._chunks_update(version.pk, run, lambda v, state: chunk_began(state, 0, "gone@host"))

    assert runs_sweep()["critic_scoring_runs"] == 1
    version = _wait_scored(version, celery_worker)
    state = version.score_chunks
    assert version.score_status == CriticVersion.ScoreStatus.DONE, version.score_error + celery_worker.log_tail()
    assert state["run"] == run and state["done"] == [0, 1] and state["requeues"] == {"0": 1}
    assert state["attempts"] == {"0": 2, "1": 1} and version.scored_count == 6
    assert sorted(CriticScore.objects.filter(version=version).values_list("image_id", flat=True)) == sorted(i.pk for i in images)

    settings.LOUPE_RUN_STALE_AFTER_S = 0  # the callback had its time
    run, chunks = pool_scoring.scoring_plan(version.pk)
    for index, ids in enumerate(chunks):
        pool_scoring.chunk_score(version.pk, run, index, ids, worker="in-process")
    assert runs_sweep()["critic_scoring_runs"] == 1
    version = _wait_scored(version, celery_worker)
    assert version.score_status == CriticVersion.ScoreStatus.DONE and version.score_chunks["run"] == run
    assert version.score_chunks["attempts"] == {"0": 1, "1": 1} and version.scored_at is not None
