"""Account services: create a user, a one-time password reset link, deactivation."""
from django.contrib.auth import get_user_model, password_validation
from django.contrib.auth.tokens import default_token_generator
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.urls import reverse
from django.utils.encoding import force_bytes
from django.utils.http import urlsafe_base64_encode

from accounts.models import Role


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
