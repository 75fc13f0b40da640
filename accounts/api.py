"""The token endpoint: DRF's ObtainAuthToken behind the same brute-force lock as the login page (django-axes)."""
from __future__ import annotations

from axes.handlers.proxy import AxesProxyHandler
from rest_framework.authtoken.views import ObtainAuthToken
from rest_framework.exceptions import Throttled, ValidationError

from accounts.security import lockout_message


class TokenObtainView(ObtainAuthToken):
    """POST /api/auth/token/ {username, password} → {token}; 429 with a clear message while the account or address is locked."""

    def post(self, request, *args, **kwargs):
        credentials = {"username": str(request.data.get("username", ""))}
        if not AxesProxyHandler.is_allowed(request, credentials):
            raise Throttled(detail=lockout_message())
        try:
            return super().post(request, *args, **kwargs)
        except ValidationError:
            if not AxesProxyHandler.is_allowed(request, credentials):  # this failure was the last one allowed
                raise Throttled(detail=lockout_message()) from None
            raise
