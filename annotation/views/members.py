"""Account pages: a researcher's invitations, reset links and deactivation for members; accepting an invitation."""
import csv
import io

from django.contrib import messages
from django.contrib.auth import login
from django.core.exceptions import ValidationError
from django.http import HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views import View

from accounts.users import password_reset_path, user_deactivate
from annotation import selectors
from annotation.forms import MembershipAddForm
from annotation.forms_invitations import InvitationAcceptForm, InvitationCreateForm
from annotation.models import Membership
from annotation.services.invitations import invitation_accept, invitation_for_token, invitation_problem, invitations_create
from annotation.views.access import ProjectResearcherMixin


def members_page(request, project, *, status: int = 200, **extra):
    """The project's Members page, with whatever was just made (links shown once) in `extra`."""
    context = {
        "project": project,
        "members": selectors.project_members(project=project),
        "form": extra.pop("form", None) or MembershipAddForm(),
        "invite_form": extra.pop("invite_form", None) or InvitationCreateForm(user=request.user),
        **extra,
    }
    return render(request, "annotation/project_members.html", context, status=status)


class InvitationCreateView(ProjectResearcherMixin, View):
    """Make one or many invitation links; they are shown once (or downloaded as CSV) and never again."""

    http_method_names = ["post"]

    def post(self, request, project_id):
        form = InvitationCreateForm(request.POST, user=request.user)
        if not form.is_valid():
            return members_page(request, self.project, invite_form=form, status=400)
        try:
            issued = invitations_create(project=self.project, created_by=request.user, **form.cleaned_data)
        except ValidationError as exc:
            form.add_error(None, exc.messages)
            return members_page(request, self.project, invite_form=form, status=400)
        links = [(request.build_absolute_uri(item.path), item.invitation) for item in issued]
        if request.POST.get("output") == "csv":
            buffer = io.StringIO()
            writer = csv.writer(buffer)
            writer.writerow(["link", "role", "expires_at"])
            for link, invitation in links:
                writer.writerow([link, invitation.role, invitation.expires_at.isoformat()])
            response = HttpResponse(buffer.getvalue(), content_type="text/csv")
            response["Content-Disposition"] = f'attachment; filename="{self.project.slug}-invitations.csv"'
            return response
        return members_page(request, self.project, invitation_links=links)


class _MemberAccountView(ProjectResearcherMixin, View):
    http_method_names = ["post"]

    def membership(self) -> Membership:
        return get_object_or_404(Membership.objects.select_related("user"), pk=self.kwargs["membership_id"], project=self.project)


class PasswordResetLinkView(_MemberAccountView):
    """A one-time link on which a member sets a new password, shown to the researcher once."""

    def post(self, request, project_id, membership_id):
        member = self.membership().user
        try:
            path = password_reset_path(user=member, by=request.user)
        except ValidationError as exc:
            messages.error(request, " ".join(exc.messages))
            return redirect("annotation:project_members", project_id=self.project.pk)
        return members_page(request, self.project, reset_link=request.build_absolute_uri(path), reset_user=member)


class UserDeactivateView(_MemberAccountView):
    """Deactivate a member's account: they can no longer log in, anywhere."""

    def post(self, request, project_id, membership_id):
        member = self.membership().user
        try:
            user_deactivate(user=member, by=request.user)
        except ValidationError as exc:
            messages.error(request, " ".join(exc.messages))
        else:
            messages.success(request, f"Deactivated {member.username}: they can no longer log in.")
        return redirect("annotation:project_members", project_id=self.project.pk)


class InvitationAcceptView(View):
    """Open to anyone holding the link: choose a username and password, join the project, and land signed in."""

    template_name = "registration/invitation_accept.html"

    def _render(self, request, invitation, form, status=200):
        problem = invitation_problem(invitation)
        if problem:
            status = 404 if invitation is None else 410  # 410: used or expired
        context = {"invitation": invitation, "problem": problem, "form": form}
        return render(request, self.template_name, context, status=status)

    def get(self, request, token):
        return self._render(request, invitation_for_token(token=token), InvitationAcceptForm())

    def post(self, request, token):
        invitation = invitation_for_token(token=token)
        form = InvitationAcceptForm(request.POST)
        if invitation_problem(invitation) or not form.is_valid():
            return self._render(request, invitation, form, status=400)
        try:
            user = invitation_accept(token=token, username=form.cleaned_data["username"], password=form.cleaned_data["password1"])
        except ValidationError as exc:
            for field, errors in (exc.message_dict.items() if hasattr(exc, "error_dict") else [(None, exc.messages)]):
                form.add_error({"password": "password1"}.get(field, field) if field in ("username", "password") else None, errors)
            return self._render(request, invitation_for_token(token=token), form, status=400)
        login(request, user, backend="django.contrib.auth.backends.ModelBackend")
        messages.success(request, f"Welcome, {user.username}: you are a member of “{invitation.project.name}”.")
        return redirect("home")
