"""A benchmark run through the real broker and worker against the scripted loopback server (the run's endpoint URL)."""
import time

import pytest
from django.db import transaction

from system_benchmarks.models import BenchmarkCall, BenchmarkRun
from system_benchmarks.services.runs import RunSpec, benchmark_run_create
from tests.llm_server import FakeLLMServer
from tests.system_benchmarks.conftest import labelled, script_run

pytestmark = [pytest.mark.worker, pytest.mark.django_db(transaction=True)]


def _wait(run, *, timeout_s=90, worker=None) -> BenchmarkRun:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        run.refresh_from_db()
        if not run.is_active:
            return run
        time.sleep(0.2)
    pytest.fail(f"benchmark #{run.pk} stuck at {run.status} ({run.n_done}/{run.n_calls}):\n{worker.log_tail() if worker else ''}")


def test_the_worker_runs_a_benchmark_against_the_loopback_endpoint(celery_worker, worker_media_root, project, researcher, loopback_endpoints):
    """The worker process calls the server named in the run, counts the scripted garbage as unparseable, and reports SRCC/PLCC."""
    labelled(project, 8)
    with FakeLLMServer() as server:
        spec = RunSpec(
            system_kind="endpoint", endpoint_base_url=server.base_url, endpoint_model="fake-vision-1",
            protocols=["single", "double"], promptings=["standard", "chain_of_thought"], subset_size=8, seed=1, rounds=2,
        )
        with transaction.atomic():  # the task is sent when this commits, after the answers are scripted
            run = benchmark_run_create(project=project, user=researcher, spec=spec)
            script_run(server, run, garbage_every=5)
        run = _wait(run, worker=celery_worker)
        assert run.status == BenchmarkRun.Status.DONE, run.error + celery_worker.log_tail()
        assert len(server.requests) == run.n_calls == 2 * (8 + 8)
    assert "Task system_benchmarks.run_endpoint" in celery_worker.log_path.read_text()
    assert run.n_unparseable == run.n_calls // 5
    assert run.calls.filter(status=BenchmarkCall.Status.UNPARSEABLE).count() == run.n_calls // 5
    cells = {(c["protocol"], c["prompting"]): c for c in run.results["cells"]}
    assert cells[("single", "standard")]["srcc"] > 0.9 and cells[("single", "standard")]["plcc"] > 0.9
    assert all(cell["srcc"] is not None for cell in cells.values())


def test_a_critic_version_is_benchmarked_on_the_gpu_queue(celery_worker, worker_media_root, project, researcher):
    """A version trained by the worker is then benchmarked by it (the `gpu`-routed task); every answer parses."""
    from annotation.vocabulary import TaskKind
    from config.celery import app
    from modeling.critic import services as critic_services
    from modeling.critic.models import CriticVersion
    from system_benchmarks.tasks import benchmark_run_critic
    from tests.evaluation.judgement_builders import annotators_make, judgements_add

    assert app.amqp.router.route({}, benchmark_run_critic.name)["queue"].name == "gpu"
    images = labelled(project, 12)
    judgements_add(project, [(image, 1 + i % 5) for i, image in enumerate(images)], annotators_make(project, 2), kind=TaskKind.RATING)
    version = critic_services.critic_version_request(
        project=project, overrides={"optimisation": {"max_steps": 2, "batch_size": 2, "vision_warmup_steps": 2}, "data": {"heldout_fraction": 0.3}},
    )
    deadline = time.monotonic() + 180
    while version.is_pending and time.monotonic() < deadline:
        time.sleep(0.5)
        version.refresh_from_db()
    assert version.status == CriticVersion.Status.READY, version.error + celery_worker.log_tail()
    spec = RunSpec(system_kind="critic", critic_version_id=version.pk, protocols=["single", "double"], promptings=["standard"], subset_size=6, rounds=1)
    run = _wait(benchmark_run_create(project=project, user=researcher, spec=spec), timeout_s=180, worker=celery_worker)
    assert run.status == BenchmarkRun.Status.DONE, run.error + celery_worker.log_tail()
    assert "Task system_benchmarks.run_critic" in celery_worker.log_path.read_text()
    assert run.n_answered == run.n_calls == 6 + 3 and run.n_unparseable == 0
    assert [c["protocol"] for c in run.results["cells"]] == ["single", "double"]
