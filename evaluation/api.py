"""The researcher's REST API for scores: read the current scores, ask for a new scaling run."""
from django.urls import reverse
from drf_spectacular.utils import OpenApiParameter, extend_schema, inline_serializer
from rest_framework import serializers, status
from rest_framework.response import Response
from rest_framework.views import APIView

from annotation.api import ProjectApiMixin
from annotation.permissions import IsProjectResearcher
from config.api import Pagination, paginated_response
from evaluation import selectors
from evaluation.models import ItemScore, ScalingRun
from evaluation.services import scaling_run_request


class ScalingRunOutputSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    status = serializers.CharField()
    trigger = serializers.CharField()
    error = serializers.CharField()
    created_at = serializers.DateTimeField()
    started_at = serializers.DateTimeField(allow_null=True)
    finished_at = serializers.DateTimeField(allow_null=True)
    duration_seconds = serializers.FloatField(allow_null=True)
    n_items = serializers.IntegerField()
    n_comparisons = serializers.IntegerField()
    n_ratings = serializers.IntegerField()
    iterations = serializers.IntegerField()
    variance_method = serializers.CharField()
    method = serializers.CharField()


class ScoresApi(ProjectApiMixin, APIView):
    """GET /api/projects/<id>/scores/: the current run (latest finished) and its scores, best first, a page at a time.

    `latest` is the newest run whatever its status, to follow a recompute; `run` is null and `results`
    empty until a run has finished.
    """

    permission_classes = [IsProjectResearcher]
    pagination_class = Pagination

    class OutputSerializer(serializers.Serializer):
        image_id = serializers.IntegerField()
        original_name = serializers.CharField(source="image.original_name")
        score = serializers.FloatField()
        variance = serializers.FloatField()
        ci_low = serializers.FloatField()
        ci_high = serializers.FloatField()
        score_0_100 = serializers.FloatField()
        n_comparisons = serializers.IntegerField()
        n_ratings = serializers.IntegerField()
        mos = serializers.FloatField(allow_null=True)

    @extend_schema(
        parameters=[
            OpenApiParameter("page", int, description="Page number."),
            OpenApiParameter("page_size", int, description="Up to 1000."),
        ],
        responses=inline_serializer(
            "ScoresPage",
            {
                "count": serializers.IntegerField(),
                "next": serializers.URLField(allow_null=True),
                "previous": serializers.URLField(allow_null=True),
                "results": OutputSerializer(many=True),
                "run": ScalingRunOutputSerializer(allow_null=True),
                "latest": ScalingRunOutputSerializer(allow_null=True),
            },
        ),
    )
    def get(self, request, project_id):
        project = self.get_project()
        current = selectors.scaling_run_current(project=project)
        latest = selectors.scaling_run_latest(project=project)
        scores = selectors.item_scores(run=current) if current else ItemScore.objects.none()
        response = paginated_response(request=request, view=self, queryset=scores, serializer_class=self.OutputSerializer)
        response.data["run"] = ScalingRunOutputSerializer(current).data if current else None
        response.data["latest"] = ScalingRunOutputSerializer(latest).data if latest else None
        return response


class ScoresRecomputeApi(ProjectApiMixin, APIView):
    """POST /api/projects/<id>/scores/recompute/: queue a scaling run (or return the one already queued); 202."""

    permission_classes = [IsProjectResearcher]

    OutputSerializer = ScalingRunOutputSerializer

    @extend_schema(request=None, responses={202: ScalingRunOutputSerializer})
    def post(self, request, project_id):
        run = scaling_run_request(project=self.get_project(), trigger=ScalingRun.Trigger.MANUAL)
        location = request.build_absolute_uri(reverse("api:project_scores", kwargs={"project_id": project_id}))
        return Response(self.OutputSerializer(run).data, status=status.HTTP_202_ACCEPTED, headers={"Location": location})
