"""The researcher's REST API for quality control: the dashboard's numbers, and excluding or restoring an annotator."""
from django.shortcuts import get_object_or_404
from django.utils.http import http_date
from drf_spectacular.utils import OpenApiTypes, extend_schema
from rest_framework import serializers, status
from rest_framework.exceptions import ValidationError
from rest_framework.response import Response
from rest_framework.views import APIView

from annotation.api import ProjectApiMixin
from annotation.models import ExclusionEvent, Membership
from annotation.permissions import IsProjectResearcher
from annotation.services.exclusion import REASON_MAX_CHARS, ExclusionError, annotator_exclude, annotator_restore
from evaluation.report_cache import QUALITY, report_cached, report_refresh_run


class QualityApi(ProjectApiMixin, APIView):
    """GET /api/projects/<id>/quality/: the numbers behind the quality dashboard.

    `progress` (cumulative judgements per kind by day), `agreement` (Krippendorff's alpha per kind and field),
    `annotators` (gold accuracy, BT.500, the pair likelihood test, straight-lining, repeats, transitivity, flags,
    exclusion state), `scores` (the current scores), `critic` (held-out metrics per version), `exclusions` (audit log).
    Read from a cache the worker refreshes when judgements, exclusions or scores change (`Last-Modified`: when it was computed).
    """

    permission_classes = [IsProjectResearcher]

    @extend_schema(responses={200: OpenApiTypes.OBJECT})
    def get(self, request, project_id):
        project = self.get_project()
        cache = report_cached(kind=QUALITY, object_id=project.pk, project_id=project.pk)
        return Response(cache.data, headers={"Last-Modified": http_date(cache.computed_at.timestamp())})


class AnnotatorExclusionApi(ProjectApiMixin, APIView):
    """POST /api/projects/<id>/quality/members/<membership_id>/exclusion/: exclude or restore that annotator's data; 201.

    Body: {"action": "exclude" | "restore", "reason": "..."}. 400 with `detail` when the action cannot be done
    (no reason, excluded already, not excluded); 404 for a membership of another project.
    """

    permission_classes = [IsProjectResearcher]

    class InputSerializer(serializers.Serializer):
        action = serializers.ChoiceField(choices=ExclusionEvent.Action.choices)
        reason = serializers.CharField(max_length=REASON_MAX_CHARS)

    class OutputSerializer(serializers.Serializer):
        id = serializers.IntegerField()
        action = serializers.CharField()
        annotator_id = serializers.IntegerField()
        reason = serializers.CharField()
        created_at = serializers.DateTimeField()
        judgements_changed = serializers.IntegerField()

    @extend_schema(request=InputSerializer, responses={201: OutputSerializer})
    def post(self, request, project_id, membership_id):
        project = self.get_project()
        membership = get_object_or_404(Membership, pk=membership_id, project=project)
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        act = annotator_exclude if data.validated_data["action"] == ExclusionEvent.Action.EXCLUDE else annotator_restore
        try:
            event = act(project=project, annotator=membership.user, by=request.user, reason=data.validated_data["reason"])
        except ExclusionError as error:
            raise ValidationError({"non_field_errors": [str(error)]}) from None
        report_refresh_run(kind=QUALITY, object_id=project.pk)  # the next read of the dashboard shows it at once
        return Response(self.OutputSerializer(event).data, status=status.HTTP_201_CREATED)
