"""The annotators' REST API (assignments, judgements, training) and the researcher's work endpoints (settings, gold,
progress, judgements). One view per action, serializers inside it.

Errors come as {"code", "detail"} (plus "errors", field -> messages, for invalid input) with the queue error's
status. Answers are in SCREEN terms: for a pair "a" is the LEFT image of the assignment.
"""
from __future__ import annotations

import numpy as np
from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import serializers, status
from rest_framework.exceptions import ValidationError
from rest_framework.permissions import BasePermission
from rest_framework.response import Response
from rest_framework.views import APIView

from annotation import image_links, selectors_work
from annotation.api import ProjectApiMixin, _absolute
from annotation.models import Image, PairSource, SelectionStrategy, WorkItem
from annotation.permissions import IsProjectResearcher, can_annotate_project, can_manage_project, require_project_member
from annotation.services import queue, training, undo, work
from annotation.services.answers import answer_for_screen, questionnaire_schema
from annotation.vocabulary import TaskKind
from config.api import Pagination, error_responses, paginated_response

PAIRS_GENERATE_MAX = 10_000


class IsProjectAnnotator(BasePermission):
    """The user is an annotator member of the project the view works on (`view.get_project()`); 404 for a
    project they have no role in."""

    def has_permission(self, request, view) -> bool:
        project = view.get_project()
        require_project_member(request.user, project)
        return can_annotate_project(request.user, project)


class IsProjectResearcherOrAnnotator(BasePermission):
    """The user manages the project, or annotates it (the view then shows them only their own rows)."""

    def has_permission(self, request, view) -> bool:
        project = view.get_project()
        require_project_member(request.user, project)
        return can_manage_project(request.user, project) or can_annotate_project(request.user, project)


# ------------------------------------------------------------------------------------ assignments


class ImageRefSerializer(serializers.Serializer):
    url = serializers.CharField(help_text="Opaque and short-lived (the lease's life plus a margin), for this session or token only.")
    width = serializers.IntegerField()
    height = serializers.IntegerField()


class AssignmentImagesSerializer(serializers.Serializer):
    left = ImageRefSerializer(help_text="The image (single-image kinds), or the pair's left image, called A on screen.")
    right = ImageRefSerializer(allow_null=True, help_text="Pairs: the right image (B on screen).")
    reference = ImageRefSerializer(allow_null=True, help_text="The pristine reference, when the image (or both of a pair) has one.")


class ProgressSerializer(serializers.Serializer):
    done = serializers.IntegerField()
    remaining = serializers.IntegerField(
        help_text="Items still to come, checks included at the project's rates: every item served lowers it by one, whatever it is.",
    )
    run_count = serializers.IntegerField()
    warn_fatigue = serializers.BooleanField()
    pause_after = serializers.IntegerField()


class AssignmentOutputSerializer(serializers.Serializer):
    lease_id = serializers.IntegerField()
    kind = serializers.ChoiceField(choices=TaskKind.choices)
    training = serializers.BooleanField(help_text="A training item (answers get feedback); always false for work.")
    issued_at = serializers.DateTimeField()
    expires_at = serializers.DateTimeField()
    images = AssignmentImagesSerializer()
    questionnaire = serializers.JSONField(help_text="Fields, choices (key + label) and required-ness, in screen terms.")
    progress = ProgressSerializer()
    judgement_url = serializers.CharField()
    release_url = serializers.CharField()
    mos = serializers.FloatField(
        allow_null=True, help_text="Pathway items of a project that shows it: the image's MOS on 0-100 (higher is better).",
    )


def _image_ref(request, image: Image | None, url: str | None) -> dict | None:
    if image is None:
        return None
    return {"url": request.build_absolute_uri(url), "width": image.width, "height": image.height}


