"""The researcher's REST API for the critic: list versions, retrain, promote, cancel."""
from django.shortcuts import get_object_or_404
from django.urls import path, reverse
from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.exceptions import ValidationError
from rest_framework.response import Response
from rest_framework.views import APIView

from annotation.api import ProjectApiMixin
from annotation.permissions import IsProjectResearcher
from config.api import Pagination, error_responses, paginated_response
from modeling.critic import selectors, services
from modeling.critic.data import ANSWER_TEXTS
from modeling.critic.models import CriticVersion
from modeling.critic.recipes import RECIPES


class CriticVersionOutputSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    number = serializers.IntegerField()
    status = serializers.ChoiceField(choices=CriticVersion.Status.choices)
    trigger = serializers.CharField()
    parent_id = serializers.IntegerField(allow_null=True)
    error = serializers.CharField()
    cancel_requested = serializers.BooleanField()
    base_model_dir = serializers.CharField()
    model_type = serializers.CharField()
    is_tiny = serializers.BooleanField()
    training_settings = serializers.JSONField()
    n_judgements = serializers.IntegerField()
    judgements_sha256 = serializers.CharField()
    n_training_images = serializers.IntegerField()
    n_heldout_images = serializers.SerializerMethodField()
    n_conversations = serializers.IntegerField()
    metrics = serializers.JSONField()
    artifact_sha256 = serializers.CharField()
    step = serializers.IntegerField()
    total_steps = serializers.IntegerField()
    stage = serializers.CharField()
    loss = serializers.FloatField(allow_null=True)
    eta_s = serializers.FloatField(allow_null=True)
    score_status = serializers.CharField()
    scored_count = serializers.IntegerField()
    score_chunks_total = serializers.IntegerField(help_text="Chunks the last scoring run was split into.")
    score_chunks_done = serializers.IntegerField(help_text="Of those, the chunks scored so far.")
    created_at = serializers.DateTimeField()
    started_at = serializers.DateTimeField(allow_null=True)
    finished_at = serializers.DateTimeField(allow_null=True)
    activated_at = serializers.DateTimeField(allow_null=True)
    updated_at = serializers.DateTimeField()

    def get_n_heldout_images(self, version) -> int:
        return len(version.heldout_image_ids or [])


class _VersionApiMixin(ProjectApiMixin):
    def get_version(self) -> CriticVersion:
        return get_object_or_404(CriticVersion, pk=self.kwargs["version_id"], project=self.get_project())


def _state_error(error: services.CriticStateError):
    return ValidationError({"non_field_errors": [str(error)]})


class CriticVersionsApi(ProjectApiMixin, APIView):
    """GET /api/projects/<id>/critic/versions/: the project's critic versions, newest first, a page at a time."""

    permission_classes = [IsProjectResearcher]
    pagination_class = Pagination

    @extend_schema(responses=CriticVersionOutputSerializer(many=True))
    def get(self, request, project_id):
        versions = selectors.critic_versions(project=self.get_project())
        return paginated_response(request=request, view=self, queryset=versions, serializer_class=CriticVersionOutputSerializer)


class CriticRetrainApi(ProjectApiMixin, APIView):
    """POST /api/projects/<id>/critic/retrain/: queue a new version (or return the one pending); 202.

    Optional body: {"recipe": "qsit"|"visualcritic"|"depictqa"|"compose"|"default", "options": {...},
    "answer_text": "template"|"llm"} (modeling/critic/recipes.py); 400 with the reason for options the
    data settings refuse.
    """

    permission_classes = [IsProjectResearcher]

    class InputSerializer(serializers.Serializer):
        recipe = serializers.ChoiceField(choices=list(RECIPES), required=False)
        options = serializers.DictField(required=False, help_text="Q-SiT: groups, general_data (a file in LOUPE_GENERAL_DATA_DIR or \"upload:<id>\", a zip uploaded on the Critic page); compose: CriticDataSettings fields and stagewise.")
        answer_text = serializers.ChoiceField(choices=list(ANSWER_TEXTS), required=False, default="template")

    @extend_schema(request=InputSerializer, responses={202: CriticVersionOutputSerializer})
    def post(self, request, project_id):
        project = self.get_project()
        given = self.InputSerializer(data=request.data or {})
        given.is_valid(raise_exception=True)
        data = given.validated_data
        if "recipe" in data:
            try:
                version = services.critic_version_request_recipe(
                    project=project, user=request.user, recipe=data["recipe"], options=data.get("options"), answer_text=data["answer_text"],
                    trigger=CriticVersion.Trigger.API,
                )
            except services.CriticStateError as error:
                raise _state_error(error) from error
        else:
            version = services.critic_version_request(project=project, user=request.user, trigger=CriticVersion.Trigger.API)
        location = request.build_absolute_uri(reverse("critic_api:critic_versions", kwargs={"project_id": project_id}))
        return Response(CriticVersionOutputSerializer(version).data, status=status.HTTP_202_ACCEPTED, headers={"Location": location})


class CriticPromoteApi(_VersionApiMixin, APIView):
    """POST /api/projects/<id>/critic/versions/<version_id>/promote/: make it the active critic (atomic); 400 if it
    cannot be; 409 `confirmation_required` (the metrics in `errors`) if it is worse than the active version on a
    held-out metric with enough images, unless `{"confirm": true}`."""

    permission_classes = [IsProjectResearcher]

    class InputSerializer(serializers.Serializer):
        confirm = serializers.BooleanField(default=False, help_text="Promote even if it is worse than the active version on held-out data.")

    @extend_schema(request=InputSerializer, responses={200: CriticVersionOutputSerializer, **error_responses(400, 409)})
    def post(self, request, project_id, version_id):
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        try:
            version = services.critic_version_promote(version=self.get_version(), confirm=data.validated_data["confirm"])
        except services.PromoteNeedsConfirmation:
            raise  # a refusal with its own code and status (config/api.py)
        except services.CriticStateError as error:
            raise _state_error(error) from error
        return Response(CriticVersionOutputSerializer(version).data)


class CriticCancelApi(_VersionApiMixin, APIView):
    """POST /api/projects/<id>/critic/versions/<version_id>/cancel/: cancel a queued run now, a running one at its next step."""

    permission_classes = [IsProjectResearcher]

    @extend_schema(request=None, responses={200: CriticVersionOutputSerializer})
    def post(self, request, project_id, version_id):
        try:
            version = services.critic_version_cancel(version=self.get_version())
        except services.CriticStateError as error:
            raise _state_error(error) from error
        return Response(CriticVersionOutputSerializer(version).data)


#: Under /api/ in the `critic_api` namespace (config/urls.py).

api_urlpatterns = [
    path("projects/<int:project_id>/critic/versions/", CriticVersionsApi.as_view(), name="critic_versions"),
    path("projects/<int:project_id>/critic/retrain/", CriticRetrainApi.as_view(), name="critic_retrain"),
    path("projects/<int:project_id>/critic/versions/<int:version_id>/promote/", CriticPromoteApi.as_view(), name="critic_promote"),
    path("projects/<int:project_id>/critic/versions/<int:version_id>/cancel/", CriticCancelApi.as_view(), name="critic_cancel"),
]
