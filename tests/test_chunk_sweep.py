"""The sweep and chunked runs (config/chunks.py): a lost chunk is sent again at most LOUPE_CHUNK_REQUEUES times and
then fails its run with the reason; chunks not begun yet (waiting in the queue) are left alone, and a chunked study
system or benchmark run waiting for its chunks is not failed for its old heartbeat. The re-sent chunks running on a
real worker: tests/integration/test_scoring_sweep.py."""
from datetime import timedelta

import pytest
from django.utils import timezone

from config.chunks import chunk_began, chunks_update
from config.sweep import runs_sweep
from modeling.critic import pool_scoring
from modeling.critic.models import CriticVersion
from studies.models import System
from studies.services import answers
from studies.services.setup import study_create, system_add_critic
from system_benchmarks.models import BenchmarkRun
from system_benchmarks.services import execution
from system_benchmarks.services.runs import RunSpec, benchmark_run_create
from tests.modeling.critic.scorable import scorable_version
from tests.system_benchmarks.conftest import labelled

pytestmark = pytest.mark.django_db


@pytest.fixture
def chunked(settings, tmp_path, project):
    settings.LOUPE_CRITIC_BASE_DIR = ""
    settings.LOUPE_CRITIC_DIR = tmp_path / "critic"
    settings.LOUPE_CRITIC_SCORE_CHUNK = 3
    settings.LOUPE_CRITIC_ANSWER_CHUNK = 3
    images = labelled(project, 6)
    return scorable_version(project), images


def _silent(model, pk) -> None:
    """The row as a run waiting for its chunks leaves it: no heartbeat for longer than the stale rule allows."""
    model.objects.filter(pk=pk).update(heartbeat_at=timezone.now() - timedelta(hours=1), worker="elsewhere:1")


def test_a_scoring_run_whose_chunks_have_not_begun_is_left_alone(settings, chunked):
    version, _ = chunked
    settings.LOUPE_CHUNK_LOST_AFTER_S = 0
    run, _ = pool_scoring.scoring_plan(version.pk)
    assert runs_sweep()["critic_scoring_runs"] == 0
    version.refresh_from_db()
    assert version.score_status == CriticVersion.ScoreStatus.RUNNING and version.score_chunks["run"] == run


def test_chunks_never_begun_a_day_after_the_plan_count_as_lost(settings, chunked):
    version, _ = chunked
    settings.LOUPE_CHUNK_QUEUED_LOST_AFTER_S, settings.LOUPE_CHUNK_REQUEUES = 0, 0  # "a day" has passed; no re-send left
    pool_scoring.scoring_plan(version.pk)
    assert runs_sweep()["critic_scoring_runs"] == 1
    version.refresh_from_db()
    assert version.score_status == CriticVersion.ScoreStatus.FAILED
    assert version.score_error.startswith("Chunk 1 of 2 was lost 1 time (it never began: its message is gone from the broker); 2 of 2")


def test_a_chunk_never_begun_while_a_later_one_began_long_ago_counts_as_lost_before_the_day(settings, chunked):
    version, _ = chunked
    settings.LOUPE_CHUNK_REQUEUES = 0
    run, chunks = pool_scoring.scoring_plan(version.pk)
    pool_scoring.chunk_score(version.pk, run, 1, chunks[1], worker="w1")  # the second chunk ran; the first never began
    settings.LOUPE_CHUNK_LOST_AFTER_S = 3600  # ... only just now: the first may still be on its way to a worker
    assert runs_sweep()["critic_scoring_runs"] == 0
    settings.LOUPE_CHUNK_LOST_AFTER_S = 0  # the second began "long ago": the first's message is gone
    assert runs_sweep()["critic_scoring_runs"] == 1
    version.refresh_from_db()
    assert version.score_status == CriticVersion.ScoreStatus.FAILED
    assert version.score_error.startswith("Chunk 1 of 2 was lost 1 time (it never began: its message is gone from the broker)")


def test_a_chunk_lost_more_often_than_allowed_fails_the_scoring_run_with_the_reason(settings, chunked):
    version, _ = chunked
    settings.LOUPE_CHUNK_LOST_AFTER_S, settings.LOUPE_CHUNK_REQUEUES = 0, 0
    run, chunks = pool_scoring.scoring_plan(version.pk)
    pool_scoring.chunk_score(version.pk, run, 0, chunks[0], worker="w1")
    pool_scoring._chunks_update(version.pk, run, lambda v, state: chunk_began(state, 1, "gone@host"))  # its worker died here
    assert runs_sweep()["critic_scoring_runs"] == 1
    version.refresh_from_db()
    assert version.score_status == CriticVersion.ScoreStatus.FAILED
    assert version.score_error.startswith("Chunk 2 of 2 was lost 1 time (its worker gone@host stopped mid-chunk")
    assert "1 of 2 chunks were not done" in version.score_error


def test_a_chunked_study_system_waiting_for_its_chunks_is_not_failed_but_a_lost_chunk_ends_it(settings, chunked, project, researcher):
    version, images = chunked
    study = study_create(project=project, name="s", created_by=researcher, annotators=[], image_ids=[i.pk for i in images],
                         instruction="How good is this image?")
    system = system_add_critic(study=study, name="c", critic_version=version)
    run, _ = answers.critic_answers_plan(system.pk)
    _silent(System, system.pk)
    assert runs_sweep()["studies.System"] == 0  # waiting for its chunks: beaten, not counted (or logged) as a change
    system.refresh_from_db()
    assert system.status == System.Status.RUNNING and system.heartbeat_at > timezone.now() - timedelta(minutes=1)

    settings.LOUPE_CHUNK_LOST_AFTER_S, settings.LOUPE_CHUNK_REQUEUES = 0, 0
    chunks_update(System, system.pk, "chunks", run, lambda row, state: chunk_began(state, 0, "gone@host"))
    _silent(System, system.pk)
    assert runs_sweep()["studies.System"] == 1
    system.refresh_from_db()
    assert system.status == System.Status.FAILED and system.error.startswith("Chunk 1 of 2 was lost 1 time (")


def test_a_chunked_benchmark_run_waiting_for_its_chunks_is_not_failed_but_a_lost_chunk_ends_it(settings, chunked, project, researcher):
    version, _ = chunked
    spec = RunSpec(system_kind="critic", critic_version_id=version.pk, protocols=["single"], promptings=["standard"], subset_size=6, rounds=1)
    run = benchmark_run_create(project=project, user=researcher, spec=spec)
    token, _ = execution.critic_run_plan(run.pk)
    _silent(BenchmarkRun, run.pk)
    assert runs_sweep()["system_benchmarks.BenchmarkRun"] == 0
    run.refresh_from_db()
    assert run.status == BenchmarkRun.Status.RUNNING

    settings.LOUPE_CHUNK_LOST_AFTER_S, settings.LOUPE_CHUNK_REQUEUES = 0, 0
    chunks_update(BenchmarkRun, run.pk, "chunks", token, lambda row, state: chunk_began(state, 1, "gone@host"))
    _silent(BenchmarkRun, run.pk)
    runs_sweep()
    run.refresh_from_db()
    assert run.status == BenchmarkRun.Status.FAILED and run.error.startswith("Chunk 2 of 2 was lost 1 time (")
    assert run.error.endswith("Answered calls are kept; Resume goes on from here.")
