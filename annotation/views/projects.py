"""Project pages: the researcher's list, create, detail with its image grid, members (the annotator's home is in views/work.py)."""
from django.contrib import messages
from django.core.exceptions import ValidationError
from django.core.paginator import Paginator
from django.shortcuts import get_object_or_404, redirect, render
from django.views import View

from annotation import selectors
from annotation.forms import MembershipAddForm, ProjectCreateForm
from annotation.forms_invitations import InvitationCreateForm
from annotation.models import Membership
from annotation.services.projects import membership_add, membership_remove, project_create
from annotation.views.access import ProjectResearcherMixin, ResearcherRequiredMixin

IMAGES_PER_PAGE = 48
RECENT_IMPORTS = 10


def _form_errors_from(form, exc: ValidationError) -> None:
    """Show a service's ValidationError on the form: on its field when it names one the form has."""
    if hasattr(exc, "error_dict"):
        for field, errors in exc.message_dict.items():
            form.add_error(field if field in form.fields else None, errors)
    else:
        form.add_error(None, exc.messages)


class ProjectListView(ResearcherRequiredMixin, View):
    """The projects the researcher manages (all of them for an admin)."""

    def get(self, request):
        projects = selectors.project_list_managed(user=request.user)
        return render(request, "annotation/project_list.html", {"projects": projects})


class ProjectCreateView(ResearcherRequiredMixin, View):
    """A new project, managed by whoever creates it."""

    template_name = "annotation/project_create.html"

    def get(self, request):
        return render(request, self.template_name, {"form": ProjectCreateForm()})

    def post(self, request):
        form = ProjectCreateForm(request.POST)
        if form.is_valid():
            try:
                project = project_create(user=request.user, **form.cleaned_data)
            except ValidationError as exc:
                _form_errors_from(form, exc)
            else:
                messages.success(request, f"Created project “{project.name}”.")
                return redirect("annotation:project_detail", project_id=project.pk)
        return render(request, self.template_name, {"form": form})


class ProjectDetailView(ProjectResearcherMixin, View):
    """The project's images, a page at a time, and its recent imports."""

    def get(self, request, project_id):
        page = Paginator(selectors.project_images(project=self.project), IMAGES_PER_PAGE).get_page(request.GET.get("page"))
        context = {
            "project": self.project,
            "page": page,
            "imports": selectors.project_import_batches(project=self.project)[:RECENT_IMPORTS],
            "members": selectors.project_members(project=self.project),
        }
        return render(request, "annotation/project_detail.html", context)


class ProjectMembersView(ProjectResearcherMixin, View):
    """Who works on the project; add an existing account as annotator or researcher, or invite new people (views/members.py)."""

    template_name = "annotation/project_members.html"

    def _render(self, request, form, status=200):
        context = {
            "project": self.project, "members": selectors.project_members(project=self.project), "form": form,
            "invite_form": InvitationCreateForm(user=request.user),
        }
        return render(request, self.template_name, context, status=status)

    def get(self, request, project_id):
        return self._render(request, MembershipAddForm())

    def post(self, request, project_id):
        form = MembershipAddForm(request.POST)
        if form.is_valid():
            user, role = form.cleaned_data["user"], form.cleaned_data["role"]
            try:
                membership_add(project=self.project, user=user, role=role)
            except ValidationError as exc:
                _form_errors_from(form, exc)
            else:
                label = Membership.Role(role).label.lower()
                article = "an" if label[:1] in "aeiou" else "a"
                messages.success(request, f"{user.username} is now {article} {label} of this project.")
                return redirect("annotation:project_members", project_id=self.project.pk)
        return self._render(request, form)


class MembershipRemoveView(ProjectResearcherMixin, View):
    """Take a member off the project (POST only)."""

    http_method_names = ["post"]

    def post(self, request, project_id, membership_id):
        membership = get_object_or_404(Membership.objects.select_related("user"), pk=membership_id, project=self.project)
        try:
            membership_remove(membership=membership)
        except ValidationError as exc:
            messages.error(request, " ".join(exc.messages))
        else:
            messages.success(request, f"Removed {membership.user.username} from the project.")
        return redirect("annotation:project_members", project_id=self.project.pk)
