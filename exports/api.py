"""The researcher's REST API for exports: ask for one (202), follow its progress, download its file."""
from django.http import Http404
from django.urls import reverse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.exceptions import ValidationError
from rest_framework.response import Response
from rest_framework.views import APIView

from annotation.api import ProjectApiMixin
from annotation.permissions import IsProjectResearcher
from config.api import Pagination, paginated_response
from exports import selectors
from exports.filters import ExportInputError
from exports.formats import FORMATS
from exports.services import export_file_absolute, export_job_create
from exports.views import export_file_response


class ExportOutputSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    status = serializers.CharField()
    formats = serializers.ListField(child=serializers.CharField())
    include_images = serializers.BooleanField()
    filters = serializers.JSONField()
    rows_written = serializers.IntegerField()
    rows_expected = serializers.IntegerField()
    progress_percent = serializers.IntegerField()
    row_counts = serializers.JSONField()
    notes = serializers.JSONField()
    file_name = serializers.CharField()
    sha256 = serializers.CharField()
    size_bytes = serializers.IntegerField(allow_null=True)
    error = serializers.CharField()
    created_at = serializers.DateTimeField()
    started_at = serializers.DateTimeField(allow_null=True)
    finished_at = serializers.DateTimeField(allow_null=True)
    url = serializers.SerializerMethodField()
    download_url = serializers.SerializerMethodField()

    def get_url(self, job) -> str:
        return self.context["request"].build_absolute_uri(
            reverse("api:export_detail", kwargs={"project_id": job.project_id, "export_id": job.pk})
        )

    def get_download_url(self, job) -> str | None:
        if job.status != job.Status.DONE:
            return None
        return self.context["request"].build_absolute_uri(
            reverse("api:export_download", kwargs={"project_id": job.project_id, "export_id": job.pk})
        )


class ExportListApi(ProjectApiMixin, APIView):
    """GET /api/projects/<id>/exports/: the project's exports, newest first, a page at a time."""

    permission_classes = [IsProjectResearcher]
    pagination_class = Pagination

    @extend_schema(responses=ExportOutputSerializer(many=True))
    def get(self, request, project_id):
        jobs = selectors.export_jobs(project=self.get_project())
        return paginated_response(request=request, view=self, queryset=jobs, serializer_class=ExportOutputSerializer)


class ExportCreateApi(ProjectApiMixin, APIView):
    """POST /api/projects/<id>/exports/: queue an export; 202 with the job to poll (Location: its URL)."""

    permission_classes = [IsProjectResearcher]

    class InputSerializer(serializers.Serializer):
        formats = serializers.ListField(child=serializers.CharField(), allow_empty=False, help_text=f"Any of: {', '.join(FORMATS)}.")
        include_images = serializers.BooleanField(default=False)
        date_from = serializers.CharField(required=False, allow_null=True, allow_blank=True, help_text="YYYY-MM-DD, inclusive.")
        date_to = serializers.CharField(required=False, allow_null=True, allow_blank=True, help_text="YYYY-MM-DD, inclusive.")
        annotators = serializers.ListField(child=serializers.CharField(), required=False, help_text="Usernames or ids.")
        gold_min_accuracy = serializers.FloatField(required=False, allow_null=True, min_value=0.0, max_value=1.0)
        include_excluded = serializers.BooleanField(default=False)

    @extend_schema(request=InputSerializer, responses={202: ExportOutputSerializer})
    def post(self, request, project_id):
        serializer = self.InputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = dict(serializer.validated_data)
        formats, include_images = data.pop("formats"), data.pop("include_images")
        try:
            job = export_job_create(
                project=self.get_project(), requested_by=request.user, formats=formats, filters=data, include_images=include_images,
            )
        except ExportInputError as error:
            raise ValidationError({"non_field_errors": [str(error)]}) from None
        body = ExportOutputSerializer(job, context={"request": request}).data
        return Response(body, status=status.HTTP_202_ACCEPTED, headers={"Location": body["url"]})


class ExportDetailApi(ProjectApiMixin, APIView):
    """GET /api/projects/<id>/exports/<export id>/: an export's status, progress, counts and checksum."""

    permission_classes = [IsProjectResearcher]

    @extend_schema(responses=ExportOutputSerializer)
    def get(self, request, project_id, export_id):
        job = selectors.export_job_get(project=self.get_project(), export_id=export_id)
        return Response(ExportOutputSerializer(job, context={"request": request}).data)


class ExportDownloadApi(ProjectApiMixin, APIView):
    """GET /api/projects/<id>/exports/<export id>/download/: the finished file (404 until there is one)."""

    permission_classes = [IsProjectResearcher]

    @extend_schema(responses={(200, "application/octet-stream"): OpenApiTypes.BINARY})
    def get(self, request, project_id, export_id):
        job = selectors.export_job_get(project=self.get_project(), export_id=export_id)
        path = export_file_absolute(job)
        if path is None:
            raise Http404("This export has no file (yet).")
        return export_file_response(job, path)
