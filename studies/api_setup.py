"""The researchers' study set-up API: create a study, add systems of each kind, retry a system, change annotators.

Every write goes through studies.services.setup, the same service the pages call. Input is checked here first so
that a bad field comes back as {"code": "invalid", "detail", "errors": {field: [messages]}}; what only the service
can judge (a duplicate name, an untrained critic) comes back the same way. Studies and systems of a project the
researcher does not manage are 404 (their ids say nothing); annotators get 403.
"""
from __future__ import annotations

from django.shortcuts import get_object_or_404
from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.exceptions import NotFound, ValidationError
from rest_framework.parsers import FormParser, MultiPartParser
from rest_framework.permissions import BasePermission
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.models import User
from annotation.api import ProjectApiMixin
from annotation.models import Membership
from config.egress import EgressRefused, validate_endpoint
from config.uploads import FORM_MARGIN_BYTES
from annotation.permissions import IsProjectResearcher, is_researcher, require_project_member
from config.api import error_responses
from studies import selectors
from studies.api import StudyOutputSerializer, SystemSerializer
from studies.models import DEFAULT_INSTRUCTION, Study, System
from studies.permissions import StudyMixin, can_manage_study
from studies.services import StudyError
from studies.services.setup import (
    JSONL_MAX_BYTES,
    study_annotators_set,
    study_create,
    system_add_critic,
    system_add_endpoint,
    system_import,
    system_retry,
)

#: Body fields that would carry a key itself: refused, so a key never reaches the database or a log of the request.
KEY_FIELDS = ("api_key", "key", "token", "secret")


class IsStudyResearcherElse404(BasePermission):
    """Researchers only (403 otherwise); a study of a project they do not manage is 404, as if it did not exist."""

    def has_permission(self, request, view) -> bool:
        if not (request.user and request.user.is_authenticated):
            return False
        require_project_member(request.user, view.get_study().project)
        if not is_researcher(request.user):
            return False
        if not can_manage_study(request.user, view.get_study()):
            raise NotFound()
        return True


def _refused(error: StudyError, field: str = "non_field_errors") -> ValidationError:
    """A service's refusal as invalid input on `field` (its per-line messages follow the summary)."""
    return ValidationError({field: [error.message, *error.errors]})


def _annotators(project, usernames: list[str]) -> list[User]:
    """The project's annotators named in `usernames`; a field error names every other one."""
    users = list(User.objects.filter(
        username__in=usernames, memberships__project=project, memberships__role=Membership.Role.ANNOTATOR,
    ).distinct())
    unknown = sorted(set(usernames) - {u.username for u in users})
    if unknown:
        raise ValidationError({"annotators": [f"Not annotators of this project: {', '.join(unknown)}."]})
    return users


def _system_body(request, system: System) -> dict:
    return SystemSerializer(system, context={"request": request}).data


class _NameCheck:
    """A system name that is new in the study (checked before the service, so the error names its field)."""

    def check_name(self, study: Study, name: str) -> str:
        name = name.strip()
        if System.objects.filter(study=study, name=name).exists():
            raise ValidationError({"name": [f"This study already has a system named {name!r}."]})
        return name


class StudyCreateApi(ProjectApiMixin, APIView):
    """POST /api/projects/<id>/studies/: create a study over chosen (or randomly sampled) project images; 201."""

    permission_classes = [IsProjectResearcher]

    class InputSerializer(serializers.Serializer):
        name = serializers.CharField(max_length=200)
        instruction = serializers.CharField(default=DEFAULT_INSTRUCTION, help_text="What every system is asked about each image.")
        image_ids = serializers.ListField(child=serializers.IntegerField(), required=False, allow_empty=False,
                                          help_text="The project's images to use; leave out to sample `image_count`.")
        image_count = serializers.IntegerField(min_value=0, default=0, help_text="Random images when `image_ids` is left out (0: all).")
        seed = serializers.IntegerField(required=False, allow_null=True, default=None, help_text="Seed of the image sample.")
        votes_per_trial = serializers.IntegerField(min_value=1, max_value=50, default=2)
        show_reference = serializers.BooleanField(default=True)
        ask_criteria = serializers.BooleanField(default=False)
        annotators = serializers.ListField(child=serializers.CharField(), default=list, help_text="Usernames of project annotators.")

    @extend_schema(request=InputSerializer, responses={201: StudyOutputSerializer, **error_responses(400, 403, 404)})
    def post(self, request, project_id):
        project = self.get_project()
        serializer = self.InputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        annotators = _annotators(project, data["annotators"])
        if "image_ids" in data:
            outside = set(data["image_ids"]) - set(project.images.filter(pk__in=data["image_ids"]).values_list("pk", flat=True))
            if outside:
                raise ValidationError({"image_ids": [f"Not images of this project: {', '.join(map(str, sorted(outside)))}."]})
        try:
            study = study_create(
                project=project, name=data["name"], created_by=request.user, annotators=annotators, instruction=data["instruction"],
                image_ids=data.get("image_ids"), image_count=data["image_count"], seed=data["seed"],
                votes_per_trial=data["votes_per_trial"], show_reference=data["show_reference"], ask_criteria=data["ask_criteria"],
            )
        except StudyError as error:
            raise _refused(error) from None
        return Response(StudyOutputSerializer(study, context={"request": request}).data, status=status.HTTP_201_CREATED)


