"""Page routes of system benchmarks (namespace `benchmarks`); the API routes are in api.py (namespace `benchmarks_api`)."""
from django.urls import path

from system_benchmarks import views

app_name = "benchmarks"

urlpatterns = [
    path("projects/<int:project_id>/benchmarks/", views.BenchmarkIndexView.as_view(), name="index"),
    path("projects/<int:project_id>/benchmarks/new/", views.BenchmarkCreateView.as_view(), name="create"),
    path("projects/<int:project_id>/benchmarks/<int:benchmark_run_id>/", views.BenchmarkRunView.as_view(), name="run"),
    path("projects/<int:project_id>/benchmarks/<int:benchmark_run_id>/cancel/", views.BenchmarkCancelView.as_view(), name="run_cancel"),
    path("projects/<int:project_id>/benchmarks/<int:benchmark_run_id>/resume/", views.BenchmarkResumeView.as_view(), name="run_resume"),
    path("projects/<int:project_id>/benchmarks/<int:benchmark_run_id>/results.csv", views.BenchmarkCsvView.as_view(), name="run_csv"),
    path("projects/<int:project_id>/benchmarks/<int:benchmark_run_id>/results.json", views.BenchmarkJsonView.as_view(), name="run_json"),
    path("projects/<int:project_id>/benchmarks/<int:benchmark_run_id>/calls.csv", views.BenchmarkCallsCsvView.as_view(), name="run_calls_csv"),
    path("projects/<int:project_id>/benchmarks/<int:benchmark_run_id>/challenge/", views.ChallengeCreateView.as_view(), name="challenge_create"),
    path("projects/<int:project_id>/challenge-sets/<int:challenge_set_id>/", views.ChallengeView.as_view(), name="challenge"),
    path("projects/<int:project_id>/challenge-sets/<int:challenge_set_id>/challenge.csv", views.ChallengeCsvView.as_view(), name="challenge_csv"),
    path("projects/<int:project_id>/challenge-sets/<int:challenge_set_id>/challenge.json", views.ChallengeJsonView.as_view(), name="challenge_json"),
]