def _assignment_body(request, assignment: queue.Assignment) -> dict:
    """The same shape for work, gold and repeat items: nothing tells them apart (no image id, a new URL per lease)."""
    lease, item = assignment.lease, assignment.lease.item
    images, urls = image_links.lease_images(lease), image_links.lease_image_urls(lease)
    progress = assignment.progress
    return {
        "lease_id": lease.pk,
        "kind": item.kind,
        "training": lease.training_attempt is not None,
        "issued_at": lease.issued_at,
        "expires_at": lease.expires_at,
        "images": {side: _image_ref(request, images[side], urls[side]) for side in image_links.SIDES},
        "questionnaire": questionnaire_schema(item.kind, item.project),
        "progress": {
            "done": progress.done, "remaining": progress.remaining, "run_count": progress.run_count,
            "warn_fatigue": progress.warn_fatigue, "pause_after": progress.pause_after,
        },
        "judgement_url": _absolute(request, "api:judgement_submit", lease_id=lease.pk),
        "release_url": _absolute(request, "api:lease_release", lease_id=lease.pk),
        "mos": selectors_work.pathway_mos_shown(item=item),
    }


class AssignmentNextApi(ProjectApiMixin, APIView):
    """POST /api/projects/<id>/assignments/next/: lease the next item (or get back the one already held)."""

    permission_classes = [IsProjectAnnotator]
    OutputSerializer = AssignmentOutputSerializer

    @extend_schema(request=None, responses={200: AssignmentOutputSerializer, **error_responses(403, 404, 429)})
    def post(self, request, project_id):
        assignment = queue.assignment_next(project=self.get_project(), annotator=request.user)
        return Response(self.OutputSerializer(_assignment_body(request, assignment)).data)


class JudgementSubmitApi(APIView):
    """POST /api/leases/<id>/judgement/: answer the leased item; 201, or 200 when this client_id was sent before."""

    class InputSerializer(serializers.Serializer):
        client_id = serializers.UUIDField(help_text="Made once per answer; a resubmission carries the same id.")
        answer = serializers.JSONField(help_text="In screen terms; shapes in the assignment's questionnaire.")
        duration_ms = serializers.IntegerField(
            required=False, allow_null=True, default=None, min_value=0, max_value=queue.DURATION_MS_MAX,
            help_text="Time spent on the item as the client measured it.",
        )

    class OutputSerializer(serializers.Serializer):
        judgement_id = serializers.IntegerField()
        created = serializers.BooleanField()
        kind = serializers.ChoiceField(choices=TaskKind.choices)
        answer = serializers.JSONField(help_text="As stored, turned back to the screen terms it was given in.")
        duration_ms = serializers.IntegerField(allow_null=True)
        submitted_at = serializers.DateTimeField()
        training_feedback = serializers.JSONField(allow_null=True, help_text='Training only: {"correct", "expected", "feedback"}.')

    @extend_schema(request=InputSerializer, responses={201: OutputSerializer, 200: OutputSerializer, **error_responses(400, 403, 404, 409)})
    def post(self, request, lease_id):
        serializer = self.InputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        result = queue.judgement_submit(
            lease_id=lease_id, annotator=request.user, client_id=data["client_id"], answer=data["answer"],
            duration_ms=data["duration_ms"],
        )
        judgement = result.judgement
        body = {
            "judgement_id": judgement.pk,
            "created": result.created,
            "kind": judgement.kind,
            "answer": answer_for_screen(kind=judgement.kind, answer=judgement.answer, swap=judgement.swap),
            "duration_ms": judgement.duration_ms,
            "submitted_at": judgement.submitted_at,
            "training_feedback": result.training_feedback,
        }
        return Response(self.OutputSerializer(body).data, status=status.HTTP_201_CREATED if result.created else status.HTTP_200_OK)


class LeaseReleaseApi(APIView):
    """POST /api/leases/<id>/release/: give the item back (skip); 204."""

    @extend_schema(request=None, responses={204: None, **error_responses(404, 409)})
    def post(self, request, lease_id):
        queue.lease_release(lease_id=lease_id, annotator=request.user)
        return Response(status=status.HTTP_204_NO_CONTENT)


