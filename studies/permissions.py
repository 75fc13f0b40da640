"""Who may do what in studies: the project's researchers run them, assigned annotators vote. Default deny."""
from django.shortcuts import get_object_or_404
from rest_framework.permissions import BasePermission

from annotation.permissions import can_annotate_project, can_manage_project, is_researcher, require_project_member
from studies.models import Study


def can_manage_study(user, study: Study) -> bool:
    """A researcher who manages the study's project (or an admin)."""
    return can_manage_project(user, study.project)


def can_vote_in_study(user, study: Study) -> bool:
    """An annotator of the project who is assigned to the study."""
    return can_annotate_project(user, study.project) and study.annotators.filter(pk=user.pk).exists()


class StudyMixin:
    """A view about one study, named by `study_id` in the URL."""

    _study: Study | None = None

    def get_study(self) -> Study:
        if self._study is None:
            self._study = get_object_or_404(Study.objects.select_related("project"), pk=self.kwargs["study_id"])
        return self._study


class IsStudyResearcher(BasePermission):
    """The user manages the project of the study the view works on (`view.get_study()`); 404 for a user with no
    role in that project."""

    def has_permission(self, request, view) -> bool:
        if not (request.user and request.user.is_authenticated):
            return False
        study = view.get_study()
        require_project_member(request.user, study.project)
        return is_researcher(request.user) and can_manage_study(request.user, study)


class IsStudyAnnotator(BasePermission):
    """The user is assigned to the study and annotates its project; 404 for a user with no role in that project."""

    def has_permission(self, request, view) -> bool:
        if not (request.user and request.user.is_authenticated):
            return False
        study = view.get_study()
        require_project_member(request.user, study.project)
        return can_vote_in_study(request.user, study)
