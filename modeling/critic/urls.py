"""Page routes of the critic (namespace `critic`)."""
from django.urls import path

from modeling.critic import views

app_name = "critic"

urlpatterns = [
    path("projects/<int:project_id>/critic/", views.CriticView.as_view(), name="index"),
    path("projects/<int:project_id>/critic/retrain/", views.CriticRetrainView.as_view(), name="retrain"),
    path("projects/<int:project_id>/critic/construct/", views.CriticConstructView.as_view(), name="construct"),
    path("projects/<int:project_id>/critic/rollback/", views.CriticRollbackView.as_view(), name="rollback"),
    path("projects/<int:project_id>/critic/general/", views.CriticGeneralUploadView.as_view(), name="general_upload"),
    path("projects/<int:project_id>/critic/general/<int:upload_id>/delete/", views.CriticGeneralDeleteView.as_view(), name="general_delete"),
    path("projects/<int:project_id>/critic/versions/<int:version_id>/", views.CriticVersionView.as_view(), name="version"),
    path("projects/<int:project_id>/critic/versions/<int:version_id>/cancel/", views.CriticCancelView.as_view(), name="cancel"),
    path("projects/<int:project_id>/critic/versions/<int:version_id>/promote/", views.CriticPromoteView.as_view(), name="promote"),
    path("projects/<int:project_id>/critic/versions/<int:version_id>/score/", views.CriticScoreView.as_view(), name="score"),
    path("projects/<int:project_id>/critic/versions/<int:version_id>/retry/", views.CriticRetryView.as_view(), name="retry"),
    path("projects/<int:project_id>/critic/versions/<int:version_id>/texts/", views.CriticTextsView.as_view(), name="texts"),
    path("projects/<int:project_id>/critic/versions/<int:version_id>/generate/", views.CriticGenerateView.as_view(), name="generate"),
]
