"""The OpenAPI schema: valid with no warnings, every paginated list documented as the page it returns, one error body."""
import datetime as dt
import uuid

import pytest
from django.core.management import call_command
from django.utils import timezone
from drf_spectacular.settings import spectacular_settings
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from annotation.services.queue import assignment_next, judgement_submit
from annotation.services.work import project_settings_update
from annotation.vocabulary import TaskKind
from evaluation.models import ItemScore, ScalingRun
from exports.models import ExportJob
from modeling.models import CriticVersion, VQAItem
from tests.factories import ImageFactory
from tests.system_benchmarks.builders import benchmark_world

#: Every list endpoint that answers a page, {count, next, previous, results}; the scores page adds its runs.
PAGINATED = {
    "/api/projects/": {"count", "next", "previous", "results"},
    "/api/projects/{project_id}/images/": {"count", "next", "previous", "results"},
    "/api/projects/{project_id}/judgements/": {"count", "next", "previous", "results"},
    "/api/projects/{project_id}/revisions/": {"count", "next", "previous", "results"},
    "/api/projects/{project_id}/vqa/": {"count", "next", "previous", "results"},
    "/api/projects/{project_id}/exports/": {"count", "next", "previous", "results"},
    "/api/projects/{project_id}/benchmarks/": {"count", "next", "previous", "results"},
    "/api/projects/{project_id}/critic/versions/": {"count", "next", "previous", "results"},
    "/api/projects/{project_id}/scores/": {"count", "next", "previous", "results", "run", "latest"},
}
#: Lists short enough to come whole, as a bare array.
UNPAGINATED = {"/api/projects/{project_id}/studies/", "/api/projects/{project_id}/revisions/stats/"}

#: An answer to the description questionnaire, for the judgement the revision and the VQA item hang off.
DESCRIPTION_ANSWER = {
    "texture_category": "bricks", "texture_condition": "clear", "overall": "mild",
    "distortions": {"brightness": "undistorted", "color": "mild", "noise": "undistorted", "artifacts": "undistorted", "blurriness": "mild"},
}


@pytest.fixture(scope="module")
def schema():
    """The schema as /api/schema/ serves it."""
    generator = spectacular_settings.DEFAULT_GENERATOR_CLASS()
    return generator.get_schema(request=None, public=True)


def _resolve(schema: dict, node: dict) -> dict:
    while "$ref" in node:
        node = schema["components"]["schemas"][node["$ref"].rsplit("/", 1)[-1]]
    return node


def _ok_body(schema: dict, operation: dict) -> dict | None:
    """The documented JSON body of the operation's 200, resolved; None when it has none."""
    content = operation["responses"].get("200", {}).get("content", {})
    return _resolve(schema, content["application/json"]["schema"]) if "application/json" in content else None


def _query_parameters(operation: dict) -> set[str]:
    return {p["name"] for p in operation.get("parameters", []) if p["in"] == "query"}


@pytest.fixture
def world(project, researcher, annotator_member):
    """One row for every paginated list of the project: image, judgement, revision, VQA item, export, benchmark run,
    critic version and a finished scaling run with a score."""
    image = ImageFactory(project=project)
    project_settings_update(project, task_kinds=[TaskKind.DESCRIPTION], training_required=False, gold_rate=0.0)
    lease = assignment_next(project=project, annotator=annotator_member).lease
    judgement = judgement_submit(lease_id=lease.pk, annotator=annotator_member, client_id=uuid.uuid4(), answer=DESCRIPTION_ANSWER).judgement
    VQAItem.objects.create(project=project, source_judgement=judgement, kind=VQAItem.Kind.YES_NO, question="Is it sharp?", answer="no")
    ExportJob.objects.create(project=project, requested_by=researcher, formats=["pairs"])
    benchmark_world(project=project)
    CriticVersion.objects.create(project=project, number=1, base_model_dir="unused")
    finished = timezone.now() - dt.timedelta(minutes=1)
    run = ScalingRun.objects.create(project=project, status=ScalingRun.Status.DONE, started_at=finished, finished_at=finished)
    ItemScore.objects.create(run=run, image=image, score=0.1, variance=1.0, ci_low=-1.0, ci_high=1.2, score_0_100=50.0)
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {Token.objects.create(user=researcher).key}")
    return {"client": client, "project_id": project.pk}


