"""The studies REST API: researchers list studies and read results; assigned annotators get blinded trials and vote.

Annotator responses carry the trial token, the image URLs, the instruction and the answers as left/right: never
a system's name, id or kind. Errors come as {"code", "detail"} (plus "errors", field -> messages, for invalid input).
The researchers' set-up endpoints (create a study, add systems, retry, annotators) live in studies/api_setup.py.
"""
from __future__ import annotations

from django.urls import reverse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.permissions import IsAuthenticated
from rest_framework.response import Response
from rest_framework.views import APIView

from annotation.api import ProjectApiMixin, _absolute
from annotation.permissions import IsProjectResearcher
from config.api import error_responses
from studies import selectors
from studies.image_links import trial_image_url
from studies.models import CRITERIA
from studies.permissions import IsStudyAnnotator, IsStudyResearcher, StudyMixin
from studies.services.voting import trial_next, vote_submit


class SystemSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    name = serializers.CharField()
    kind = serializers.CharField()
    status = serializers.CharField()
    error = serializers.CharField()
    answered_count = serializers.IntegerField()
    failed_count = serializers.IntegerField()
    chunks_total = serializers.IntegerField(help_text="A critic system's last run: chunks its items were split into across `gpu` workers.")
    chunks_done = serializers.IntegerField(help_text="Of those, the chunks answered so far.")


class StudyOutputSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    name = serializers.CharField()
    instruction = serializers.CharField()
    votes_per_trial = serializers.IntegerField()
    show_reference = serializers.BooleanField()
    ask_criteria = serializers.BooleanField()
    created_at = serializers.DateTimeField()
    url = serializers.SerializerMethodField()
    results_url = serializers.SerializerMethodField()

    def get_url(self, study) -> str:
        return _absolute(self.context["request"], "api:study_detail", study_id=study.pk)

    def get_results_url(self, study) -> str:
        return _absolute(self.context["request"], "api:study_results", study_id=study.pk)


class StudyListApi(ProjectApiMixin, APIView):
    """GET /api/projects/<id>/studies/: the project's studies, newest first."""

    permission_classes = [IsProjectResearcher]

    @extend_schema(responses=StudyOutputSerializer(many=True))
    def get(self, request, project_id):
        studies = selectors.studies_for_project(project=self.get_project())
        return Response(StudyOutputSerializer(studies, many=True, context={"request": request}).data)


class StudyProgressSerializer(serializers.Serializer):
    items = serializers.IntegerField()
    trials = serializers.IntegerField()
    complete_trials = serializers.IntegerField(help_text="Trials with `votes_per_trial` votes.")
    votes = serializers.IntegerField()
    votes_wanted = serializers.IntegerField()
    active_leases = serializers.IntegerField()


class StudyDetailApi(StudyMixin, APIView):
    """GET /api/studies/<id>/: the study, its systems (with generation progress) and its voting progress."""

    permission_classes = [IsStudyResearcher]

    class OutputSerializer(serializers.Serializer):
        study = StudyOutputSerializer()
        systems = SystemSerializer(many=True)
        progress = StudyProgressSerializer()
        annotators = serializers.ListField(child=serializers.CharField())

    @extend_schema(responses=OutputSerializer)
    def get(self, request, study_id):
        study = self.get_study()
        body = {
            "study": study,
            "systems": list(study.systems.all()),
            "progress": selectors.study_progress(study=study),
            "annotators": [u.get_username() for u in study.annotators.order_by("username")],
        }
        return Response(self.OutputSerializer(body, context={"request": request}).data)


class StudyResultsApi(StudyMixin, APIView):
    """GET /api/studies/<id>/results/: G+S/S+B and win/tie/loss per pair, BT ranking, position bias, α, reasonable rate."""

    permission_classes = [IsStudyResearcher]

    @extend_schema(responses=OpenApiTypes.OBJECT)
    def get(self, request, study_id):
        return Response(selectors.study_results_cached(study=self.get_study())[0])


