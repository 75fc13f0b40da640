"""Page routes of the annotation app (namespace `annotation`); its API routes are in annotation/api_urls.py."""
from django.urls import path

from annotation.views.images import ImageDetailView, ImageFileView, ImageThumbnailView, SignedImageView
from annotation.views.imports import ImportCreateView, ImportDetailView
from annotation.views.kind_choice import KindChooseView
from annotation.views.members import InvitationAcceptView, InvitationCreateView, PasswordResetLinkView, UserDeactivateView
from annotation.views.projects import (
    MembershipRemoveView,
    ProjectCreateView,
    ProjectDetailView,
    ProjectListView,
    ProjectMembersView,
)
from annotation.views.researcher_work import ProjectAnnotationSettingsView, ProjectGoldView, ProjectJudgementsView
from annotation.views.work import (
    AnnotatorHomeView,
    ReleaseView,
    RevisionPanelView,
    RevisionSaveView,
    SubmitView,
    TrainingItemView,
    TrainingPageView,
    TrainingRestartView,
    UndoView,
    WorkItemView,
    WorkPageView,
)

app_name = "annotation"

urlpatterns = [
    path("annotate/", AnnotatorHomeView.as_view(), name="annotator_home"),
    path("annotate/<int:project_id>/", WorkPageView.as_view(), name="annotate"),
    path("annotate/<int:project_id>/item/", WorkItemView.as_view(), name="annotate_item"),
    path("annotate/<int:project_id>/kind/", KindChooseView.as_view(), name="annotate_kind"),
    path("annotate/<int:project_id>/submit/", SubmitView.as_view(), name="annotate_submit"),
    path("annotate/<int:project_id>/release/", ReleaseView.as_view(), name="annotate_release"),
    path("annotate/<int:project_id>/undo/", UndoView.as_view(), name="annotate_undo"),
    path("annotate/<int:project_id>/revisions/<int:revision_id>/", RevisionPanelView.as_view(), name="revision_panel"),
    path("annotate/<int:project_id>/revisions/<int:revision_id>/save/", RevisionSaveView.as_view(), name="revision_save"),
    path("annotate/<int:project_id>/training/", TrainingPageView.as_view(), name="training"),
    path("annotate/<int:project_id>/training/item/", TrainingItemView.as_view(), name="training_item"),
    path("annotate/<int:project_id>/training/restart/", TrainingRestartView.as_view(), name="training_restart"),
    path("projects/", ProjectListView.as_view(), name="project_list"),
    path("projects/new/", ProjectCreateView.as_view(), name="project_create"),
    path("projects/<int:project_id>/", ProjectDetailView.as_view(), name="project_detail"),
    path("projects/<int:project_id>/members/", ProjectMembersView.as_view(), name="project_members"),
    path(
        "projects/<int:project_id>/members/<int:membership_id>/remove/",
        MembershipRemoveView.as_view(),
        name="membership_remove",
    ),
    path(
        "projects/<int:project_id>/annotation/", ProjectAnnotationSettingsView.as_view(), name="project_annotation_settings"
    ),
    path("projects/<int:project_id>/judgements/", ProjectJudgementsView.as_view(), name="project_judgements"),
    path("projects/<int:project_id>/gold/", ProjectGoldView.as_view(), name="project_gold"),
    path("projects/<int:project_id>/imports/new/", ImportCreateView.as_view(), name="import_create"),
    path("imports/<int:batch_id>/", ImportDetailView.as_view(), name="import_detail"),
    path("images/<int:image_id>/", ImageDetailView.as_view(), name="image_detail"),
    path("images/<int:image_id>/file", ImageFileView.as_view(), name="image_file"),
    path("images/<int:image_id>/thumbnail", ImageThumbnailView.as_view(), name="image_thumbnail"),
    path("i/<str:signed>/", SignedImageView.as_view(), name="image_signed"),
]

#: Unnamespaced (templates and tests reverse them by these names): accepting an invitation, and a researcher's
#: invitations, reset links and deactivation for the members of a project.
member_urlpatterns = [
    path("accounts/invite/<str:token>/", InvitationAcceptView.as_view(), name="invitation_accept"),
    path("projects/<int:project_id>/members/invitations/", InvitationCreateView.as_view(), name="invitation_create"),
    path("projects/<int:project_id>/members/<int:membership_id>/reset-link/", PasswordResetLinkView.as_view(), name="password_reset_link"),
    path("projects/<int:project_id>/members/<int:membership_id>/deactivate/", UserDeactivateView.as_view(), name="user_deactivate"),
]