def test_the_schema_validates_with_no_warnings(tmp_path):
    """`manage.py spectacular --validate --fail-on-warn` passes: the schema is valid OpenAPI and nothing was guessed."""
    call_command("spectacular", "--validate", "--fail-on-warn", "--file", str(tmp_path / "schema.yml"))
    assert (tmp_path / "schema.yml").read_text().startswith("openapi: 3")


def test_every_paginated_list_is_documented_as_a_page_with_page_parameters(schema):
    """The GET operations documented as a page are exactly the paginated lists, each with `page` and `page_size`; the
    only lists documented as a bare array are the ones that come whole."""
    pages, arrays = set(), set()
    for path, operations in schema["paths"].items():
        body = _ok_body(schema, operations["get"]) if "get" in operations else None
        if body is None:
            continue
        if body.get("type") == "array":
            arrays.add(path)
        elif {"count", "next", "previous", "results"} <= set(body.get("properties", {})):
            pages.add(path)
            assert {"page", "page_size"} <= _query_parameters(operations["get"]), path
            assert body["properties"]["results"]["type"] == "array", path
    assert pages == set(PAGINATED)
    assert arrays == UNPAGINATED


@pytest.mark.parametrize("path", sorted(PAGINATED))
def test_a_real_page_has_the_documented_keys(schema, world, path):
    """A real response of each paginated list has the documented envelope, and its rows the documented fields."""
    body = _ok_body(schema, schema["paths"][path]["get"])
    response = world["client"].get(path.format(project_id=world["project_id"]), {"page": 1, "page_size": 1})
    assert response.status_code == 200, response.content
    page = response.json()
    assert set(page) == set(body["properties"]) == PAGINATED[path]
    assert set(body.get("required", [])) <= set(page)
    assert page["count"] >= 1 and len(page["results"]) == 1, page
    row = _resolve(schema, body["properties"]["results"]["items"])
    assert set(page["results"][0]) == set(row["properties"]), path
    assert set(row.get("required", [])) <= set(page["results"][0])


def test_every_error_response_is_documented_with_the_error_body(schema):
    """Each operation documents 403 (unless anyone may call it) and, with an id in its path or a page number, 404;
    every 4xx it documents is the one Error body."""
    for path, operations in schema["paths"].items():
        for method, operation in operations.items():
            responses = operation["responses"]
            if path != "/api/auth/token/":
                assert "403" in responses, (method, path)
            if "{" in path or (path in PAGINATED and method == "get"):
                assert "404" in responses, (method, path)
            for status, response in responses.items():
                if status.startswith("4"):
                    ref = response["content"]["application/json"]["schema"]["$ref"]
                    assert ref == "#/components/schemas/Error", (method, path, status)


def test_errors_come_in_the_one_shape(world, annotator_member):
    """Invalid input, a missing object, a refused caller and a service refusal all answer {"code", "detail"} (plus
    "errors" for invalid input), with DRF's status codes."""
    client = world["client"]
    invalid = client.post("/api/projects/", {"slug": "not a slug!"}, format="json")
    assert invalid.status_code == 400
    assert invalid.json()["code"] == "invalid" and set(invalid.json()["errors"]) == {"name", "slug"}
    assert invalid.json()["detail"].startswith(("name: ", "slug: "))
    missing = client.get("/api/projects/999999/images/")
    assert missing.status_code == 404 and missing.json() == {"code": "not_found", "detail": missing.json()["detail"]}
    anonymous = APIClient().get("/api/projects/")
    assert anonymous.status_code == 401 and anonymous.json()["code"] == "not_authenticated"
    annotator = APIClient()
    annotator.force_authenticate(annotator_member)
    refused = annotator.get("/api/projects/")
    assert refused.status_code == 403 and refused.json()["code"] == "permission_denied"
    no_work = annotator.post(f"/api/projects/{world['project_id']}/assignments/next/")
    assert no_work.status_code == 404 and no_work.json()["code"] == "no_work" and no_work.json()["detail"]
