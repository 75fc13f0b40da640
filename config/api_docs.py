"""`/api/docs/`: the API's Swagger UI, every file from our own static files, and a way in for a visitor not signed in.

Swagger UI and its start script come from drf-spectacular-sidecar and this view (the split view serves the script as
a file, so no inline <script>); its validator badge, the one thing it would fetch from outside, is off in
SPECTACULAR_SETTINGS. A visitor who is not signed in gets a page that says to log in, with the link, not a bare 403.
"""
from django.contrib.auth.views import redirect_to_login
from django.shortcuts import render
from drf_spectacular.utils import extend_schema
from drf_spectacular.views import SpectacularSwaggerSplitView
from rest_framework.permissions import AllowAny

from config.csp import DOCS_POLICY, csp_policy


class ApiDocsView(SpectacularSwaggerSplitView):
    """GET /api/docs/: Swagger UI for signed-in users (the schema it reads needs them too); 401 with a login link otherwise."""

    # The check is in get(), so that a visitor gets the login page below rather than DRF's 403.
    permission_classes = [AllowAny]

    @extend_schema(exclude=True)
    def get(self, request, *args, **kwargs):
        if not request.user.is_authenticated:
            login_url = redirect_to_login(request.get_full_path())["Location"]
            return render(request._request, "api_docs_login.html", {"login_url": login_url}, status=401)
        return super().get(request, *args, **kwargs)


api_docs = csp_policy(DOCS_POLICY)(ApiDocsView.as_view(url_name="api_schema"))
