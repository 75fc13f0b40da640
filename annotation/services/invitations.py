"""Invitations: one-time links with which new people choose a username and password and join a project."""
import hashlib
import secrets
from dataclasses import dataclass
from datetime import timedelta

from django.core.exceptions import ValidationError
from django.db import transaction
from django.urls import reverse
from django.utils import timezone

from accounts.models import Role
from accounts.users import user_create
from annotation.models import Invitation
from annotation.services.projects import membership_add

INVITATION_DAYS_DEFAULT = 7
INVITATIONS_AT_ONCE_MAX = 500


def _token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


@dataclass(frozen=True)
class IssuedInvitation:
    """An invitation with its token, which exists only here: the database keeps its hash."""

    invitation: Invitation
    token: str

    @property
    def path(self) -> str:
        return reverse("invitation_accept", kwargs={"token": self.token})


@transaction.atomic
def invitations_create(*, project, role: str, created_by, count: int = 1, days: int = INVITATION_DAYS_DEFAULT) -> list[IssuedInvitation]:
    """Make `count` one-time invitations to `project` with `role`, each valid for `days` days."""
    if role not in Role.values:
        raise ValidationError({"role": f"Unknown role {role!r}."})
    if role == Role.RESEARCHER and not created_by.is_superuser:
        raise ValidationError({"role": "Only an admin can invite researchers."})
    if not 1 <= count <= INVITATIONS_AT_ONCE_MAX:
        raise ValidationError({"count": f"Between 1 and {INVITATIONS_AT_ONCE_MAX} invitations at once."})
    if not 1 <= days <= 365:
        raise ValidationError({"days": "An invitation lasts between 1 and 365 days."})
    expires_at = timezone.now() + timedelta(days=days)
    issued = []
    for _ in range(count):
        token = secrets.token_urlsafe(32)
        invitation = Invitation.objects.create(
            project=project, role=role, token_hash=_token_hash(token), expires_at=expires_at, created_by=created_by
        )
        issued.append(IssuedInvitation(invitation=invitation, token=token))
    return issued


def invitation_problem(invitation: Invitation | None) -> str:
    """Why an invitation cannot be used ('' when it can)."""
    if invitation is None:
        return "This invitation link is not valid. Ask the researcher who sent it for a new one."
    if invitation.used_at is not None:
        return "This invitation has already been used. Log in with the account it created, or ask for a new link."
    if invitation.expires_at <= timezone.now():
        return "This invitation has expired. Ask the researcher who sent it for a new one."
    return ""


def invitation_for_token(*, token: str) -> Invitation | None:
    """The invitation a link's token belongs to, or None."""
    return Invitation.objects.select_related("project").filter(token_hash=_token_hash(token)).first()


@transaction.atomic
def invitation_accept(*, token: str, username: str, password: str):
    """Create the invited user with `password`, make them a member of the project, and use the invitation up.

    Raises ValidationError when the invitation cannot be used, the username is taken, or the password fails
    Django's password validators.
    """
    invitation = Invitation.objects.select_for_update().select_related("project").filter(token_hash=_token_hash(token)).first()
    problem = invitation_problem(invitation)
    if problem:
        raise ValidationError(problem)
    user = user_create(username=username, role=invitation.role, password=password)
    membership_add(project=invitation.project, user=user, role=invitation.role)
    invitation.used_at = timezone.now()
    invitation.used_by = user
    invitation.save(update_fields=["used_at", "used_by"])
    return user
