"""What the `gpu` queue is busy with: the run rows a gpu-queue task is working on now, in words."""
from django.apps import apps

from config.runs import run_is_stale


def gpu_queue_busy_with() -> list[str]:
    """One line per gpu-queue run a live worker holds now (critic training or scoring, critic benchmark runs,
    critic study answers), oldest first: "Critic v1 training (project demo), step 248/1300". Rows that lost
    their worker (config.runs.run_is_stale) are left out."""
    CriticVersion = apps.get_model("modeling", "CriticVersion")
    BenchmarkRun = apps.get_model("system_benchmarks", "BenchmarkRun")
    System = apps.get_model("studies", "System")
    busy = []
    for version in CriticVersion.objects.filter(status__in=CriticVersion.RUN_WORKING).select_related("project").order_by("started_at", "id"):
        if run_is_stale(version):
            continue  # its worker is gone: the sweep fails the row
        step = f", step {version.step}/{version.total_steps}" if version.total_steps else ""
        busy.append((version.started_at, f"Critic v{version.number} {version.get_status_display().lower()} (project {version.project.slug}){step}"))
    for version in CriticVersion.objects.filter(score_status=CriticVersion.ScoreStatus.RUNNING).select_related("project").order_by("id"):
        busy.append((version.scored_at or version.updated_at, f"Critic v{version.number} scoring the pool (project {version.project.slug}), {version.scored_count} images so far, "
                     f"{version.score_chunks_done} of {version.score_chunks_total} chunks"))
    for run in BenchmarkRun.objects.filter(status__in=BenchmarkRun.RUN_WORKING, system_kind=BenchmarkRun.SystemKind.CRITIC).select_related("project"):
        if run_is_stale(run):
            continue
        busy.append((run.started_at, f"benchmark run {run.name or run.pk} (project {run.project.slug}), {run.n_done} of {run.n_calls} calls"
                     + (f", {run.chunks_done} of {run.chunks_total} chunks" if run.chunks_total else "")))
    for system in System.objects.filter(status__in=System.RUN_WORKING, kind=System.Kind.CRITIC).select_related("study"):
        if run_is_stale(system):
            continue
        busy.append((system.started_at, f"study “{system.study.name}” answers from {system.name}, {system.answered_count} so far"
                     + (f", {system.chunks_done} of {system.chunks_total} chunks" if system.chunks_total else "")))
    return [text for _, text in sorted(busy, key=lambda entry: (entry[0] is None, entry[0] or 0))]


def gpu_queue_wait_note() -> str:
    """What a queued gpu-queue run waits for, for its Queued state."""
    busy = gpu_queue_busy_with()
    if not busy:
        return "Waiting for a gpu worker (none has picked it up yet: the Workers page shows whether one runs)."
    return "Waiting for a gpu worker; one is busy with " + "; ".join(busy) + "."
