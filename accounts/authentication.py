"""API token authentication with an age limit: a token older than LOUPE_API_TOKEN_TTL_HOURS is refused (401)."""
from __future__ import annotations

from rest_framework.authentication import TokenAuthentication
from rest_framework.exceptions import AuthenticationFailed


class ExpiringTokenAuthentication(TokenAuthentication):
    """`Authorization: Token <key>`, refused once the token has expired (POST /api/auth/token/ issues a new one).

    First in DEFAULT_AUTHENTICATION_CLASSES: DRF answers an unauthenticated request 401 with its
    `WWW-Authenticate: Token` header, where session authentication (which has no header) would make it 403.
    """

    def authenticate_credentials(self, key):
        from accounts.tokens import token_expired  # the token model is not importable while settings load

        user, token = super().authenticate_credentials(key)
        if token_expired(token=token):
            raise AuthenticationFailed("Token expired: ask POST /api/auth/token/ for a new one.", code="token_expired")
        return user, token
