"""Reads about a project's critic versions and their scores."""
from django.db.models import QuerySet

from annotation.models import Project
from modeling.critic.models import CriticScore, CriticText, CriticVersion

#: A held-out metric on fewer images (or pairs) than this is shown as "too few to judge", not as a number: an SRCC
#: on 7 images has a standard error near 0.4 and says nothing about a version.
MIN_METRIC_N = 10

#: Critic metrics drawn over versions: label -> path into CriticVersion.metrics.
CRITIC_SERIES = {
    "SRCC vs scaled scores": ("scaling", "srcc"),
    "PLCC vs scaled scores": ("scaling", "plcc"),
    "SRCC vs MOS": ("mos", "srcc"),
    "Pairwise accuracy": ("pairwise", "accuracy"),
}


def metric_block_judgeable(block) -> bool:
    """Whether a held-out metrics block (`{"n": ..., ...}`) rests on enough images (or pairs) to be shown as a number."""
    return isinstance(block, dict) and isinstance(block.get("n"), int) and block["n"] >= MIN_METRIC_N


#: Held-out metrics that Promote compares with the active version's (higher is better): (group, key, label).
PROMOTE_METRICS = (
    ("scaling", "srcc", "SRCC vs scaled scores"),
    ("mos", "srcc", "SRCC vs MOS"),
    ("pairwise", "accuracy", "pairwise accuracy"),
    ("demo_hidden_severity", "srcc", "SRCC vs hidden severity (demo only)"),
)


def critic_version_regressions(*, version: CriticVersion, than: CriticVersion) -> list[str]:
    """The held-out metrics on which `version` is worse than `than`, each as a sentence; only metrics that both
    versions computed on enough images (MIN_METRIC_N) count, since a smaller difference is noise."""
    worse = []
    for group, key, label in PROMOTE_METRICS:
        mine, theirs = (version.metrics or {}).get(group), (than.metrics or {}).get(group)
        if not (metric_block_judgeable(mine) and metric_block_judgeable(theirs)):
            continue
        if mine.get(key) is None or theirs.get(key) is None or mine[key] >= theirs[key]:
            continue
        worse.append(f"{label} {mine[key]:.3f} against v{than.number}'s {theirs[key]:.3f} (n={mine['n']})")
    return worse


def critic_versions(*, project: Project) -> QuerySet[CriticVersion]:
    """The project's versions, newest first."""
    return CriticVersion.objects.filter(project=project).select_related("created_by", "parent").order_by("-number")


def critic_version_active(*, project: Project) -> CriticVersion | None:
    return CriticVersion.objects.filter(project=project, status=CriticVersion.Status.ACTIVE).first()


def critic_version_pending(*, project: Project) -> CriticVersion | None:
    """The version being queued, trained or evaluated, if any (at most one at a time)."""
    return critic_versions(project=project).filter(status__in=CriticVersion.PENDING).first()


def critic_version_get(*, project: Project, version_id: int) -> CriticVersion | None:
    return critic_versions(project=project).filter(pk=version_id).first()


def critic_scores_top(*, version: CriticVersion, limit: int = 20) -> QuerySet[CriticScore]:
    """The version's best and worst scored images are what a researcher looks at first; here the best."""
    return CriticScore.objects.filter(version=version).select_related("image").order_by("-score", "image_id")[:limit]


def critic_busy(*, project: Project) -> bool:
    """Something of the project's critic is running or queued (the page polls while this holds)."""
    return CriticVersion.objects.filter(project=project).filter(
        status__in=CriticVersion.PENDING,
    ).exists() or CriticVersion.objects.filter(
        project=project, score_status__in=(CriticVersion.ScoreStatus.QUEUED, CriticVersion.ScoreStatus.RUNNING),
    ).exists()


def critic_texts(*, version: CriticVersion, limit: int = 200) -> QuerySet[CriticText]:
    """The version's descriptions, newest first (the page shows them as they arrive)."""
    return CriticText.objects.filter(version=version, task="description").select_related("image").order_by("-id")[:limit]


def critic_history(*, project: Project) -> list[dict]:
    """Each evaluated critic version's held-out metrics, oldest first.

    A metric on fewer than MIN_METRIC_N images (or pairs) is None in `metrics` and named in `too_few`.
    """
    history = []
    for number, status, metrics in CriticVersion.objects.filter(project=project).order_by("number").values_list("number", "status", "metrics"):
        if not metrics:
            continue
        values, too_few = {}, []
        for label, (group, key) in CRITIC_SERIES.items():
            block = metrics.get(group) or {}
            judgeable = block.get(key) is None or metric_block_judgeable(block)
            values[label] = block.get(key) if judgeable else None
            if not judgeable:
                too_few.append(label)
        history.append({"version": number, "status": status, "n_heldout_images": metrics.get("n_heldout_images"),
                        "metrics": values, "too_few": too_few})
    return history
