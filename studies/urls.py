"""Page routes of the studies app (namespace `studies`); its API routes are `api_urlpatterns` below, under /api/.

Annotators' routes carry the study id and opaque trial tokens only: nothing in a URL names or numbers a system.
"""
from django.urls import path

from annotation.api import by_method
from studies import api, api_setup, views

app_name = "studies"

urlpatterns = [
    path("projects/<int:project_id>/studies/", views.StudyListView.as_view(), name="study_list"),
    path("projects/<int:project_id>/studies/new/", views.StudyCreateView.as_view(), name="study_create"),
    path("studies/<int:study_id>/", views.StudyDetailView.as_view(), name="study_detail"),
    path("studies/<int:study_id>/systems/add/", views.SystemAddView.as_view(), name="system_add"),
    path("studies/systems/<int:system_id>/retry/", views.SystemRetryView.as_view(), name="system_retry"),
    path("studies/<int:study_id>/trials/generate/", views.TrialsGenerateView.as_view(), name="trials_generate"),
    path("studies/<int:study_id>/results/", views.StudyResultsView.as_view(), name="study_results"),
    path("studies/<int:study_id>/judge/", views.StudyJudgeView.as_view(), name="study_judge"),
    path("studies/<int:study_id>/results.csv", views.StudyResultsCsvView.as_view(), name="study_results_csv"),
    path("studies/<int:study_id>/results.json", views.StudyResultsJsonView.as_view(), name="study_results_json"),
    path("studies/mine/", views.MyStudiesView.as_view(), name="my_studies"),
    path("studies/<int:study_id>/vote/", views.VoteView.as_view(), name="vote"),
]

#: Joined into the `api` namespace by config/urls.py.
api_urlpatterns = [
    path("projects/<int:project_id>/studies/", by_method(GET=api.StudyListApi.as_view(), POST=api_setup.StudyCreateApi.as_view()), name="study_list"),
    path("studies/<int:study_id>/", api.StudyDetailApi.as_view(), name="study_detail"),
    path("studies/<int:study_id>/systems/imported/", api_setup.SystemImportApi.as_view(), name="study_system_import"),
    path("studies/<int:study_id>/systems/critic/", api_setup.SystemCriticApi.as_view(), name="study_system_critic"),
    path("studies/<int:study_id>/systems/endpoint/", api_setup.SystemEndpointApi.as_view(), name="study_system_endpoint"),
    path("studies/systems/<int:system_id>/retry/", api_setup.SystemRetryApi.as_view(), name="study_system_retry"),
    path("studies/<int:study_id>/annotators/", api_setup.StudyAnnotatorsApi.as_view(), name="study_annotators"),
    path("studies/<int:study_id>/results/", api.StudyResultsApi.as_view(), name="study_results"),
    path("studies/<int:study_id>/judge/", api_setup.StudyJudgeApi.as_view(), name="study_judge"),
    path("studies/<int:study_id>/trials/next/", api.TrialNextApi.as_view(), name="study_trial_next"),
    path("studies/trials/<str:token>/vote/", api.VoteApi.as_view(), name="study_vote"),
]
