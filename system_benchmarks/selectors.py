"""Reads for system benchmarks: a project's runs, one run, its calls, its challenge sets."""
from __future__ import annotations

from django.db.models import QuerySet

from annotation.models import Project
from system_benchmarks.models import BenchmarkCall, BenchmarkRun, ChallengeSet


def benchmark_runs(*, project: Project) -> QuerySet[BenchmarkRun]:
    return BenchmarkRun.objects.filter(project=project).select_related("critic_version").order_by("-created_at", "-id")


def benchmark_run_get(*, project: Project, run_id: int) -> BenchmarkRun | None:
    return benchmark_runs(project=project).filter(pk=run_id).first()


def benchmark_calls(*, run: BenchmarkRun, status: str | None = None) -> QuerySet[BenchmarkCall]:
    calls = BenchmarkCall.objects.filter(run=run).order_by("id")
    return calls.filter(status=status) if status else calls


def challenge_sets(*, project: Project) -> QuerySet[ChallengeSet]:
    return ChallengeSet.objects.filter(project=project).order_by("-created_at", "-id")


def challenge_set_get(*, project: Project, challenge_id: int) -> ChallengeSet | None:
    return challenge_sets(project=project).filter(pk=challenge_id).first()


def critic_versions_trained(*, project: Project):
    """The project's critic versions that can be benchmarked (trained, with an adapter)."""
    from modeling.critic.models import CriticVersion

    return CriticVersion.objects.filter(
        project=project, status__in=[CriticVersion.Status.READY, CriticVersion.Status.ACTIVE, CriticVersion.Status.RETIRED],
    ).exclude(artifact_sha256="").order_by("-number")
