"""A critic version's benchmark run in chunks (config.chunks, system_benchmarks.services.execution), in this process
on the real database: the same answers and results as one pass, a redelivered chunk counts once, a failing chunk
is retried alone."""
from pathlib import Path

import pytest
from django.urls import reverse

from system_benchmarks.models import BenchmarkCall, BenchmarkRun
from system_benchmarks.services import execution
from system_benchmarks.services.runs import RunSpec, benchmark_run_create
from tests.modeling.critic.scorable import scorable_version
from tests.system_benchmarks.conftest import labelled

pytestmark = pytest.mark.django_db


@pytest.fixture
def critic_spec(settings, tmp_path, project):
    settings.LOUPE_CRITIC_BASE_DIR = ""
    settings.LOUPE_CRITIC_DIR = tmp_path / "critic"
    images = labelled(project, 6)
    version = scorable_version(project)
    spec = RunSpec(system_kind="critic", critic_version_id=version.pk, protocols=["single", "double"], promptings=["standard"],
                   subset_size=6, seed=3, rounds=1)
    return spec, images


def _answers(run) -> dict[str, str]:
    return dict(run.calls.values_list("key", "answer"))


def test_a_chunked_run_answers_and_scores_as_one_pass(settings, project, researcher, critic_spec):
    spec, _ = critic_spec
    whole = execution.benchmark_run_execute(run_id=benchmark_run_create(project=project, user=researcher, spec=spec).pk)
    settings.LOUPE_CRITIC_ANSWER_CHUNK = 2
    chunked = execution.critic_run_execute(run_id=benchmark_run_create(project=project, user=researcher, spec=spec).pk)
    assert whole.status == chunked.status == BenchmarkRun.Status.DONE, (whole.error, chunked.error)
    assert chunked.n_calls == 6 + 3 and chunked.chunks_total == 5 and chunked.chunks["done"] == [0, 1, 2, 3, 4]
    assert set(chunked.chunks["attempts"].values()) == {1}
    assert _answers(chunked) == _answers(whole)
    assert chunked.results["cells"] == whole.results["cells"]


def test_a_redelivered_chunk_counts_once(settings, client, project, researcher, critic_spec):
    spec, _ = critic_spec
    settings.LOUPE_CRITIC_ANSWER_CHUNK = 4
    run = benchmark_run_create(project=project, user=researcher, spec=spec)
    token, chunks = execution.critic_run_plan(run.pk)
    assert [len(c) for c in chunks] == [4, 4, 1]
    assert execution.critic_run_chunk(run.pk, token, 1, chunks[1], worker="w1") == 4
    assert execution.critic_run_chunk(run.pk, token, 1, chunks[1], worker="w2") == 0  # the same message again
    run.refresh_from_db()
    assert run.chunks["done"] == [1] and run.chunks["attempts"] == {"1": 2} and run.n_answered == 4
    client.force_login(researcher)  # the run's page shows the chunks while it runs
    assert "1 of 3 chunks" in client.get(reverse("benchmarks:run", args=[run.project_id, run.pk])).content.decode()
    assert execution.critic_run_finish(run.pk, token).status == BenchmarkRun.Status.FAILED  # chunks 0 and 2 never ran
    run.refresh_from_db()
    assert "5 calls were not answered" in run.error


def test_a_failing_chunk_is_retried_alone(settings, project, researcher, critic_spec):
    spec, images = critic_spec
    settings.LOUPE_CRITIC_ANSWER_CHUNK = 4
    run = benchmark_run_create(project=project, user=researcher, spec=spec)
    token, chunks = execution.critic_run_plan(run.pk)
    last = BenchmarkCall.objects.get(pk=chunks[2][0])
    broken = Path(next(image for image in images if image.pk == last.image_ids[0]).file.path)
    hidden = broken.with_name(broken.name + ".away")
    for index in (0, 1):
        execution.critic_run_chunk(run.pk, token, index, chunks[index], worker="w")
    broken.rename(hidden)
    with pytest.raises(FileNotFoundError) as error:
        execution.critic_run_chunk(run.pk, token, 2, chunks[2], worker="w")
    execution.critic_run_chunk_failed(run.pk, token, 2, error.value, final=False)
    run.refresh_from_db()
    assert run.status == BenchmarkRun.Status.RUNNING and run.chunks["done"] == [0, 1] and list(run.chunks["failures"]) == ["2"]

    hidden.rename(broken)
    assert execution.critic_run_chunk(run.pk, token, 2, chunks[2], worker="w") == 1
    run = execution.critic_run_finish(run.pk, token)
    assert run.status == BenchmarkRun.Status.DONE and run.n_answered == run.n_calls == 9
    assert run.chunks["attempts"] == {"0": 1, "1": 1, "2": 2}


def test_a_chunk_failing_on_its_last_attempt_fails_the_run_and_keeps_the_answers(settings, project, researcher, critic_spec):
    spec, _ = critic_spec
    settings.LOUPE_CRITIC_ANSWER_CHUNK = 4
    run = benchmark_run_create(project=project, user=researcher, spec=spec)
    token, chunks = execution.critic_run_plan(run.pk)
    execution.critic_run_chunk(run.pk, token, 0, chunks[0], worker="w")
    execution.critic_run_chunk_failed(run.pk, token, 1, OSError("disk gone"), final=True)
    run.refresh_from_db()
    assert run.status == BenchmarkRun.Status.FAILED and run.n_answered == 4
    assert run.error.startswith("Chunk 2 of 3 failed after 1 attempts: OSError: disk gone.")
