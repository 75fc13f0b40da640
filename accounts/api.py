"""The token endpoints: a password traded for a token behind the same brute-force lock as the login page
(django-axes), rotation, and sign-out for token clients."""
from __future__ import annotations

from axes.handlers.proxy import AxesProxyHandler
from django.contrib.auth import logout
from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.authtoken.views import ObtainAuthToken
from rest_framework.exceptions import Throttled, ValidationError
from rest_framework.permissions import IsAuthenticated
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.security import lockout_message
from accounts.tokens import token_expires_at, token_obtain, token_rotate, tokens_revoke
from config.api import error_responses


class TokenOutputSerializer(serializers.Serializer):
    token = serializers.CharField(help_text="Send as `Authorization: Token <token>`.")
    expires_at = serializers.DateTimeField(help_text="After this, requests with it get 401 (code token_expired).")


def _token_response(token) -> Response:
    return Response(TokenOutputSerializer({"token": token.key, "expires_at": token_expires_at(token=token)}).data)


class TokenObtainView(ObtainAuthToken):
    """POST /api/auth/token/ {username, password} → {token, expires_at}: the valid token, or a fresh one once it has
    expired; 429 with a clear message while the account or address is locked."""

    @extend_schema(responses={200: TokenOutputSerializer, **error_responses(400, 429)})
    def post(self, request, *args, **kwargs):
        credentials = {"username": str(request.data.get("username", ""))}
        if not AxesProxyHandler.is_allowed(request, credentials):
            raise Throttled(detail=lockout_message())
        serializer = self.get_serializer(data=request.data)
        try:
            serializer.is_valid(raise_exception=True)
        except ValidationError:
            if not AxesProxyHandler.is_allowed(request, credentials):  # this failure was the last one allowed
                raise Throttled(detail=lockout_message()) from None
            raise
        return _token_response(token_obtain(user=serializer.validated_data["user"]))


class TokenRotateView(APIView):
    """POST /api/auth/token/rotate/ → {token, expires_at}: a fresh token; the one the caller had stops working."""

    permission_classes = [IsAuthenticated]

    @extend_schema(request=None, responses={200: TokenOutputSerializer})
    def post(self, request):
        return _token_response(token_rotate(user=request.user))


class LogoutView(APIView):
    """POST /api/auth/logout/ → 204: the caller's token stops working (and a browser session ends)."""

    permission_classes = [IsAuthenticated]

    @extend_schema(request=None, responses={204: None})
    def post(self, request):
        tokens_revoke(user=request.user)
        logout(request._request)
        return Response(status=204)
