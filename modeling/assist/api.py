"""The REST API of LLM-assisted text: an annotator's own text revision (status, draft, save), and the researcher's
revision statistics, VQA items (list, generate, review) and VQA export. One view per action, serializers inside it."""
from __future__ import annotations

from django.http import StreamingHttpResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.exceptions import NotFound
from rest_framework.response import Response
from rest_framework.views import APIView

from annotation.api import ProjectApiMixin
from annotation.api_work import IsProjectResearcherOrAnnotator
from annotation.models import TextRevision
from annotation.permissions import IsProjectResearcher, can_manage_project
from annotation.services import revisions
from config.api import Pagination, error_responses, paginated_response
from modeling.assist import selectors as llm_selectors
from modeling.assist import services as llm_services
from modeling.assist.tasks import vqa_generate_request
from modeling.assist.models import VQAItem


class RevisionOutputSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    judgement_id = serializers.IntegerField()
    status = serializers.ChoiceField(choices=TextRevision.Status.choices, help_text="drafting, draft_ready, draft_failed or saved.")
    model = serializers.CharField(help_text='The model that wrote the draft; "loupe-template-drafter" for the offline drafter.')
    written_by_template_drafter = serializers.SerializerMethodField()
    prompt = serializers.SerializerMethodField(help_text="name@version of the prompt template.")
    draft = serializers.CharField()
    draft_problems = serializers.ListField(child=serializers.CharField(), help_text="Rules of the prompt the draft breaks.")
    draft_error = serializers.CharField(help_text="Why no draft came (draft_failed), for the annotator.")
    final_text = serializers.CharField()
    edit_distance = serializers.IntegerField(allow_null=True, help_text="Character-level Levenshtein distance, draft to final.")
    accepted_unchanged = serializers.BooleanField()
    time_spent_ms = serializers.IntegerField(allow_null=True)
    saved_at = serializers.DateTimeField(allow_null=True)

    def get_written_by_template_drafter(self, revision) -> bool:
        return revision.model == revisions.TEMPLATE_DRAFTER_MODEL

    def get_prompt(self, revision) -> str:
        return f"{revision.prompt_name}@{revision.prompt_version}" if revision.prompt_name else ""


class RevisionDetailApi(APIView):
    """GET /api/revisions/<id>/: the caller's own text revision; poll until the status leaves "drafting"."""

    @extend_schema(responses={200: RevisionOutputSerializer, **error_responses(404)})
    def get(self, request, revision_id):
        revision = revisions.revision_of_annotator(revision_id=revision_id, annotator=request.user)
        return Response(RevisionOutputSerializer(revision).data)


class RevisionSaveApi(APIView):
    """POST /api/revisions/<id>/: save the caller's paragraph (the questionnaire answers are saved already)."""

    class InputSerializer(serializers.Serializer):
        final_text = serializers.CharField(allow_blank=True, trim_whitespace=False, help_text="The paragraph; not empty.")
        time_spent_ms = serializers.IntegerField(
            required=False, allow_null=True, default=None, min_value=0, max_value=revisions.TIME_SPENT_MS_MAX,
        )
        draft_shown = serializers.BooleanField(
            required=False, allow_null=True, default=None,
            help_text="Whether the text started from the draft (default: yes when a draft was ready).",
        )

    @extend_schema(request=InputSerializer, responses={200: RevisionOutputSerializer, **error_responses(400, 404)})
    def post(self, request, revision_id):
        # Ownership first: to anyone else the revision does not exist, whatever they sent.
        revisions.revision_of_annotator(revision_id=revision_id, annotator=request.user)
        serializer = self.InputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        revision = revisions.revision_save(
            revision_id=revision_id, annotator=request.user, final_text=data["final_text"],
            time_spent_ms=data["time_spent_ms"], draft_shown=data["draft_shown"],
        )
        return Response(RevisionOutputSerializer(revision).data)


class RevisionListApi(ProjectApiMixin, APIView):
    """GET /api/projects/<id>/revisions/: researchers see all text revisions, annotators their own (find the one of a
    judgement with `?judgement=<id>`, then poll /api/revisions/<id>/)."""

    permission_classes = [IsProjectResearcherOrAnnotator]
    pagination_class = Pagination

    class FilterSerializer(serializers.Serializer):
        status = serializers.ChoiceField(choices=TextRevision.Status.choices, required=False)
        judgement = serializers.IntegerField(required=False, help_text="A judgement id.")
        annotator = serializers.IntegerField(required=False, help_text="A user id (researchers only).")

    class OutputSerializer(RevisionOutputSerializer):
        annotator_id = serializers.IntegerField()

    @extend_schema(
        parameters=[FilterSerializer],
        responses={200: OutputSerializer(many=True), **error_responses(400, 403, 404)},
    )
    def get(self, request, project_id):
        filters = self.FilterSerializer(data=request.query_params)
        filters.is_valid(raise_exception=True)
        data = filters.validated_data
        project = self.get_project()
        rows = TextRevision.objects.filter(project=project).order_by("id")
        if not can_manage_project(request.user, project):
            rows = rows.filter(annotator=request.user)
        elif "annotator" in data:
            rows = rows.filter(annotator_id=data["annotator"])
        if "status" in data:
            rows = rows.filter(status=data["status"])
        if "judgement" in data:
            rows = rows.filter(judgement_id=data["judgement"])
        return paginated_response(request=request, view=self, queryset=rows, serializer_class=self.OutputSerializer)


