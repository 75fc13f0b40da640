"""Page routes of the annotation app (namespace `annotation`); its API routes are in annotation/api_urls.py."""
from django.urls import path

from annotation.views.images import ImageDetailView, ImageFileView, ImageThumbnailView
from annotation.views.imports import ImportCreateView, ImportDetailView
from annotation.views.projects import (
    AnnotatorHomeView,
    MembershipRemoveView,
    ProjectCreateView,
    ProjectDetailView,
    ProjectListView,
    ProjectMembersView,
)

app_name = "annotation"

urlpatterns = [
    path("annotate/", AnnotatorHomeView.as_view(), name="annotator_home"),
    path("projects/", ProjectListView.as_view(), name="project_list"),
    path("projects/new/", ProjectCreateView.as_view(), name="project_create"),
    path("projects/<int:project_id>/", ProjectDetailView.as_view(), name="project_detail"),
    path("projects/<int:project_id>/members/", ProjectMembersView.as_view(), name="project_members"),
    path(
        "projects/<int:project_id>/members/<int:membership_id>/remove/",
        MembershipRemoveView.as_view(),
        name="membership_remove",
    ),
    path("projects/<int:project_id>/imports/new/", ImportCreateView.as_view(), name="import_create"),
    path("imports/<int:batch_id>/", ImportDetailView.as_view(), name="import_detail"),
    path("images/<int:image_id>/", ImageDetailView.as_view(), name="image_detail"),
    path("images/<int:image_id>/file", ImageFileView.as_view(), name="image_file"),
    path("images/<int:image_id>/thumbnail", ImageThumbnailView.as_view(), name="image_thumbnail"),
]
