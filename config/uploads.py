"""A request body larger than its view accepts is refused (413) before anything reads or spools it.

Django reads a multipart body into temporary files before any view runs (the CSRF check reads the form), so a
view's own size check comes after the disk has taken the whole upload. This middleware compares the declared
length with the view's limit first: a view class that takes uploads says how much with a classmethod
`max_body_bytes()`; every other view accepts LOUPE_MAX_REQUEST_BYTES at most. Bodies up to
FILE_UPLOAD_MAX_MEMORY_SIZE are never looked at here (Django keeps those in memory under its own limits).
"""
from __future__ import annotations

from django.conf import settings
from django.http import HttpResponse, JsonResponse
from django.urls import Resolver404, resolve

MIB = 1024 * 1024
#: Room for the multipart framing and a form's other fields around a file of a view's stated size.
FORM_MARGIN_BYTES = MIB


def view_body_limit(path: str) -> int:
    """The most bytes a request body to `path` may have: its view class's `max_body_bytes()`, else the global cap."""
    try:
        view = resolve(path).func
    except Resolver404:
        return settings.LOUPE_MAX_REQUEST_BYTES
    limit = getattr(getattr(view, "view_class", None), "max_body_bytes", None)
    return min(int(limit()), settings.LOUPE_MAX_REQUEST_BYTES) if limit else settings.LOUPE_MAX_REQUEST_BYTES


class RequestBodyLimitMiddleware:
    """Answer 413, with the limit in words, when the declared body length is over the view's limit."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        try:
            length = int(request.META.get("CONTENT_LENGTH") or 0)
        except ValueError:
            length = 0
        if length > settings.FILE_UPLOAD_MAX_MEMORY_SIZE:
            limit = view_body_limit(request.path_info)
            if length > limit:
                message = f"The upload is {length / MIB:.1f} MiB; this page accepts at most {limit / MIB:.0f} MiB."
                if request.path_info.startswith("/api/"):
                    return JsonResponse({"detail": message}, status=413)
                return HttpResponse(message, status=413, content_type="text/plain; charset=utf-8")
        return self.get_response(request)
