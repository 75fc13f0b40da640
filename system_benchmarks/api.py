"""The researcher's REST API for system benchmarks: runs (list, start, read, cancel, resume) and challenge sets."""
from django.shortcuts import get_object_or_404
from django.urls import path, reverse
from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.exceptions import ValidationError
from rest_framework.response import Response
from rest_framework.views import APIView

from annotation.api import ProjectApiMixin
from annotation.permissions import IsProjectResearcher
from config.api import Pagination, paginated_response
from evaluation import protocols as p
from evaluation.difficulty import DEFAULT_EPSILON, DEFAULT_LAMBDA
from system_benchmarks import selectors
from system_benchmarks.models import BenchmarkRun, ChallengeSet
from system_benchmarks.services import challenges
from system_benchmarks.services.runs import BenchmarkError, RunSpec, benchmark_run_cancel, benchmark_run_create, benchmark_run_resume


class BenchmarkRunOutputSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    name = serializers.CharField()
    status = serializers.ChoiceField(choices=BenchmarkRun.Status.choices)
    error = serializers.CharField()
    system_kind = serializers.CharField()
    endpoint_base_url = serializers.CharField()
    endpoint_model = serializers.CharField()
    endpoint_key_env = serializers.CharField()
    critic_version_id = serializers.IntegerField(allow_null=True)
    protocols = serializers.ListField(child=serializers.CharField())
    promptings = serializers.ListField(child=serializers.CharField())
    subset_size = serializers.IntegerField()
    seed = serializers.IntegerField()
    rounds = serializers.IntegerField()
    list_size = serializers.IntegerField()
    full_reference = serializers.BooleanField()
    n_calls = serializers.IntegerField()
    n_answered = serializers.IntegerField()
    n_unparseable = serializers.IntegerField()
    n_failed = serializers.IntegerField()
    chunks_total = serializers.IntegerField(help_text="A critic run: chunks its pending calls were split into across `gpu` workers.")
    chunks_done = serializers.IntegerField(help_text="Of those, the chunks answered so far.")
    cancel_requested = serializers.BooleanField()
    results = serializers.JSONField()
    created_at = serializers.DateTimeField()
    started_at = serializers.DateTimeField(allow_null=True)
    finished_at = serializers.DateTimeField(allow_null=True)


class _RunApiMixin(ProjectApiMixin):
    def get_run(self) -> BenchmarkRun:
        return get_object_or_404(BenchmarkRun, pk=self.kwargs["benchmark_run_id"], project=self.get_project())


def _bad(error: BenchmarkError) -> ValidationError:
    return ValidationError({"non_field_errors": [str(error)]})


class BenchmarkRunsApi(ProjectApiMixin, APIView):
    """GET: the project's benchmark runs, newest first. POST: start one (202, the run; it works on the worker)."""

    permission_classes = [IsProjectResearcher]
    pagination_class = Pagination

    class InputSerializer(serializers.Serializer):
        name = serializers.CharField(required=False, allow_blank=True, default="")
        system_kind = serializers.ChoiceField(choices=BenchmarkRun.SystemKind.choices)
        critic_version_id = serializers.IntegerField(required=False, allow_null=True, default=None)
        endpoint_base_url = serializers.CharField(required=False, allow_blank=True, default="")
        endpoint_model = serializers.CharField(required=False, allow_blank=True, default="")
        endpoint_key_env = serializers.CharField(
            required=False, allow_blank=True, default="", help_text="The NAME of a registered credential (e.g. `llm`), never a key; empty: no key.",
        )
        requests_per_minute = serializers.FloatField(required=False, default=0.0)
        protocols = serializers.ListField(child=serializers.ChoiceField(choices=p.PROTOCOLS), allow_empty=False)
        promptings = serializers.ListField(child=serializers.ChoiceField(choices=p.PROMPTINGS), allow_empty=False)
        subset_size = serializers.IntegerField(default=50)
        seed = serializers.IntegerField(default=0)
        rounds = serializers.IntegerField(default=2)
        list_size = serializers.IntegerField(default=4)
        full_reference = serializers.BooleanField(default=False, help_text="Paper 004's full-reference scenario (images with a reference, shown with it).")

    @extend_schema(responses=BenchmarkRunOutputSerializer(many=True))
    def get(self, request, project_id):
        runs = selectors.benchmark_runs(project=self.get_project())
        return paginated_response(request=request, view=self, queryset=runs, serializer_class=BenchmarkRunOutputSerializer)

    @extend_schema(request=InputSerializer, responses={202: BenchmarkRunOutputSerializer})
    def post(self, request, project_id):
        serializer = self.InputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        try:
            run = benchmark_run_create(project=self.get_project(), user=request.user, spec=RunSpec(**serializer.validated_data))
        except BenchmarkError as error:
            raise _bad(error) from error
        location = request.build_absolute_uri(reverse("benchmarks_api:benchmark_run", kwargs={"project_id": project_id, "benchmark_run_id": run.pk}))
        return Response(BenchmarkRunOutputSerializer(run).data, status=status.HTTP_202_ACCEPTED, headers={"Location": location})


