"""What the gpu queue is busy with, and the Queued states that say what they wait for."""
import pytest
from django.urls import reverse
from django.utils import timezone

from config.processes import worker_identity
from modeling.critic.models import CriticVersion
from modeling.gpu_queue import gpu_queue_busy_with, gpu_queue_wait_note
from system_benchmarks.models import BenchmarkRun


def _alive() -> dict:
    """The columns of a run this (living) process holds, beating now."""
    return {"started_at": timezone.now(), "heartbeat_at": timezone.now(), "worker": worker_identity()}


def _version(project, number: int, **fields) -> CriticVersion:
    return CriticVersion.objects.create(project=project, number=number, base_model_dir="unused", **fields)


@pytest.mark.django_db
def test_busy_with_lists_working_gpu_runs_only(project):
    """A training version and a critic benchmark run that a worker holds are listed; queued, endpoint and
    stale runs (no heartbeat) are not."""
    _version(project, 1, status=CriticVersion.Status.TRAINING, step=248, total_steps=1300, **_alive())
    _version(project, 2, status=CriticVersion.Status.QUEUED)
    _version(project, 3, status=CriticVersion.Status.TRAINING, step=5, total_steps=10)  # no heartbeat: its worker is gone
    common = {"project": project, "protocols": ["single"], "promptings": ["standard"], "subset_size": 4, "n_calls": 8}
    BenchmarkRun.objects.create(system_kind=BenchmarkRun.SystemKind.ENDPOINT, status=BenchmarkRun.Status.RUNNING, **common)
    critic_run = BenchmarkRun.objects.create(
        system_kind=BenchmarkRun.SystemKind.CRITIC, status=BenchmarkRun.Status.RUNNING, name="critic-bench",
        **_alive(), **common,
    )
    assert gpu_queue_busy_with() == [
        f"Critic v1 training (project {project.slug}), step 248/1300",
        f"benchmark run critic-bench (project {project.slug}), {critic_run.n_done} of 8 calls",
    ]


@pytest.mark.django_db
def test_wait_note_without_a_busy_worker(project):
    """With nothing running, the note says only that the run waits for a gpu worker, and where to check one runs."""
    assert gpu_queue_wait_note().startswith("Waiting for a gpu worker (none has picked it up yet")


@pytest.mark.django_db
def test_critic_page_says_what_a_queued_version_waits_for(client, project, researcher):
    """The Critic page's queued version names the gpu worker it waits for and what that worker is doing."""
    _version(project, 1, status=CriticVersion.Status.TRAINING, step=248, total_steps=1300, **_alive())
    _version(project, 2, status=CriticVersion.Status.QUEUED)
    client.force_login(researcher)
    page = client.get(reverse("critic:index", kwargs={"project_id": project.pk})).content.decode()
    assert f"Waiting for a gpu worker; one is busy with Critic v1 training (project {project.slug}), step 248/1300." in page


@pytest.mark.django_db
def test_workers_page_says_a_busy_gpu_worker_runs(client, project, researcher):
    """While a gpu worker trains, the Workers page says it is busy with that run (and answers afterwards) instead of
    suggesting that no GPU worker runs; with nothing running it says how to tell (issue 17, bug 5)."""
    client.force_login(researcher)
    idle = client.get(reverse("workers")).content.decode()
    assert 'data-testid="gpu-idle"' in idle and 'data-testid="gpu-busy"' not in idle
    _version(project, 1, status=CriticVersion.Status.TRAINING, step=248, total_steps=1300, **_alive())
    busy = client.get(reverse("workers")).content.decode()
    assert 'data-testid="gpu-busy"' in busy and "no GPU worker is running" not in busy
    assert f"Critic v1 training (project {project.slug}), step 248/1300" in busy


@pytest.mark.django_db
def test_critic_page_says_in_words_that_the_active_version_scores_the_pool(client, project, researcher):
    """An active version scoring its pool reads "scoring the pool now", not "its scores are scoring" (issue 17, bug 7)."""
    _version(project, 1, status=CriticVersion.Status.ACTIVE, score_status=CriticVersion.ScoreStatus.RUNNING)
    client.force_login(researcher)
    page = client.get(reverse("critic:index", kwargs={"project_id": project.pk})).content.decode()
    assert "scoring the pool now" in page and "are scoring" not in page
