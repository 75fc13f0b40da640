"""Page routes of the crowd app (namespace `crowd`): the public entry link and the researcher's pages."""
from django.urls import path

from crowd.views import CrowdDecisionView, CrowdEntryView, CrowdParticipantsCsvView, CrowdProjectView

app_name = "crowd"

urlpatterns = [
    path("crowd/<str:token>/", CrowdEntryView.as_view(), name="entry"),
    path("projects/<int:project_id>/crowd/", CrowdProjectView.as_view(), name="project"),
    path("projects/<int:project_id>/crowd/participants.csv", CrowdParticipantsCsvView.as_view(), name="participants_csv"),
    path("projects/<int:project_id>/crowd/participants/<int:participant_id>/decide/", CrowdDecisionView.as_view(), name="decide"),
]