class JudgementUndoApi(ProjectApiMixin, APIView):
    """POST /api/projects/<id>/undo/: take back the caller's last answer while its item is still held for them; the
    lease is active again (ask for the next item to get it back). 409 undo_refused when there is nothing to undo or
    the hold has ended (the answer stands)."""

    permission_classes = [IsProjectAnnotator]

    class OutputSerializer(serializers.Serializer):
        lease_id = serializers.IntegerField()
        expires_at = serializers.DateTimeField()

    @extend_schema(request=None, responses={200: OutputSerializer, **error_responses(403, 404, 409)})
    def post(self, request, project_id):
        lease = undo.judgement_undo(project=self.get_project(), annotator=request.user)
        return Response(self.OutputSerializer({"lease_id": lease.pk, "expires_at": lease.expires_at}).data)


# ---------------------------------------------------------------------------------------- training


class TrainingStatusSerializer(serializers.Serializer):
    required = serializers.BooleanField()
    passed = serializers.BooleanField()
    attempt = serializers.IntegerField()
    answered = serializers.IntegerField()
    total = serializers.IntegerField()
    correct = serializers.IntegerField()
    pass_mark = serializers.FloatField()
    last_score = serializers.FloatField(allow_null=True)


class TrainingStatusApi(ProjectApiMixin, APIView):
    """GET /api/projects/<id>/training/: the caller's training round: attempt, answered, right, pass mark, passed."""

    permission_classes = [IsProjectAnnotator]
    OutputSerializer = TrainingStatusSerializer

    @extend_schema(responses={200: TrainingStatusSerializer, **error_responses(403, 404)})
    def get(self, request, project_id):
        return Response(self.OutputSerializer(training.training_status(project=self.get_project(), annotator=request.user)).data)


class TrainingNextApi(ProjectApiMixin, APIView):
    """POST /api/projects/<id>/training/next/: the next training item (404 no_work when the attempt is complete)."""

    permission_classes = [IsProjectAnnotator]
    OutputSerializer = AssignmentOutputSerializer

    @extend_schema(request=None, responses={200: AssignmentOutputSerializer, **error_responses(403, 404)})
    def post(self, request, project_id):
        assignment = training.training_next(project=self.get_project(), annotator=request.user)
        return Response(self.OutputSerializer(_assignment_body(request, assignment)).data)


class TrainingRestartApi(ProjectApiMixin, APIView):
    """POST /api/projects/<id>/training/restart/: start a new attempt after a failed one."""

    permission_classes = [IsProjectAnnotator]
    OutputSerializer = TrainingStatusSerializer

    @extend_schema(request=None, responses={200: TrainingStatusSerializer, **error_responses(400, 403, 404)})
    def post(self, request, project_id):
        return Response(self.OutputSerializer(training.training_restart(project=self.get_project(), annotator=request.user)).data)


# ------------------------------------------------------------------------------- researcher's side


class JudgementListApi(ProjectApiMixin, APIView):
    """GET /api/projects/<id>/judgements/: researchers see all (filter by kind, annotator, purpose); annotators their own."""

    permission_classes = [IsProjectResearcherOrAnnotator]
    pagination_class = Pagination

    class OutputSerializer(serializers.Serializer):
        id = serializers.IntegerField()
        kind = serializers.CharField()
        annotator = serializers.CharField(source="annotator.username")
        answer = serializers.JSONField(help_text="In item terms (researchers: A is image_a, B is image_b); `swap` maps them to the screen.")
        level = serializers.IntegerField(allow_null=True)
        choice = serializers.CharField()
        swap = serializers.BooleanField(help_text="Pairs: B was shown on the left.")
        training = serializers.SerializerMethodField()
        issued_at = serializers.DateTimeField()
        submitted_at = serializers.DateTimeField()
        duration_ms = serializers.IntegerField(allow_null=True)

        def get_training(self, judgement) -> bool:
            return judgement.training_attempt is not None

    class ResearcherOutputSerializer(OutputSerializer):
        # Image ids for researchers only: an annotator would see a repeat's image id twice.
        image_a = serializers.IntegerField(source="item.image_id", help_text="The item's A (for pairs: the lower image id).")
        image_b = serializers.IntegerField(source="item.image_b_id", allow_null=True)
        item_id = serializers.IntegerField()
        purpose = serializers.CharField()
        is_repeat = serializers.BooleanField()
        training_attempt = serializers.IntegerField(allow_null=True)
        gold_correct = serializers.BooleanField(allow_null=True)
        excluded = serializers.BooleanField()

    class FilterSerializer(serializers.Serializer):
        kind = serializers.ChoiceField(choices=TaskKind.choices, required=False)
        annotator = serializers.IntegerField(required=False, help_text="A user id (researchers only).")
        purpose = serializers.ChoiceField(choices=WorkItem.Purpose.choices, required=False, help_text="Researchers only.")

    @extend_schema(
        parameters=[FilterSerializer],
        responses={200: ResearcherOutputSerializer(many=True), **error_responses(400, 403, 404)},
        description="Annotators get the fields of OutputSerializer for their own judgements only.",
    )
    def get(self, request, project_id):
        filters = self.FilterSerializer(data=request.query_params)
        filters.is_valid(raise_exception=True)
        data = filters.validated_data
        project = self.get_project()
        if can_manage_project(request.user, project):
            judgements = selectors_work.project_judgements(
                project=project, kind=data.get("kind"), annotator_id=data.get("annotator"), purpose=data.get("purpose")
            )
            serializer_class = self.ResearcherOutputSerializer
        else:
            judgements = selectors_work.project_judgements(project=project, kind=data.get("kind"), annotator_id=request.user.pk)
            serializer_class = self.OutputSerializer
        return paginated_response(request=request, view=self, queryset=judgements, serializer_class=serializer_class)


