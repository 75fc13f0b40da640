"""API routes of the annotation app (namespace `api`, under /api/)."""
from django.urls import path

from annotation import api, api_work

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
    # The annotators' work (annotator members of the project; leases only by their holder).
    path("projects/<int:project_id>/assignments/next/", api_work.AssignmentNextApi.as_view(), name="assignment_next"),
    path("leases/<int:lease_id>/judgement/", api_work.JudgementSubmitApi.as_view(), name="judgement_submit"),
    path("leases/<int:lease_id>/release/", api_work.LeaseReleaseApi.as_view(), name="lease_release"),
    path("projects/<int:project_id>/undo/", api_work.JudgementUndoApi.as_view(), name="judgement_undo"),
    path("projects/<int:project_id>/training/", api_work.TrainingStatusApi.as_view(), name="training_status"),
    path("projects/<int:project_id>/training/next/", api_work.TrainingNextApi.as_view(), name="training_next"),
    path("projects/<int:project_id>/training/restart/", api_work.TrainingRestartApi.as_view(), name="training_restart"),
    # Researchers and annotators (annotators see only their own judgements).
    path("projects/<int:project_id>/judgements/", api_work.JudgementListApi.as_view(), name="judgement_list"),
    # Researchers managing the project.
    path("projects/<int:project_id>/progress/", api_work.ProjectProgressApi.as_view(), name="project_progress"),
    path("projects/<int:project_id>/settings/", api_work.ProjectSettingsUpdateApi.as_view(), name="project_settings"),
    path("projects/<int:project_id>/gold/", api_work.GoldItemCreateApi.as_view(), name="gold_create"),
    path("projects/<int:project_id>/pairs/", api_work.PairsGenerateApi.as_view(), name="pairs_generate"),
]
