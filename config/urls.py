"""URL routes of Loupe."""
from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView

from accounts.api import LogoutView, TokenObtainView, TokenRotateView
from accounts.views import home
from config.api_docs import api_docs
from config.favicon import favicon
from annotation.api_urls import api_urlpatterns
from annotation.urls import member_urlpatterns
from evaluation.urls import api_urlpatterns as evaluation_api_urlpatterns
from evaluation.urls import urlpatterns as evaluation_urlpatterns
from exports.urls import api_urlpatterns as exports_api_urlpatterns
from modeling.assist.urls import api_urlpatterns as modeling_api_urlpatterns
from modeling.critic.api import api_urlpatterns as critic_api_urlpatterns
from modeling.selection.urls import urlpatterns as selection_urlpatterns
from studies.urls import api_urlpatterns as studies_api_urlpatterns
from system_benchmarks.api import api_urlpatterns as benchmarks_api_urlpatterns
from modeling.views import WorkersView

urlpatterns = [
    path("", home, name="home"),
    path("favicon.ico", favicon, name="favicon"),
    path("admin/", admin.site.urls),
    path("accounts/login/", auth_views.LoginView.as_view(redirect_authenticated_user=True), name="login"),
    path("accounts/logout/", auth_views.LogoutView.as_view(), name="logout"),  # POST only (Django 5)
    path("", include("accounts.urls")),
    path("", include(member_urlpatterns)),
    path("workers/", WorkersView.as_view(), name="workers"),
    path("api/auth/token/", TokenObtainView.as_view(), name="api_token"),
    path("api/auth/token/rotate/", TokenRotateView.as_view(), name="api_token_rotate"),
    path("api/auth/logout/", LogoutView.as_view(), name="api_logout"),
    path("api/schema/", SpectacularAPIView.as_view(), name="api_schema"),
    path("api/docs/", api_docs, name="api_docs"),
    path("api/", include((api_urlpatterns + evaluation_api_urlpatterns + modeling_api_urlpatterns + exports_api_urlpatterns + studies_api_urlpatterns, "api"))),
    path("", include("annotation.urls")),
    # The pair-queue page belongs to selection (modeling) but keeps its name in the `evaluation` namespace.
    path("", include((evaluation_urlpatterns + selection_urlpatterns, "evaluation"))),
    path("", include("studies.urls")),
    path("", include("crowd.urls")),
    path("", include("modeling.critic.urls")),
    path("api/", include((critic_api_urlpatterns, "critic_api"))),
    path("", include("modeling.assist.urls")),
    path("", include("exports.urls")),
    path("", include("system_benchmarks.urls")),
    path("api/", include((benchmarks_api_urlpatterns, "benchmarks_api"))),
]