class ProjectProgressApi(ProjectApiMixin, APIView):
    """GET /api/projects/<id>/progress/: per annotator (done, gold accuracy, training, median time) and per kind."""

    permission_classes = [IsProjectResearcher]

    class OutputSerializer(serializers.Serializer):
        class AnnotatorSerializer(serializers.Serializer):
            user_id = serializers.IntegerField()
            username = serializers.CharField()
            done = serializers.IntegerField()
            gold_total = serializers.IntegerField()
            gold_correct = serializers.IntegerField()
            gold_accuracy = serializers.FloatField(allow_null=True)
            training_attempt = serializers.IntegerField()
            training_passed = serializers.BooleanField()
            training_passed_at = serializers.DateTimeField(allow_null=True)
            training_score = serializers.FloatField(allow_null=True)
            median_duration_ms = serializers.FloatField(allow_null=True)
            run_count = serializers.IntegerField()
            last_submitted_at = serializers.DateTimeField(allow_null=True)

        class KindSerializer(serializers.Serializer):
            kind = serializers.CharField()
            label = serializers.CharField()
            enabled = serializers.BooleanField()
            items = serializers.IntegerField()
            judgements = serializers.IntegerField()
            complete_items = serializers.IntegerField()
            gold_items = serializers.IntegerField()
            training_items = serializers.IntegerField()

        overlap = serializers.IntegerField()
        annotators = AnnotatorSerializer(many=True)
        kinds = KindSerializer(many=True)

    @extend_schema(responses={200: OutputSerializer, **error_responses(403, 404)})
    def get(self, request, project_id):
        return Response(self.OutputSerializer(selectors_work.project_work_progress(project=self.get_project())).data)


class ProjectSettingsSerializer(serializers.Serializer):
    task_kinds = serializers.ListField(child=serializers.ChoiceField(choices=TaskKind.choices))
    overlap = serializers.IntegerField()
    pair_source = serializers.ChoiceField(choices=PairSource.choices)
    pair_reasoning = serializers.BooleanField()
    pair_allow_tie = serializers.BooleanField()
    selection_strategy = serializers.ChoiceField(choices=SelectionStrategy.choices)
    pair_batch_size = serializers.IntegerField()
    gold_rate = serializers.FloatField()
    repeat_rate = serializers.FloatField()
    lease_seconds = serializers.IntegerField()
    fatigue_warn_after = serializers.IntegerField()
    fatigue_pause_after = serializers.IntegerField()
    fatigue_break_minutes = serializers.IntegerField()
    training_required = serializers.BooleanField()
    training_pass_mark = serializers.FloatField()
    pathway_show_mos = serializers.BooleanField()


