"""API routes of the annotation app (namespace `api`, under /api/)."""
from django.urls import path

from annotation import api

api_urlpatterns = [
    path(
        "projects/",
        api.by_method(GET=api.ProjectListApi.as_view(), POST=api.ProjectCreateApi.as_view()),
        name="project_list",
    ),
    path("projects/<int:project_id>/", api.ProjectDetailApi.as_view(), name="project_detail"),
    path("projects/<int:project_id>/images/", api.ProjectImageListApi.as_view(), name="project_images"),
    path("projects/<int:project_id>/imports/", api.ImportCreateApi.as_view(), name="import_create"),
    path("imports/<int:batch_id>/", api.ImportDetailApi.as_view(), name="import_detail"),
]
