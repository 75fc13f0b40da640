"""Access rules for class-based pages: default deny, anonymous users to the login page, members of the page's
project without the right role 403, other signed-in users 404 (ids of other projects leak nothing)."""
from django.contrib.auth.mixins import AccessMixin
from django.core.exceptions import PermissionDenied
from django.shortcuts import get_object_or_404

from annotation.models import Project
from annotation.permissions import can_manage_project, is_researcher, require_project_member


class RuleRequiredMixin(AccessMixin):
    """A page open only to what `has_access()` allows; it allows nothing unless a subclass says otherwise.

    The rule runs before the method is dispatched, so a forbidden user gets 403 for every method, never
    405 or a form error that would tell them something about the page.
    """

    def has_access(self) -> bool:
        return False

    def dispatch(self, request, *args, **kwargs):
        if not request.user.is_authenticated:
            return self.handle_no_permission()  # redirect to the login page, then back here
        if not self.has_access():
            raise PermissionDenied
        return super().dispatch(request, *args, **kwargs)


class SignedInMixin(RuleRequiredMixin):
    """Any active user who is signed in."""

    def has_access(self) -> bool:
        return self.request.user.is_active


class ResearcherRequiredMixin(RuleRequiredMixin):
    """Researchers and admins."""

    def has_access(self) -> bool:
        return is_researcher(self.request.user)


class ProjectResearcherMixin(ResearcherRequiredMixin):
    """Researchers who manage the project the page is about (and admins).

    The project is looked up first: a user with no role in it gets 404, as for a project that does not exist;
    a member who does not manage it (an annotator) gets 403.
    """

    project: Project

    def get_project(self) -> Project:
        return get_object_or_404(Project, pk=self.kwargs["project_id"])

    def has_access(self) -> bool:
        self.project = self.get_project()
        require_project_member(self.request.user, self.project)
        return super().has_access() and can_manage_project(self.request.user, self.project)
