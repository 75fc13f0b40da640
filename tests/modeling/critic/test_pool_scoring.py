"""Pool scoring in chunks (modeling/critic/pool_scoring.py), in this process on the real database.

The chord across workers is tested in tests/integration/test_scoring_workers.py; here, the chunk bookkeeping that
makes it safe: chunking leaves the scores as one pass gives them, a redelivered chunk counts once, an old run's
chunks change nothing, a failed chunk is recorded and only its last attempt fails the run.
"""
import numpy as np
import pytest

from modeling.critic import pool_scoring
from modeling.critic.data import scorer_config
from modeling.critic.models import CriticScore, CriticVersion
from tests.modeling.critic.scorable import scorable_version
from tests.work_data import project_images


@pytest.fixture
def critic_dirs(settings, tmp_path):
    settings.LOUPE_CRITIC_BASE_DIR = ""
    settings.LOUPE_CRITIC_DIR = tmp_path / "critic"
    settings.LOUPE_CRITIC_SCORE_CHUNK = 5
    return settings


def test_chunks_score_every_image_once_with_the_same_scores_as_one_pass(critic_dirs, project):
    from modeling.critic.core.scoring import score_images
    from modeling.critic.runs import image_loader, image_names, load_trained

    images = project_images(project, 12)
    version = scorable_version(project)
    assert pool_scoring.critic_pool_score(version.pk) == 12
    version.refresh_from_db()
    state = version.score_chunks
    assert version.score_status == CriticVersion.ScoreStatus.DONE and version.scored_count == 12
    assert (state["total"], state["done"], state["size"]) == (3, [0, 1, 2], 5)
    assert state["attempts"] == {"0": 1, "1": 1, "2": 1} and not state["failures"]
    assert (version.score_chunks_done, version.score_chunks_total) == (3, 3)

    ids = [image.pk for image in images]
    load = image_loader(image_names(ids))
    whole = score_images(load_trained(version), [load(str(i)) for i in ids], batch_size=16, config=scorer_config(version.training_settings))
    rows = dict(CriticScore.objects.filter(version=version).values_list("image_id", "score"))
    np.testing.assert_allclose([rows[i] for i in ids], whole.scores, atol=1e-6)


def test_redelivered_chunk_counts_once_and_an_old_runs_chunks_change_nothing(critic_dirs, project):
    project_images(project, 7)
    version = scorable_version(project)
    run, chunks = pool_scoring.scoring_plan(version.pk)
    assert [len(c) for c in chunks] == [5, 2]
    assert pool_scoring.chunk_score(version.pk, run, 1, chunks[1], worker="w1") == 2
    assert pool_scoring.chunk_score(version.pk, run, 1, chunks[1], worker="w2") == 0  # the same message again: done, not redone
    version.refresh_from_db()
    assert version.scored_count == 2 and version.score_chunks["done"] == [1]
    assert version.score_chunks["attempts"] == {"1": 2} and version.score_chunks["workers"] == {"1": "w2"}
    assert pool_scoring.scoring_finish(version.pk, run) == 0  # chunk 0 never ran: the run fails, it does not end done
    version.refresh_from_db()
    assert version.score_status == CriticVersion.ScoreStatus.FAILED and "1 of 2 chunks" in version.score_error

    new_run, _ = pool_scoring.scoring_plan(version.pk)  # scoring asked for again
    assert pool_scoring.chunk_score(version.pk, run, 0, chunks[0], worker="w1") == 0
    version.refresh_from_db()
    assert version.score_chunks["run"] == new_run and version.score_chunks["done"] == [] and version.scored_count == 0
    assert version.score_status == CriticVersion.ScoreStatus.RUNNING


def test_a_failed_chunk_is_recorded_and_only_its_last_attempt_fails_the_run(critic_dirs, project):
    project_images(project, 3)
    version = scorable_version(project)
    run, _ = pool_scoring.scoring_plan(version.pk)
    pool_scoring.chunk_failed(version.pk, run, 0, OSError("storage hiccup"), final=False)
    version.refresh_from_db()
    assert version.score_status == CriticVersion.ScoreStatus.RUNNING
    assert version.score_chunks["failures"] == {"0": ["OSError: storage hiccup"]}
    pool_scoring.chunk_failed(version.pk, run, 0, OSError("still down"), final=True)
    version.refresh_from_db()
    assert version.score_status == CriticVersion.ScoreStatus.FAILED
    assert version.score_error == "Chunk 1 of 1 failed after 2 attempts: OSError: still down"


def test_a_version_without_an_artifact_is_not_scored(critic_dirs, project):
    project_images(project, 2)
    version = CriticVersion.objects.create(project=project, number=1, base_model_dir="/x")
    assert pool_scoring.scoring_plan(version.pk) is None and pool_scoring.critic_pool_score(version.pk) == 0
    version.refresh_from_db()
    assert version.score_status == CriticVersion.ScoreStatus.NONE


def test_a_chunk_size_below_one_is_refused(critic_dirs):
    critic_dirs.LOUPE_CRITIC_SCORE_CHUNK = 0
    with pytest.raises(ValueError, match="LOUPE_CRITIC_SCORE_CHUNK must be > 0"):
        pool_scoring.chunk_size()