class SystemImportApi(StudyMixin, _NameCheck, APIView):
    """POST /api/studies/<id>/systems/imported/ (multipart): a system from a JSONL answers file; 201, trials made at once.

    All or nothing: a file with any bad line is refused with one message per line under `errors.answers`.
    """

    permission_classes = [IsStudyResearcherElse404]
    parser_classes = [MultiPartParser, FormParser]

    @classmethod
    def max_body_bytes(cls) -> int:  # config/uploads.py
        return JSONL_MAX_BYTES + FORM_MARGIN_BYTES

    class InputSerializer(serializers.Serializer):
        name = serializers.CharField(max_length=120, help_text="Seen by researchers only.")
        answers = serializers.FileField(help_text='JSONL, one object a line: {"image": file name or "content_hash": sha256, "answer": text}.')

        def validate_answers(self, upload):
            if upload.size > JSONL_MAX_BYTES:
                raise serializers.ValidationError(f"The file is larger than {JSONL_MAX_BYTES // (1024 * 1024)} MiB.")
            return upload

    @extend_schema(request={"multipart/form-data": InputSerializer}, responses={201: SystemSerializer, **error_responses(400, 403, 404)})
    def post(self, request, study_id):
        study = self.get_study()
        serializer = self.InputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        name = self.check_name(study, serializer.validated_data["name"])
        try:
            system = system_import(study=study, name=name, data=serializer.validated_data["answers"].read())
        except StudyError as error:
            raise _refused(error, "answers") from None
        return Response(_system_body(request, system), status=status.HTTP_201_CREATED)


class SystemCriticApi(StudyMixin, _NameCheck, APIView):
    """POST /api/studies/<id>/systems/critic/: a trained critic version of the project; its answers are made on `gpu`; 201."""

    permission_classes = [IsStudyResearcherElse404]

    class InputSerializer(serializers.Serializer):
        name = serializers.CharField(max_length=120, help_text="Seen by researchers only.")
        critic_version = serializers.IntegerField(help_text="Id of a trained critic version of the study's project.")

    @extend_schema(request=InputSerializer, responses={201: SystemSerializer, **error_responses(400, 403, 404)})
    def post(self, request, study_id):
        study = self.get_study()
        serializer = self.InputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        name = self.check_name(study, serializer.validated_data["name"])
        # Another project's version reads as unknown: its id says nothing.
        version = selectors.critic_versions_usable(project=study.project).filter(pk=serializer.validated_data["critic_version"]).first()
        if version is None:
            raise ValidationError({"critic_version": ["No trained critic version of this project has this id."]})
        try:
            system = system_add_critic(study=study, name=name, critic_version=version)
        except StudyError as error:
            raise _refused(error, "critic_version") from None
        return Response(_system_body(request, system), status=status.HTTP_201_CREATED)


class SystemEndpointApi(StudyMixin, _NameCheck, APIView):
    """POST /api/studies/<id>/systems/endpoint/: an OpenAI-compatible vision endpoint, asked about every image; 201.

    The key is never sent: `key_env` names a credential the administrator registered (LOUPE_ENDPOINT_CREDENTIALS),
    which the worker sends only to that credential's hosts. The base URL's host must be on the administrator's
    allow-list. A body carrying a key (`api_key`, `key`, `token`, `secret`) is refused.
    """

    permission_classes = [IsStudyResearcherElse404]

    class InputSerializer(serializers.Serializer):
        name = serializers.CharField(max_length=120, help_text="Seen by researchers only.")
        base_url = serializers.URLField(max_length=200, help_text="e.g. https://api.openai.com/v1 or http://localhost:8000/v1")
        model = serializers.CharField(max_length=200)
        key_env = serializers.CharField(max_length=100, required=False, allow_blank=True, default="",
                                        help_text="The NAME of a registered credential (e.g. `llm`), never a key; empty: no key.")

        def validate_base_url(self, value: str) -> str:
            if not value.startswith(("http://", "https://")):
                raise serializers.ValidationError("Give an http(s) URL.")
            return value

        def validate(self, data):
            data["key_env"] = data["key_env"].strip()
            try:
                validate_endpoint(data["base_url"], data["key_env"])
            except EgressRefused as error:
                raise serializers.ValidationError({"key_env" if error.field == "credential" else "base_url": [str(error)]})
            return data

    @extend_schema(request=InputSerializer, responses={201: SystemSerializer, **error_responses(400, 403, 404)})
    def post(self, request, study_id):
        study = self.get_study()
        sent_keys = [field for field in KEY_FIELDS if field in request.data]
        if sent_keys:
            raise ValidationError({field: ["Never send a key: give `key_env`, the name of a credential an administrator registered."]
                                   for field in sent_keys})
        serializer = self.InputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        name = self.check_name(study, data["name"])
        try:
            system = system_add_endpoint(study=study, name=name, base_url=data["base_url"], model=data["model"], key_env=data["key_env"])
        except StudyError as error:
            raise _refused(error) from None
        return Response(_system_body(request, system), status=status.HTTP_201_CREATED)


