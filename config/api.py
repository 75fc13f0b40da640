"""Loupe's API plumbing: the one error shape and its exception handler, and the paginator (the schema classes that
document them are in config/api_schema.py, apart because DRF imports this module while drf-spectacular loads).

Every error answers {"code", "detail"}: `code` is stable (clients switch on it), `detail` a sentence for people.
Invalid input adds "errors" (field -> messages; messages about no single field under "non_field_errors"), and a
paused annotator gets "until", and a client_id sent again with another answer "stored" (the answer kept). Set in settings.REST_FRAMEWORK as EXCEPTION_HANDLER and DEFAULT_PAGINATION_CLASS.
"""
from __future__ import annotations

from django.core.exceptions import ValidationError as DjangoValidationError
from drf_spectacular.utils import OpenApiResponse
from rest_framework import serializers
from rest_framework.exceptions import ValidationError
from rest_framework.pagination import PageNumberPagination
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler

NON_FIELD_ERRORS = "non_field_errors"

# ------------------------------------------------------------------------------------------ errors


class ErrorSerializer(serializers.Serializer):
    """The body of every error response."""

    code = serializers.CharField(
        help_text="Stable: clients switch on it (invalid, not_found, permission_denied, not_authenticated, no_work, "
        "training_required, paused, lease_not_found, lease_closed, not_annotator, revision_not_found, no_trial, "
        "not_study_annotator, study_error, not_retryable, ...)."
    )
    detail = serializers.CharField(help_text="What went wrong, in a sentence; for invalid input the first message.")
    errors = serializers.DictField(
        required=False,
        help_text="Invalid input: field -> messages (a nested field's messages under its own name inside its parent's; "
        "what concerns no single field under non_field_errors).",
    )
    until = serializers.DateTimeField(required=False, help_text="Paused: when the annotator may go on.")
    stored = serializers.JSONField(
        required=False, help_text="client_id_reused: the answer stored for that client_id, which stays the one that counts."
    )


def error_responses(*statuses: int) -> dict:
    """`responses` entries documenting the error body for these statuses (config.api_schema adds 400, 403 and 404
    wherever they apply, so a view needs to name only its others, such as 409 or 429)."""
    return {code: OpenApiResponse(ErrorSerializer) for code in statuses}


def first_message(errors) -> str:
    """The first message of DRF field errors, prefixed by its field: "name: This field is required."."""
    if isinstance(errors, dict):
        for field, value in errors.items():
            message = first_message(value)
            return message if field == NON_FIELD_ERRORS else f"{field}: {message}"
    if isinstance(errors, list) and errors:
        return first_message(errors[0])
    return str(errors)


def _is_refusal(exc) -> bool:
    """A service's refusal: an exception with a stable `code`, an HTTP `status` and a `message` (QueueError,
    StudyError, RevisionNotFound)."""
    return (
        isinstance(getattr(exc, "code", None), str)
        and isinstance(getattr(exc, "status", None), int)
        and isinstance(getattr(exc, "message", None), str)
    )


def exception_handler(exc, context) -> Response | None:
    """DRF's handler, with every error body in the one shape (see the module docstring).

    A service's refusal answers its own code and status; a Django ValidationError from a service is invalid input
    like DRF's, keeping its field names.
    """
    if _is_refusal(exc):
        body = {"code": exc.code, "detail": exc.message}
        if getattr(exc, "errors", None):
            body["errors"] = {NON_FIELD_ERRORS: list(exc.errors)}
        if getattr(exc, "until", None) is not None:
            body["until"] = exc.until.isoformat()
        if hasattr(exc, "stored"):
            body["stored"] = exc.stored
        return Response(body, status=exc.status)
    if isinstance(exc, DjangoValidationError):
        exc = ValidationError(exc.message_dict if hasattr(exc, "error_dict") else {NON_FIELD_ERRORS: exc.messages})
    response = drf_exception_handler(exc, context)
    if response is None:
        return None
    data = response.data
    if not isinstance(exc, ValidationError) and isinstance(data, dict) and set(data) == {"detail"}:
        response.data = {"code": getattr(data["detail"], "code", None) or "error", "detail": data["detail"]}
    else:
        errors = data if isinstance(data, dict) else {NON_FIELD_ERRORS: data}
        code = "invalid" if isinstance(exc, ValidationError) else getattr(exc, "default_code", "error")
        response.data = {"code": code, "detail": first_message(errors), "errors": errors}
    return response


# -------------------------------------------------------------------------------------- pagination


class Pagination(PageNumberPagination):
    """`?page=N`, and `?page_size=M` (up to 1000) for scripts that want fewer round trips."""

    page_size_query_param = "page_size"
    max_page_size = 1000


def paginated_response(*, request, view, queryset, serializer_class) -> Response:
    """One page of `queryset` as {count, next, previous, results}, by the view's `pagination_class`.

    The view must name its `pagination_class`: the schema reads it there to document the envelope and `page`.
    """
    paginator = view.pagination_class()
    page = paginator.paginate_queryset(queryset, request, view=view)
    return paginator.get_paginated_response(serializer_class(page, many=True, context={"request": request}).data)
