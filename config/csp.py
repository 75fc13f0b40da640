"""Content-Security-Policy: every response gets the site's policy unless its view set its own.

The pages load scripts and stylesheets from our own static files only, with no inline <script>, <style> or event
attributes; htmx's own indicator <style> is turned off in base.html (htmx-config) and its rule is in loupe.css.
Style *attributes* stay allowed (style-src-attr): progress bars set their width in one, and an attribute cannot
run code.
"""
from __future__ import annotations

from functools import wraps

HEADER = "Content-Security-Policy"

POLICY = "; ".join([
    "default-src 'self'",
    "script-src 'self'",
    "style-src 'self'",
    "style-src-attr 'unsafe-inline'",
    "img-src 'self' data:",
    "font-src 'self'",
    "connect-src 'self'",
    "object-src 'none'",
    "base-uri 'self'",
    "form-action 'self'",
    "frame-ancestors 'none'",
])

# The API docs page (Swagger UI from drf-spectacular-sidecar, config/api_docs.py) styles itself with a <style>
# element and style attributes; every script and file is our own: it alone gets this policy.
DOCS_POLICY = "; ".join([
    "default-src 'self'",
    "script-src 'self'",
    "style-src 'self' 'unsafe-inline'",
    "img-src 'self' data:",
    "font-src 'self' data:",
    "connect-src 'self'",
    "object-src 'none'",
    "base-uri 'self'",
    "frame-ancestors 'none'",
])


class ContentSecurityPolicyMiddleware:
    """Sets POLICY on every response that has no policy yet."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        response = self.get_response(request)
        if HEADER not in response:
            response[HEADER] = POLICY
        return response


def csp_policy(policy: str):
    """A view decorator: this view's responses carry `policy` instead of the site's."""

    def decorate(view):
        @wraps(view)
        def wrapped(request, *args, **kwargs):
            response = view(request, *args, **kwargs)
            response[HEADER] = policy
            return response

        return wrapped

    return decorate