class BenchmarkRunApi(_RunApiMixin, APIView):
    """GET: one run with its progress and, once done, its results per protocol × prompting."""

    permission_classes = [IsProjectResearcher]

    @extend_schema(responses=BenchmarkRunOutputSerializer)
    def get(self, request, project_id, benchmark_run_id):
        return Response(BenchmarkRunOutputSerializer(self.get_run()).data)


class BenchmarkCancelApi(_RunApiMixin, APIView):
    """POST: cancel a queued run now, a running one before its next call."""

    permission_classes = [IsProjectResearcher]

    @extend_schema(request=None, responses=BenchmarkRunOutputSerializer)
    def post(self, request, project_id, benchmark_run_id):
        try:
            return Response(BenchmarkRunOutputSerializer(benchmark_run_cancel(run=self.get_run())).data)
        except BenchmarkError as error:
            raise _bad(error) from error


class BenchmarkResumeApi(_RunApiMixin, APIView):
    """POST: queue a failed or cancelled run again; only its pending calls are made."""

    permission_classes = [IsProjectResearcher]

    @extend_schema(request=None, responses={202: BenchmarkRunOutputSerializer})
    def post(self, request, project_id, benchmark_run_id):
        try:
            run = benchmark_run_resume(run=self.get_run())
        except BenchmarkError as error:
            raise _bad(error) from error
        return Response(BenchmarkRunOutputSerializer(run).data, status=status.HTTP_202_ACCEPTED)


class ChallengeSetOutputSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    name = serializers.CharField()
    source_run_id = serializers.IntegerField(allow_null=True)
    source_cell = serializers.CharField()
    lam = serializers.FloatField()
    epsilon = serializers.FloatField()
    per_reference = serializers.IntegerField(allow_null=True)
    image_ids = serializers.ListField(child=serializers.IntegerField())
    items = serializers.JSONField()
    created_at = serializers.DateTimeField()


class ChallengeSetCreateApi(_RunApiMixin, APIView):
    """POST: choose hard, diverse images from this finished run (paper 004, eq. 5); 201, the challenge set."""

    permission_classes = [IsProjectResearcher]

    class InputSerializer(serializers.Serializer):
        cell = serializers.CharField(help_text='The expert: "protocol:prompting" of this run.')
        n_select = serializers.IntegerField(min_value=1)
        lam = serializers.FloatField(default=DEFAULT_LAMBDA, min_value=0)
        epsilon = serializers.FloatField(default=DEFAULT_EPSILON)
        name = serializers.CharField(required=False, allow_blank=True, default="")
        per_reference = serializers.IntegerField(
            required=False, allow_null=True, default=None, min_value=1,
            help_text="Full reference (eqs. 3-4): n_select counts references, this many images of each. Null: eq. 5.",
        )

    @extend_schema(request=InputSerializer, responses={201: ChallengeSetOutputSerializer})
    def post(self, request, project_id, benchmark_run_id):
        serializer = self.InputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        try:
            challenge = challenges.challenge_set_create(run=self.get_run(), user=request.user, **serializer.validated_data)
        except BenchmarkError as error:
            raise _bad(error) from error
        return Response(ChallengeSetOutputSerializer(challenge).data, status=status.HTTP_201_CREATED)


class ChallengeSetApi(ProjectApiMixin, APIView):
    """GET: one challenge set: its image ids in the order chosen, with each one's terms of eq. 5."""

    permission_classes = [IsProjectResearcher]

    @extend_schema(responses=ChallengeSetOutputSerializer)
    def get(self, request, project_id, challenge_set_id):
        challenge = get_object_or_404(ChallengeSet, pk=challenge_set_id, project=self.get_project())
        return Response(ChallengeSetOutputSerializer(challenge).data)


#: Under /api/ in the `benchmarks_api` namespace (config/urls.py).
api_urlpatterns = [
    path("projects/<int:project_id>/benchmarks/", BenchmarkRunsApi.as_view(), name="benchmark_runs"),
    path("projects/<int:project_id>/benchmarks/<int:benchmark_run_id>/", BenchmarkRunApi.as_view(), name="benchmark_run"),
    path("projects/<int:project_id>/benchmarks/<int:benchmark_run_id>/cancel/", BenchmarkCancelApi.as_view(), name="benchmark_cancel"),
    path("projects/<int:project_id>/benchmarks/<int:benchmark_run_id>/resume/", BenchmarkResumeApi.as_view(), name="benchmark_resume"),
    path("projects/<int:project_id>/benchmarks/<int:benchmark_run_id>/challenge-sets/", ChallengeSetCreateApi.as_view(), name="challenge_create"),
    path("projects/<int:project_id>/challenge-sets/<int:challenge_set_id>/", ChallengeSetApi.as_view(), name="challenge_set"),
]
