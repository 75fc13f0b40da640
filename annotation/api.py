"""The researcher's REST API: projects, their images, imports. One view per action, serializers inside it."""
from django.shortcuts import get_object_or_404
from django.urls import reverse
from django.views.decorators.csrf import csrf_exempt
from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.exceptions import ValidationError
from rest_framework.parsers import FormParser, MultiPartParser
from rest_framework.response import Response
from rest_framework.views import APIView

from annotation import selectors
from annotation.forms import MOS_LOWER_IS_BETTER_HELP, import_options, mos_scale_check
from annotation.models import ImportBatch, Project
from annotation.permissions import IsProjectResearcher, IsResearcher
from annotation.services.imports import ImportRequestError, import_batch_create
from annotation.services.projects import project_create
from config.api import Pagination, paginated_response

NO_FILES_MESSAGE = "Send at least one image or zip file in the `files` field."


def _absolute(request, name: str, **kwargs) -> str:
    return request.build_absolute_uri(reverse(name, kwargs=kwargs))


def by_method(**views):
    """One URL, one API view per HTTP method: `by_method(GET=ListApi.as_view(), POST=CreateApi.as_view())`.

    Other methods go to the first view, which checks permissions and then answers 405.
    """
    fallback = next(iter(views.values()))

    @csrf_exempt  # each DRF view enforces CSRF itself for session-authenticated requests
    def view(request, *args, **kwargs):
        return views.get(request.method, fallback)(request, *args, **kwargs)

    view.views_by_method = views
    return view


class ProjectApiMixin:
    """An API view about one project, named by `project_id` in the URL (for `IsProjectResearcher`)."""

    _project: Project | None = None

    def get_project(self) -> Project:
        if self._project is None:
            self._project = get_object_or_404(Project, pk=self.kwargs["project_id"])
        return self._project


class ProjectOutputSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    name = serializers.CharField()
    slug = serializers.CharField()
    description = serializers.CharField()
    created_at = serializers.DateTimeField()
    image_count = serializers.IntegerField()
    url = serializers.SerializerMethodField()
    page_url = serializers.SerializerMethodField()

    def get_url(self, project) -> str:
        return _absolute(self.context["request"], "api:project_detail", project_id=project.pk)

    def get_page_url(self, project) -> str:
        return _absolute(self.context["request"], "annotation:project_detail", project_id=project.pk)


class ProjectListApi(APIView):
    """GET /api/projects/: the projects the caller manages (all of them for an admin)."""

    permission_classes = [IsResearcher]
    pagination_class = Pagination

    OutputSerializer = ProjectOutputSerializer

    @extend_schema(responses=ProjectOutputSerializer(many=True))
    def get(self, request):
        projects = selectors.project_list_managed(user=request.user)
        return paginated_response(request=request, view=self, queryset=projects, serializer_class=self.OutputSerializer)


class ProjectCreateApi(APIView):
    """POST /api/projects/: create a project; the caller becomes its researcher."""

    permission_classes = [IsResearcher]

    class InputSerializer(serializers.Serializer):
        name = serializers.CharField(max_length=200)
        slug = serializers.SlugField(max_length=80, required=False, allow_blank=True, default="")
        description = serializers.CharField(required=False, allow_blank=True, default="")

    OutputSerializer = ProjectOutputSerializer

    @extend_schema(request=InputSerializer, responses={201: ProjectOutputSerializer})
    def post(self, request):
        serializer = self.InputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        project = project_create(user=request.user, **serializer.validated_data)  # its ValidationError: 400, by field
        project = selectors.project_list_managed(user=request.user).get(pk=project.pk)
        return Response(self.OutputSerializer(project, context={"request": request}).data, status=status.HTTP_201_CREATED)


class ProjectDetailApi(ProjectApiMixin, APIView):
    """GET /api/projects/<id>/: one project, with its members."""

    permission_classes = [IsProjectResearcher]

    class OutputSerializer(ProjectOutputSerializer):
        members = serializers.SerializerMethodField()

        def get_members(self, project) -> list[dict]:
            return [
                {"username": m.user.username, "role": m.role} for m in selectors.project_members(project=project)
            ]

    @extend_schema(responses=OutputSerializer)
    def get(self, request, project_id):
        project = selectors.project_list_managed(user=request.user).get(pk=self.get_project().pk)
        return Response(self.OutputSerializer(project, context={"request": request}).data)