class ProjectSettingsUpdateApi(ProjectApiMixin, APIView):
    """PATCH /api/projects/<id>/settings/: change any of the annotation settings; returns all of them."""

    permission_classes = [IsProjectResearcher]
    InputSerializer = ProjectSettingsSerializer
    OutputSerializer = ProjectSettingsSerializer

    @extend_schema(request=ProjectSettingsSerializer(partial=True), responses={200: ProjectSettingsSerializer, **error_responses(400, 403, 404)})
    def patch(self, request, project_id):
        serializer = self.InputSerializer(data=request.data, partial=True)
        serializer.is_valid(raise_exception=True)
        if not serializer.validated_data:
            raise ValidationError({"non_field_errors": ["Send at least one setting to change."]})
        project = work.project_settings_update(self.get_project(), **serializer.validated_data)
        return Response(self.OutputSerializer(project).data)


class GoldItemCreateApi(ProjectApiMixin, APIView):
    """POST /api/projects/<id>/gold/: add a hidden gold item or a training item with its known answer."""

    permission_classes = [IsProjectResearcher]

    class InputSerializer(serializers.Serializer):
        kind = serializers.ChoiceField(choices=TaskKind.choices)
        purpose = serializers.ChoiceField(
            choices=[WorkItem.Purpose.GOLD, WorkItem.Purpose.TRAINING], default=WorkItem.Purpose.GOLD
        )
        image_id = serializers.IntegerField()
        image_b_id = serializers.IntegerField(required=False, allow_null=True, default=None, help_text="Pairs: image B.")
        gold_answer = serializers.JSONField(
            help_text='{"level": 1-5} (rating, pathway), {"choice": "a"|"b"|"tie"} (pair; "a" is image_id), {"overall": ...} (description).'
        )
        feedback = serializers.CharField(required=False, allow_blank=True, default="", help_text="Training: shown after an answer.")

    class OutputSerializer(serializers.Serializer):
        id = serializers.IntegerField()
        kind = serializers.CharField()
        purpose = serializers.CharField()
        image_id = serializers.IntegerField()
        image_b_id = serializers.IntegerField(allow_null=True)
        gold_answer = serializers.JSONField(help_text="In item terms (A is image_id, the lower id of a pair).")
        feedback = serializers.CharField()
        created_at = serializers.DateTimeField()

    @extend_schema(request=InputSerializer, responses={201: OutputSerializer, **error_responses(400, 403, 404)})
    def post(self, request, project_id):
        serializer = self.InputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        project = self.get_project()
        images = {image.pk: image for image in Image.objects.filter(project=project, pk__in=[data["image_id"], data["image_b_id"]])}
        if data["image_id"] not in images:
            raise ValidationError({"image_id": ["No such image in this project."]})
        if data["image_b_id"] is not None and data["image_b_id"] not in images:
            raise ValidationError({"image_b_id": ["No such image in this project."]})
        item = work.gold_item_add(
            project, kind=data["kind"], image=images[data["image_id"]], image_b=images.get(data["image_b_id"]),
            gold_answer=data["gold_answer"], purpose=data["purpose"], feedback=data["feedback"],
        )
        return Response(self.OutputSerializer(item).data, status=status.HTTP_201_CREATED)


class PairsGenerateApi(ProjectApiMixin, APIView):
    """POST /api/projects/<id>/pairs/: add new comparison pairs chosen by the project's pair source."""

    permission_classes = [IsProjectResearcher]

    class InputSerializer(serializers.Serializer):
        count = serializers.IntegerField(min_value=1, max_value=PAIRS_GENERATE_MAX)

    @extend_schema(
        request=InputSerializer,
        responses={201: inline_serializer("PairsGenerated", {"created": serializers.IntegerField(), "open": serializers.IntegerField()}),
                   **error_responses(400, 403, 404)},
    )
    def post(self, request, project_id):
        serializer = self.InputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        project = self.get_project()
        created = work.pairs_generate(project, count=serializer.validated_data["count"], rng=np.random.default_rng())
        return Response({"created": created, "open": work.pair_items_open_count(project)}, status=status.HTTP_201_CREATED)

