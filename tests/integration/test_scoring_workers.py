"""Pool scoring across two `gpu` worker processes (issue 19): every image is scored exactly once, and a chunk that
fails once is retried alone.

Two real `celery worker -c 1` processes consume a queue of this test's own (the session's worker never sees its
messages); the scoring task is sent there, and its chunks and callback follow it, as they follow the `gpu` queue in
production. One image's file is missing when scoring starts, so its chunk fails; the file is put back once the
failure is on the version's row, and the retry, on whichever worker takes it, scores the chunk.
"""
import re
import time
from pathlib import Path

import pytest

from modeling.critic.models import CriticScore, CriticVersion
from modeling.critic.tasks import critic_score_pool
from tests.modeling.critic.scorable import scorable_version
from tests.work_data import project_images

pytestmark = [pytest.mark.worker, pytest.mark.django_db(transaction=True)]

READY_TIMEOUT_S = 120
SCORING_TIMEOUT_S = 150
CHUNK = 4
N_IMAGES = 5 * CHUNK


@pytest.fixture
def two_workers(queue_workers, settings):
    """Two `celery worker -c 1` processes on the test database and one queue named for this test (conftest's
    `queue_workers`), scoring in chunks of CHUNK and retrying a failed chunk after 2 s."""
    workers = queue_workers(
        "gpu-scoring", ready_timeout_s=READY_TIMEOUT_S, LOUPE_CRITIC_DIR=str(settings.LOUPE_CRITIC_DIR),
        LOUPE_CRITIC_SCORE_CHUNK=str(CHUNK), LOUPE_CRITIC_SCORE_RETRY_S="2", OMP_NUM_THREADS="1",
    )
    workers.start("scorer", count=2)
    return workers


def test_two_gpu_workers_score_every_image_exactly_once_and_retry_a_failed_chunk_alone(two_workers, worker_media_root, project):
    queue, logs = two_workers.queue, two_workers.log_paths
    images = project_images(project, N_IMAGES)
    version = scorable_version(project)
    broken = Path(images[CHUNK + 1].file.path)  # an image of the second chunk (index 1)
    hidden = broken.with_name(broken.name + ".away")
    broken.rename(hidden)

    critic_score_pool.apply_async(args=[version.pk], queue=queue)
    deadline = time.monotonic() + SCORING_TIMEOUT_S
    while time.monotonic() < deadline:
        version.refresh_from_db()
        if hidden.exists() and "1" in (version.score_chunks or {}).get("failures", {}):
            hidden.rename(broken)  # back before the retry, LOUPE_CRITIC_SCORE_RETRY_S later
        if version.score_status in (CriticVersion.ScoreStatus.DONE, CriticVersion.ScoreStatus.FAILED):
            break
        time.sleep(0.1)
    else:
        pytest.fail(f"scoring did not finish: {version.score_status} {version.score_chunks}\n{two_workers.log()}")

    state = version.score_chunks
    assert version.score_status == CriticVersion.ScoreStatus.DONE, f"{version.score_error}\n{two_workers.log()}"
    assert version.scored_count == N_IMAGES and state["total"] == 5 and state["done"] == [0, 1, 2, 3, 4]
    # Every chunk ran once, except the failed one, which ran twice: retried alone.
    assert state["attempts"] == {"0": 1, "1": 2, "2": 1, "3": 1, "4": 1}, state
    assert list(state["failures"]) == ["1"] and state["failures"]["1"][0].startswith("FileNotFoundError"), state
    # Every chunk was taken by one of the two workers. Which ones is up to the broker: on Redis a worker reserves
    # up to its prefetch count, so the one ready first may take all five chunks before the other has loaded.
    assert all(name.startswith(("scorer1-", "scorer2-")) for name in state["workers"].values()), state
    scored = list(CriticScore.objects.filter(version=version).values_list("image_id", flat=True))
    assert sorted(scored) == sorted(image.pk for image in images)
    # The workers' own logs: five chunks succeeded, one retry, one callback; nothing ran twice.
    # A task's "succeeded" line is written after it returned, so after the callback saved DONE: wait for that line.
    finish_logged = re.compile(r"Task modeling\.critic_score_finish\[[^\]]+\] succeeded")
    deadline = time.monotonic() + 30
    while True:
        text = "".join(path.read_text(errors="replace") for path in logs)
        if finish_logged.search(text) or time.monotonic() > deadline:
            break
        time.sleep(0.1)
    assert len(re.findall(r"Task modeling\.critic_score_chunk\[[^\]]+\] succeeded", text)) == 5, two_workers.log()
    assert len(re.findall(r"Task modeling\.critic_score_chunk\[[^\]]+\] retry", text)) == 1, two_workers.log()
    assert len(re.findall(r"Task modeling\.critic_score_finish\[[^\]]+\] succeeded", text)) == 1, two_workers.log()
