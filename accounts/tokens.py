"""API tokens: issued for a password, valid for LOUPE_API_TOKEN_TTL_HOURS, rotated on request, revoked on sign-out
and when the account is deactivated (one token per user, DRF's authtoken)."""
from __future__ import annotations

import datetime as dt

from django.conf import settings
from django.db import transaction
from django.utils import timezone
from rest_framework.authtoken.models import Token


def token_expires_at(*, token: Token) -> dt.datetime:
    return token.created + dt.timedelta(hours=settings.LOUPE_API_TOKEN_TTL_HOURS)


def token_expired(*, token: Token) -> bool:
    return timezone.now() >= token_expires_at(token=token)


@transaction.atomic
def token_rotate(*, user) -> Token:
    """A fresh token for `user`; the one they had stops working."""
    Token.objects.filter(user=user).delete()
    return Token.objects.create(user=user)


@transaction.atomic
def token_obtain(*, user) -> Token:
    """The user's token while it is valid (so several scripts may share it), else a fresh one."""
    token = Token.objects.select_for_update().filter(user=user).first()
    if token is not None and not token_expired(token=token):
        return token
    return token_rotate(user=user)


def tokens_revoke(*, user) -> None:
    """The user's API token stops working (sign-out, deactivation)."""
    Token.objects.filter(user=user).delete()


def revoke_on_logout(sender, request, user, **kwargs) -> None:
    """Signing out of the site ends the user's API access too (`user_logged_out`)."""
    if user is not None:
        tokens_revoke(user=user)


def revoke_on_deactivation(sender, instance, **kwargs) -> None:
    """A deactivated account keeps no API token (`post_save` of the user model)."""
    if not instance.is_active:
        tokens_revoke(user=instance)