class BlindTrialSerializer(serializers.Serializer):
    token = serializers.CharField(help_text="Opaque; names the trial in vote_url.")
    instruction = serializers.CharField()
    image_url = serializers.CharField(help_text="Opaque and short-lived, for this annotator (session or token) only.")
    reference_url = serializers.CharField(allow_null=True, help_text="Like image_url.")
    left = serializers.CharField(help_text="The answer shown on the left.")
    right = serializers.CharField(help_text="The answer shown on the right.")
    ask_criteria = serializers.BooleanField()
    criteria = serializers.ListField(child=serializers.CharField(), help_text="Labels of the three criteria, in order.")
    done = serializers.IntegerField()
    remaining = serializers.IntegerField()
    vote_url = serializers.CharField()


class TrialNextApi(StudyMixin, APIView):
    """POST /api/studies/<id>/trials/next/: the annotator's next blinded trial (their open one first); 404 no_trial when done."""

    permission_classes = [IsStudyAnnotator]

    @extend_schema(request=None, responses={200: BlindTrialSerializer, **error_responses(403, 404)})
    def post(self, request, study_id):
        trial = trial_next(study=self.get_study(), annotator=request.user)
        body = {
            "token": trial.token,
            "instruction": trial.instruction,
            "image_url": request.build_absolute_uri(trial_image_url(trial_lease_id=trial.lease_id, side="left")),
            "reference_url": (
                request.build_absolute_uri(trial_image_url(trial_lease_id=trial.lease_id, side="reference")) if trial.reference_id else None
            ),
            "left": trial.left_text,
            "right": trial.right_text,
            "ask_criteria": trial.ask_criteria,
            "criteria": [label for _, label in CRITERIA],
            "done": trial.done,
            "remaining": trial.remaining,
            "vote_url": request.build_absolute_uri(reverse("api:study_vote", kwargs={"token": trial.token})),
        }
        return Response(BlindTrialSerializer(body).data)


class VoteApi(APIView):
    """POST /api/studies/trials/<token>/vote/: vote left / same / right; 201, or 200 when already voted (idempotent).

    The token is looked up before the body is read, so anyone but its holder gets 404 whatever they send.
    """

    permission_classes = [IsAuthenticated]  # the holder check is the token lookup in vote_submit (404 for anyone else)

    class InputSerializer(serializers.Serializer):
        client_id = serializers.UUIDField(help_text="Made once per vote; a resubmission carries the same id.")
        choice = serializers.ChoiceField(choices=["left", "same", "right"], help_text="Which answer is better, as shown.")
        criteria_left = serializers.ListField(child=serializers.BooleanField(), required=False, allow_null=True, min_length=3, max_length=3)
        criteria_right = serializers.ListField(child=serializers.BooleanField(), required=False, allow_null=True, min_length=3, max_length=3)
        duration_ms = serializers.IntegerField(required=False, allow_null=True, min_value=0)

    class OutputSerializer(serializers.Serializer):
        created = serializers.BooleanField()
        choice = serializers.CharField(help_text="The vote as shown to this annotator (left / same / right).")
        submitted_at = serializers.DateTimeField()

    @extend_schema(request=InputSerializer, responses={201: OutputSerializer, 200: OutputSerializer, **error_responses(400, 403, 404, 409)})
    def post(self, request, token):
        data = request.data if isinstance(request.data, dict) else {}
        result = vote_submit(
            token=token, annotator=request.user, choice=data.get("choice"), client_id=data.get("client_id"),
            criteria_left=data.get("criteria_left"), criteria_right=data.get("criteria_right"), duration_ms=data.get("duration_ms"),
        )
        vote = result.vote
        on_left = vote.outcome if vote.left_is_a else -vote.outcome
        body = {"created": result.created, "choice": {1: "left", 0: "same", -1: "right"}[on_left], "submitted_at": vote.submitted_at}
        return Response(self.OutputSerializer(body).data, status=status.HTTP_201_CREATED if result.created else status.HTTP_200_OK)
