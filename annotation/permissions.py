"""Who may do what: small named rules returning a bool, and the DRF classes built on them. Default deny."""
from django.http import Http404
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


def is_project_member(user, project: Project) -> bool:
    """A member of the project in any role, or an admin: someone who may know that the project exists."""
    if not (user and user.is_authenticated):
        return False
    return user.is_superuser or Membership.objects.filter(project=project, user=user).exists()


def require_project_member(user, project: Project) -> None:
    """Http404 for a signed-in user with no role in the project, as if it did not exist, so that ids of other
    projects leak nothing; a member without the right role is then refused with 403 by the rule that follows.
    Anonymous users are left to that rule too (login page or 401)."""
    if user and user.is_authenticated and not is_project_member(user, project):
        raise Http404


def can_annotate_project(user, project: Project) -> bool:
    """An annotator member of the project works on it."""
    return bool(
        user
        and user.is_authenticated
        and user.is_active
        and Membership.objects.filter(project=project, user=user, role=Membership.Role.ANNOTATOR).exists()
    )


class IsResearcher(BasePermission):
    """The user is a researcher or an admin."""

    def has_permission(self, request, view) -> bool:
        return is_researcher(request.user)


class IsProjectResearcher(BasePermission):
    """The user manages the project the view works on (`view.get_project()`); 404 for one they have no role in."""

    def has_permission(self, request, view) -> bool:
        if not (request.user and request.user.is_authenticated):
            return False
        project = view.get_project()
        require_project_member(request.user, project)
        return is_researcher(request.user) and can_manage_project(request.user, project)
