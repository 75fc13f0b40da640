"""Page routes of the evaluation app (namespace `evaluation`); its API routes are `api_urlpatterns` below, under /api/."""
from django.urls import path

from evaluation import api, api_quality, views, views_quality

app_name = "evaluation"

urlpatterns = [
    path("projects/<int:project_id>/scores/", views.ScoresView.as_view(), name="project_scores"),
    path("projects/<int:project_id>/scores.csv", views.ScoresCsvView.as_view(), name="project_scores_csv"),
    path("projects/<int:project_id>/quality/", views_quality.QualityView.as_view(), name="project_quality"),
    path(
        "projects/<int:project_id>/quality/members/<int:membership_id>/exclusion/",
        views_quality.AnnotatorExclusionView.as_view(), name="project_quality_exclusion",
    ),
]

#: Joined into the `api` namespace by config/urls.py, beside annotation's API routes.
api_urlpatterns = [
    path("projects/<int:project_id>/scores/", api.ScoresApi.as_view(), name="project_scores"),
    path("projects/<int:project_id>/scores/recompute/", api.ScoresRecomputeApi.as_view(), name="project_scores_recompute"),
    path("projects/<int:project_id>/quality/", api_quality.QualityApi.as_view(), name="project_quality"),
    path(
        "projects/<int:project_id>/quality/members/<int:membership_id>/exclusion/",
        api_quality.AnnotatorExclusionApi.as_view(), name="project_quality_exclusion",
    ),
]