class SystemRetryApi(APIView):
    """POST /api/studies/systems/<id>/retry/: queue a failed generated system again (finished answers kept); 202.

    409 not_retryable for an imported system or one that already has all its answers.
    """

    permission_classes = [IsStudyResearcherElse404]
    _system: System | None = None

    def get_system(self) -> System:
        if self._system is None:
            self._system = get_object_or_404(System.objects.select_related("study__project"), pk=self.kwargs["system_id"])
        return self._system

    def get_study(self) -> Study:
        return self.get_system().study

    @extend_schema(request=None, responses={202: SystemSerializer, **error_responses(403, 404, 409)})
    def post(self, request, system_id):
        try:
            system = system_retry(system=self.get_system())
        except StudyError as error:
            return Response({"code": "not_retryable", "detail": error.message}, status=status.HTTP_409_CONFLICT)
        return Response(_system_body(request, system), status=status.HTTP_202_ACCEPTED)


class StudyAnnotatorsApi(StudyMixin, APIView):
    """PUT /api/studies/<id>/annotators/: replace who votes in the study (project annotators, by username); 200."""

    permission_classes = [IsStudyResearcherElse404]

    class InputSerializer(serializers.Serializer):
        annotators = serializers.ListField(child=serializers.CharField(), allow_empty=True, help_text="Usernames of project annotators.")

    class OutputSerializer(serializers.Serializer):
        annotators = serializers.ListField(child=serializers.CharField())

    @extend_schema(request=InputSerializer, responses={200: OutputSerializer, **error_responses(400, 403, 404)})
    def put(self, request, study_id):
        study = self.get_study()
        serializer = self.InputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        annotators = _annotators(study.project, serializer.validated_data["annotators"])
        try:
            study_annotators_set(study=study, annotators=annotators)
        except StudyError as error:
            raise _refused(error, "annotators") from None
        names = [u.get_username() for u in study.annotators.order_by("username")]
        return Response(self.OutputSerializer({"annotators": names}).data)


class StudyJudgeApi(StudyMixin, APIView):
    """POST /api/studies/<id>/judge/: queue the GPT4-score judge (paper 002) over the answers without a score; 202.

    Every field is optional: the configured LLM server (LOUPE_LLM_BASE_URL, LOUPE_LLM_MODEL, credential `llm`) by
    default. The endpoint is checked against the administrator's policy before anything is queued (400 if refused).
    Scores appear in GET /api/studies/<id>/results/ (`gpt4_score`, `gpt4_scored`, `gpt4_failed`, `gpt4_error`).
    """

    permission_classes = [IsStudyResearcherElse404]

    class InputSerializer(serializers.Serializer):
        base_url = serializers.URLField(max_length=200, required=False, help_text="Default: LOUPE_LLM_BASE_URL.")
        model = serializers.CharField(max_length=200, required=False, help_text="Default: LOUPE_LLM_MODEL.")
        key_env = serializers.CharField(max_length=100, required=False, allow_blank=True,
                                        help_text="The NAME of a registered credential, never a key. Default: `llm` when a key is configured.")

    @extend_schema(request=InputSerializer, responses={202: None, **error_responses(400, 403, 404)})
    def post(self, request, study_id):
        from studies.services.judge import JudgeEndpoint, judge_endpoint_default
        from studies.services.setup import study_judge_request

        study = self.get_study()
        sent_keys = [field for field in KEY_FIELDS if field in request.data]
        if sent_keys:
            raise ValidationError({field: ["Never send a key: give `key_env`, the name of a registered credential."] for field in sent_keys})
        serializer = self.InputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        default = judge_endpoint_default()
        data = serializer.validated_data
        try:
            endpoint = JudgeEndpoint(data.get("base_url", default.base_url), data.get("model", default.model), data.get("key_env", default.key_env).strip())
            study_judge_request(study=study, endpoint=endpoint)
        except ValueError as error:  # EgressRefused is a ValueError
            field = getattr(error, "field", None)
            raise ValidationError({"key_env" if field == "credential" else "base_url" if field else "non_field_errors": [str(error)]}) from None
        return Response({"queued": True, "model": endpoint.model, "base_url": endpoint.base_url}, status=status.HTTP_202_ACCEPTED)
