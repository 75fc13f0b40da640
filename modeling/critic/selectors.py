"""Reads about a project's critic versions and their scores."""
from django.db.models import QuerySet

from annotation.models import Project
from modeling.critic.models import CriticScore, CriticText, CriticVersion

#: Critic metrics drawn over versions: label -> path into CriticVersion.metrics.
CRITIC_SERIES = {
    "SRCC vs scaled scores": ("scaling", "srcc"),
    "PLCC vs scaled scores": ("scaling", "plcc"),
    "SRCC vs MOS": ("mos", "srcc"),
    "Pairwise accuracy": ("pairwise", "accuracy"),
}


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
    """Each evaluated critic version's held-out metrics, oldest first."""
    history = []
    for number, status, metrics in CriticVersion.objects.filter(project=project).order_by("number").values_list("number", "status", "metrics"):
        if not metrics:
            continue
        values = {label: (metrics.get(group) or {}).get(key) for label, (group, key) in CRITIC_SERIES.items()}
        history.append({"version": number, "status": status, "n_heldout_images": metrics.get("n_heldout_images"), "metrics": values})
    return history