class RevisionStatsApi(ProjectApiMixin, APIView):
    """GET /api/projects/<id>/revisions/stats/: per annotator, and who accepts drafts unchanged far more than peers."""

    permission_classes = [IsProjectResearcher]

    class OutputSerializer(serializers.Serializer):
        annotator_id = serializers.IntegerField()
        username = serializers.CharField()
        saved = serializers.IntegerField()
        with_draft = serializers.IntegerField(help_text="Saved revisions that started from a shown draft.")
        mean_edit_distance = serializers.FloatField(allow_null=True)
        share_unchanged = serializers.FloatField(allow_null=True)
        median_time_ms = serializers.FloatField(allow_null=True)
        flagged = serializers.BooleanField(
            help_text=f"At least {llm_selectors.FLAG_MIN_REVISIONS} drafts, share unchanged > {llm_selectors.FLAG_MIN_SHARE} "
            f"and > the peers' median + {llm_selectors.FLAG_MADS:g} x MAD.",
        )
        flag_reason = serializers.CharField()

    @extend_schema(responses={200: OutputSerializer(many=True), **error_responses(403, 404)})
    def get(self, request, project_id):
        return Response(self.OutputSerializer(llm_selectors.revision_stats(project=self.get_project()), many=True).data)


class VQAItemSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    source_judgement_id = serializers.IntegerField()
    image_id = serializers.IntegerField(source="source_judgement.item.image_id")
    kind = serializers.ChoiceField(choices=VQAItem.Kind.choices)
    question = serializers.CharField()
    answer = serializers.CharField()
    options = serializers.ListField(child=serializers.CharField())
    conversation = serializers.JSONField(help_text='[{"role": "user"|"assistant", "content"}] for conversations.')
    status = serializers.ChoiceField(choices=VQAItem.Status.choices)
    problems = serializers.ListField(child=serializers.CharField())
    model = serializers.CharField()
    prompt_name = serializers.CharField()
    prompt_version = serializers.IntegerField(allow_null=True)
    reviewed_at = serializers.DateTimeField(allow_null=True)


class VQAListApi(ProjectApiMixin, APIView):
    """GET /api/projects/<id>/vqa/: the project's generated items, optionally of one status."""

    permission_classes = [IsProjectResearcher]
    pagination_class = Pagination

    class FilterSerializer(serializers.Serializer):
        status = serializers.ChoiceField(choices=VQAItem.Status.choices, required=False)

    @extend_schema(
        parameters=[FilterSerializer],
        responses={200: VQAItemSerializer(many=True), **error_responses(400, 403, 404)},
    )
    def get(self, request, project_id):
        filters = self.FilterSerializer(data=request.query_params)
        filters.is_valid(raise_exception=True)
        items = VQAItem.objects.filter(project=self.get_project()).select_related("source_judgement__item").order_by("id")
        if "status" in filters.validated_data:
            items = items.filter(status=filters.validated_data["status"])
        return paginated_response(request=request, view=self, queryset=items, serializer_class=VQAItemSerializer)


class VQAGenerateApi(ProjectApiMixin, APIView):
    """POST /api/projects/<id>/vqa/: generate items from these pathway judgements on the worker (202)."""

    permission_classes = [IsProjectResearcher]

    class InputSerializer(serializers.Serializer):
        judgement_ids = serializers.ListField(child=serializers.IntegerField(), allow_empty=False, max_length=1000)

    @extend_schema(request=InputSerializer, responses={202: None, **error_responses(400, 403, 404)})
    def post(self, request, project_id):
        serializer = self.InputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        vqa_generate_request(project=self.get_project(), judgement_ids=serializer.validated_data["judgement_ids"])
        return Response(status=status.HTTP_202_ACCEPTED)


class VQAReviewApi(ProjectApiMixin, APIView):
    """POST /api/projects/<id>/vqa/<item id>/review/: accept, reject, or edit (which accepts) one item."""

    permission_classes = [IsProjectResearcher]

    class InputSerializer(serializers.Serializer):
        action = serializers.ChoiceField(choices=["accept", "reject", "edit"])
        question = serializers.CharField(required=False)
        answer = serializers.CharField(required=False)
        options = serializers.ListField(child=serializers.CharField(), required=False)
        conversation = serializers.JSONField(required=False, help_text="Edited turns, for conversations.")

    @extend_schema(request=InputSerializer, responses={200: VQAItemSerializer, **error_responses(400, 403, 404)})
    def post(self, request, project_id, vqa_item_id):
        serializer = self.InputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        try:
            item = llm_services.vqa_review(
                project=self.get_project(), item_id=vqa_item_id, reviewer=request.user, action=data["action"],
                question=data.get("question"), answer=data.get("answer"), options=data.get("options"),
                conversation=data.get("conversation"),
            )
        except VQAItem.DoesNotExist:
            raise NotFound("No such item in this project.") from None
        return Response(VQAItemSerializer(item).data)


class VQAExportApi(ProjectApiMixin, APIView):
    """GET /api/projects/<id>/vqa/export/: the accepted and edited items as JSON Lines."""

    permission_classes = [IsProjectResearcher]

    @extend_schema(responses={(200, "application/jsonl"): OpenApiTypes.STR, **error_responses(403, 404)})
    def get(self, request, project_id):
        project = self.get_project()
        response = StreamingHttpResponse(llm_services.vqa_export_lines(project=project), content_type="application/jsonl")
        response["Content-Disposition"] = f'attachment; filename="{project.slug}-vqa.jsonl"'
        return response
