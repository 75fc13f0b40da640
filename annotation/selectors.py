"""Reads of the annotation app: projects a user may see, their images, members and imports."""
from django.contrib.auth import get_user_model
from django.db.models import Count, QuerySet

from annotation.models import Image, ImportBatch, Membership, Project


def project_list_managed(*, user) -> QuerySet[Project]:
    """Projects the user manages, newest first: all of them for an admin, else those with a researcher membership."""
    # Explicit order: Meta.ordering does not apply to a grouped (annotated) query.
    projects = Project.objects.annotate(image_count=Count("images", distinct=True)).order_by("-created_at", "-id")
    if not (user.is_authenticated and user.is_researcher):
        return projects.none()
    if user.is_superuser:
        return projects
    return projects.filter(memberships__user=user, memberships__role=Membership.Role.RESEARCHER)


def project_images(*, project: Project) -> QuerySet[Image]:
    """The project's images in import order, with their reference image fetched alongside."""
    return Image.objects.filter(project=project).select_related("reference").order_by("id")


def image_distorted_versions(*, image: Image, limit: int = 50) -> QuerySet[Image]:
    """The images that name `image` as their pristine reference, first `limit` in import order."""
    return Image.objects.filter(reference=image).order_by("id")[:limit]


def project_members(*, project: Project) -> QuerySet[Membership]:
    """The project's memberships: researchers first, then annotators, each by username."""
    return (
        Membership.objects.filter(project=project)
        .select_related("user")
        .order_by("-role", "user__username")  # "researcher" sorts after "annotator"; reversed puts it first
    )


def project_import_batches(*, project: Project) -> QuerySet[ImportBatch]:
    """The project's imports, newest first."""
    return ImportBatch.objects.filter(project=project).select_related("created_by").order_by("-created_at", "-id")


def user_get_by_username(*, username: str):
    """The user with this username (case-insensitive, as people type it), or None."""
    users = list(get_user_model().objects.filter(username__iexact=username.strip())[:2])
    if len(users) == 2:
        # Two accounts differing only in case: take the exact spelling, if any.
        users = [u for u in users if u.username == username.strip()]
    return users[0] if len(users) == 1 else None


# The order in which a report's entries are shown: what needs attention first.
REPORT_STATUS_ORDER = ("error", "duplicate", "skipped", "imported")


def import_report_sorted(*, batch: ImportBatch) -> list[dict]:
    """The batch's per-file report, errors first, then duplicates, skipped and imported, each in file order."""
    rank = {status: position for position, status in enumerate(REPORT_STATUS_ORDER)}
    return sorted(batch.report or [], key=lambda entry: rank.get(entry.get("status"), len(rank)))
