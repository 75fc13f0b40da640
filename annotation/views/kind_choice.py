"""An annotator member chooses the kind of task they work on in a project (or mixed)."""
from django.contrib import messages
from django.core.exceptions import ValidationError
from django.shortcuts import redirect
from django.views import View

from annotation.models import Membership
from annotation.services.projects import membership_kind_choose
from annotation.views.work import ProjectAnnotatorMixin
from annotation.vocabulary import TaskKind


class KindChooseView(ProjectAnnotatorMixin, View):
    """POST `kind` (a task kind the project enables, or blank for mixed); back to My projects."""

    http_method_names = ["post"]

    def post(self, request, project_id):
        membership = Membership.objects.select_related("project").get(project=self.project, user=request.user)
        kind = request.POST.get("kind", "")
        try:
            membership_kind_choose(membership=membership, kind=kind)
        except ValidationError as exc:
            messages.error(request, " ".join(exc.messages))
        else:
            label = TaskKind(kind).label.lower() if kind else "mixed tasks"
            messages.success(request, f"In “{self.project.name}” you now get {label}.")
        return redirect("annotation:annotator_home")
