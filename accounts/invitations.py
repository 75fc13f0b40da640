"""Writes and reads on accounts: invitations, new users, one-time password-reset links and deactivation."""
import hashlib
import secrets
from dataclasses import dataclass
from datetime import timedelta

from django.contrib.auth import get_user_model, password_validation
from django.contrib.auth.tokens import default_token_generator
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.urls import reverse
from django.utils import timezone
from django.utils.encoding import force_bytes
from django.utils.http import urlsafe_base64_encode

from accounts.models import Invitation, Role

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
    from annotation.services.projects import membership_add

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


@transaction.atomic
def user_create(*, username: str, role: str, password: str | None):
    """A new active user; without a password the account cannot log in until one is set."""
    User = get_user_model()
    username = (username or "").strip()
    if role not in Role.values:
        raise ValidationError({"role": f"Unknown role {role!r}."})
    user = User(username=username, role=role)
    try:
        user.full_clean(exclude=["password"])
    except ValidationError as exc:
        raise ValidationError({"username": exc.message_dict.get("username", exc.messages)}) from None
    if password is None:
        user.set_unusable_password()
    else:
        try:
            password_validation.validate_password(password, user)
        except ValidationError as exc:
            raise ValidationError({"password": exc.messages}) from None
        user.set_password(password)
    try:
        with transaction.atomic():
            user.save()
    except IntegrityError:
        raise ValidationError({"username": "A user with that username already exists."}) from None
    return user


def _member_account_check(*, user, by) -> None:
    """Researchers act on annotator accounts only; another researcher's or an admin's account is the admin's business."""
    if by.is_superuser:
        return
    if user.is_superuser or user.is_staff or user.role != Role.ANNOTATOR:
        raise ValidationError(f"Only an admin can do this to {user.username}, who is not an annotator.")


def password_reset_path(*, user, by) -> str:
    """A one-time link (Django's reset token: it stops working once the password changes, or after
    PASSWORD_RESET_TIMEOUT) on which `user` sets a new password. Shown to the researcher, as there is no mail server."""
    _member_account_check(user=user, by=by)
    if not user.is_active:
        raise ValidationError(f"{user.username} is deactivated.")
    uidb64 = urlsafe_base64_encode(force_bytes(user.pk))
    return reverse("password_reset_confirm", kwargs={"uidb64": uidb64, "token": default_token_generator.make_token(user)})


def user_deactivate(*, user, by) -> None:
    """Deactivate an account: it can no longer log in (Django's backends turn inactive users away)."""
    _member_account_check(user=user, by=by)
    if user.pk == by.pk:
        raise ValidationError("You cannot deactivate your own account.")
    user.is_active = False
    user.save(update_fields=["is_active"])
