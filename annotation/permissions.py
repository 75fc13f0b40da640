"""Who may do what: small named rules returning a bool, and the DRF classes built on them. Default deny."""
from rest_framework.permissions import BasePermission

from annotation.models import Membership, Project


def is_researcher(user) -> bool:
    """Researchers (and admins) may create projects and reach researcher pages at all."""
    return bool(user and user.is_authenticated and user.is_researcher)


def can_manage_project(user, project: Project) -> bool:
    """A researcher member of the project, or an admin, manages it (imports, members, exports, studies)."""
    if not is_researcher(user):
        return False
    if user.is_superuser:
        return True
    return Membership.objects.filter(project=project, user=user, role=Membership.Role.RESEARCHER).exists()


def can_annotate_project(user, project: Project) -> bool:
    """An annotator member of the project works on it."""
    return bool(
        user
        and user.is_authenticated
        and user.is_active
        and Membership.objects.filter(project=project, user=user, role=Membership.Role.ANNOTATOR).exists()
    )


def can_view_project_images(user, project: Project) -> bool:
    """Anyone who manages or annotates the project may see its image files."""
    return can_manage_project(user, project) or can_annotate_project(user, project)


class IsResearcher(BasePermission):
    """The user is a researcher or an admin."""

    def has_permission(self, request, view) -> bool:
        return is_researcher(request.user)


class IsProjectResearcher(BasePermission):
    """The user manages the project the view works on (`view.get_project()`)."""

    def has_permission(self, request, view) -> bool:
        return is_researcher(request.user) and can_manage_project(request.user, view.get_project())
