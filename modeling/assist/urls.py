"""Page routes of the modeling app's LLM pages (namespace `modeling`); its API routes are `api_urlpatterns` below, under /api/."""
from django.urls import path

from annotation.api import by_method
from modeling.assist import api as api_llm, views as views_llm

app_name = "modeling"

urlpatterns = [
    path("projects/<int:project_id>/llm/revisions/", views_llm.RevisionsView.as_view(), name="llm_revisions"),
    path("projects/<int:project_id>/llm/prompts/", views_llm.PromptsView.as_view(), name="llm_prompts"),
    path("projects/<int:project_id>/llm/prompts/<slug:name>/new/", views_llm.PromptVersionCreateView.as_view(), name="llm_prompt_new"),
    path("projects/<int:project_id>/llm/usage/", views_llm.UsageView.as_view(), name="llm_usage"),
    path("projects/<int:project_id>/llm/vqa/", views_llm.VQAView.as_view(), name="llm_vqa"),
    path("projects/<int:project_id>/llm/vqa/<int:vqa_item_id>/review/", views_llm.VQAReviewView.as_view(), name="llm_vqa_review"),
    path("projects/<int:project_id>/llm/vqa.jsonl", views_llm.VQAExportView.as_view(), name="llm_vqa_export"),
]

#: Joined into the `api` namespace by config/urls.py, beside annotation's API routes.
api_urlpatterns = [
    # An annotator's own revision: to anyone else it does not exist (404).
    path(
        "revisions/<int:revision_id>/",
        by_method(GET=api_llm.RevisionDetailApi.as_view(), POST=api_llm.RevisionSaveApi.as_view()),
        name="revision",
    ),
    # Researchers see every revision of the project, annotators their own.
    path("projects/<int:project_id>/revisions/", api_llm.RevisionListApi.as_view(), name="revision_list"),
    # Researchers managing the project.
    path("projects/<int:project_id>/revisions/stats/", api_llm.RevisionStatsApi.as_view(), name="revision_stats"),
    path(
        "projects/<int:project_id>/vqa/",
        by_method(GET=api_llm.VQAListApi.as_view(), POST=api_llm.VQAGenerateApi.as_view()),
        name="vqa_list",
    ),
    path("projects/<int:project_id>/vqa/<int:vqa_item_id>/review/", api_llm.VQAReviewApi.as_view(), name="vqa_review"),
    path("projects/<int:project_id>/vqa/export/", api_llm.VQAExportApi.as_view(), name="vqa_export"),
]