class ProjectImageListApi(ProjectApiMixin, APIView):
    """GET /api/projects/<id>/images/: the project's images, a page at a time, with every field researchers may see."""

    permission_classes = [IsProjectResearcher]
    pagination_class = Pagination

    class OutputSerializer(serializers.Serializer):
        id = serializers.IntegerField()
        original_name = serializers.CharField()
        format = serializers.CharField()
        width = serializers.IntegerField()
        height = serializers.IntegerField()
        file_size = serializers.IntegerField()
        content_hash = serializers.CharField()
        source_dataset = serializers.CharField()
        reference_id = serializers.IntegerField(allow_null=True)
        mos_raw = serializers.FloatField(allow_null=True)
        mos_scale_min = serializers.FloatField(allow_null=True)
        mos_scale_max = serializers.FloatField(allow_null=True)
        mos_std = serializers.FloatField(allow_null=True)
        mos_normalised = serializers.FloatField(allow_null=True, help_text="On 0-100, higher is better (a DMOS flipped).")
        mos_lower_is_better = serializers.BooleanField(help_text="mos_raw is a DMOS: lower is better.")
        authenticity = serializers.CharField()
        attributes = serializers.JSONField()
        hidden_ground_truth = serializers.JSONField()
        import_batch_id = serializers.IntegerField(allow_null=True)
        created_at = serializers.DateTimeField()
        file_url = serializers.SerializerMethodField()
        thumbnail_url = serializers.SerializerMethodField()

        def get_file_url(self, image) -> str:
            return _absolute(self.context["request"], "annotation:image_file", image_id=image.pk)

        def get_thumbnail_url(self, image) -> str:
            return _absolute(self.context["request"], "annotation:image_thumbnail", image_id=image.pk)

    @extend_schema(responses=OutputSerializer(many=True))
    def get(self, request, project_id):
        images = selectors.project_images(project=self.get_project())
        return paginated_response(request=request, view=self, queryset=images, serializer_class=self.OutputSerializer)


class ImportBatchOutputSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    project_id = serializers.IntegerField()
    source = serializers.CharField()
    status = serializers.CharField()
    options = serializers.JSONField()
    imported_count = serializers.IntegerField()
    duplicate_count = serializers.IntegerField()
    error_count = serializers.IntegerField()
    error_message = serializers.CharField(source="error")
    created_at = serializers.DateTimeField()
    finished_at = serializers.DateTimeField(allow_null=True)
    url = serializers.SerializerMethodField()
    page_url = serializers.SerializerMethodField()

    def get_url(self, batch) -> str:
        return _absolute(self.context["request"], "api:import_detail", batch_id=batch.pk)

    def get_page_url(self, batch) -> str:
        return _absolute(self.context["request"], "annotation:import_detail", batch_id=batch.pk)


class ImportCreateApi(ProjectApiMixin, APIView):
    """POST /api/projects/<id>/imports/ (multipart): queue an import; 202 with the batch to poll."""

    permission_classes = [IsProjectResearcher]
    parser_classes = [MultiPartParser, FormParser]

    class InputSerializer(serializers.Serializer):
        files = serializers.ListField(
            child=serializers.FileField(),
            allow_empty=False,
            error_messages={"required": NO_FILES_MESSAGE, "empty": NO_FILES_MESSAGE},
        )
        manifest = serializers.FileField(required=False, allow_null=True, default=None)
        mos_min = serializers.FloatField(required=False, allow_null=True, default=None)
        mos_max = serializers.FloatField(required=False, allow_null=True, default=None)
        source_dataset = serializers.CharField(required=False, allow_blank=True, max_length=200, default="")
        mos_lower_is_better = serializers.BooleanField(required=False, default=False, help_text=MOS_LOWER_IS_BETTER_HELP)

        def validate(self, data):
            try:
                data["mos_scale"] = mos_scale_check(data["mos_min"], data["mos_max"])
            except ValueError as exc:
                raise ValidationError({"mos_max": [str(exc)]}) from None
            return data

    OutputSerializer = ImportBatchOutputSerializer

    @extend_schema(request={"multipart/form-data": InputSerializer}, responses={202: ImportBatchOutputSerializer})
    def post(self, request, project_id):
        serializer = self.InputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        try:
            batch = import_batch_create(
                project=self.get_project(),
                user=request.user,
                source=ImportBatch.Source.API,
                files=data["files"],
                manifest=data["manifest"],
                options=import_options(
                    mos_scale=data["mos_scale"], source_dataset=data["source_dataset"],
                    mos_lower_is_better=data["mos_lower_is_better"],
                ),
            )
        except ImportRequestError as exc:
            raise ValidationError({"non_field_errors": [str(exc)]}) from None
        body = self.OutputSerializer(batch, context={"request": request}).data
        return Response(body, status=status.HTTP_202_ACCEPTED, headers={"Location": body["url"]})


class ImportDetailApi(APIView):
    """GET /api/imports/<id>/: an import's status, counts and per-file report."""

    permission_classes = [IsProjectResearcher]

    class OutputSerializer(ImportBatchOutputSerializer):
        report = serializers.JSONField()

    _batch: ImportBatch | None = None

    def get_batch(self) -> ImportBatch:
        if self._batch is None:
            self._batch = get_object_or_404(ImportBatch.objects.select_related("project"), pk=self.kwargs["batch_id"])
        return self._batch

    def get_project(self) -> Project:
        return self.get_batch().project

    @extend_schema(responses=OutputSerializer)
    def get(self, request, batch_id):
        return Response(self.OutputSerializer(self.get_batch(), context={"request": request}).data)
