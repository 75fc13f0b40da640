"""Page routes of the exports app (namespace `exports`); its API routes are `api_urlpatterns` below, under /api/."""
from django.urls import path

from annotation.api import by_method
from exports import api, views

app_name = "exports"

urlpatterns = [
    path("projects/<int:project_id>/exports/", views.ExportListView.as_view(), name="export_list"),
    path("projects/<int:project_id>/exports/<int:export_id>/", views.ExportStatusView.as_view(), name="export_status"),
    path("projects/<int:project_id>/exports/<int:export_id>/download/", views.ExportDownloadView.as_view(), name="export_download"),
]

#: Joined into the `api` namespace by config/urls.py.
api_urlpatterns = [
    path(
        "projects/<int:project_id>/exports/",
        by_method(GET=api.ExportListApi.as_view(), POST=api.ExportCreateApi.as_view()),
        name="export_list",
    ),
    path("projects/<int:project_id>/exports/<int:export_id>/", api.ExportDetailApi.as_view(), name="export_detail"),
    path("projects/<int:project_id>/exports/<int:export_id>/download/", api.ExportDownloadApi.as_view(), name="export_download"),
]
