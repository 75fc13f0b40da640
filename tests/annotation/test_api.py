"""The REST API: token and session auth, projects, images, imports, and its validation errors."""
import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.urls import reverse
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from annotation.models import Image, ImportBatch, Membership, Project
from annotation.services.imports import image_import, import_batch_process_staged
from tests.factories import PASSWORD, AnnotatorFactory, ProjectFactory, ResearcherFactory, image_bytes


@pytest.fixture
def api(researcher):
    """An API client authenticated with the researcher's token, as a script would be."""
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {Token.objects.create(user=researcher).key}")
    return client


def _png(name="a.png", seed=1):
    return SimpleUploadedFile(name, image_bytes(seed=seed), content_type="image/png")


# -------------------------------------------------------------------------------------------- auth


def test_token_endpoint_trades_a_password_for_a_token(client, researcher):
    """POST /api/auth/token/ with a username and password returns a token that authenticates."""
    response = client.post(reverse("api_token"), {"username": researcher.username, "password": PASSWORD})
    token = response.json()["token"]
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Token {token}")
    assert api.get(reverse("api:project_list")).status_code == 200


def test_session_auth_works_and_needs_csrf_for_writes(researcher):
    """A browser session may read the API; its writes need the CSRF token like any form."""
    browser = Client(enforce_csrf_checks=True)
    browser.force_login(researcher)
    assert browser.get(reverse("api:project_list")).status_code == 200
    response = browser.post(reverse("api:project_list"), {"name": "No token"}, content_type="application/json")
    assert response.status_code == 403 and "CSRF" in response.json()["detail"]


def test_token_writes_need_no_csrf(api):
    """A token-authenticated script creates a project without any CSRF token."""
    assert api.post(reverse("api:project_list"), {"name": "Scripted"}, format="json").status_code == 201


def test_anonymous_gets_refused(db):
    """Without credentials the API refuses with 401 or 403 and says why."""
    response = APIClient().get(reverse("api:project_list"))
    assert response.status_code in (401, 403)
    assert "credentials" in response.json()["detail"]


def test_other_methods_on_the_projects_url_are_405(api):
    """The projects URL answers GET and POST; other methods get 405."""
    assert api.delete(reverse("api:project_list")).status_code == 405


# ------------------------------------------------------------------------------------------ projects


def test_list_managed_projects(api, project):
    """GET /api/projects/ lists the caller's projects, paginated, with their image counts."""
    ProjectFactory(name="Other lab")
    image_import(project=project, name="a.png", data=image_bytes(seed=1))
    body = api.get(reverse("api:project_list")).json()
    assert body["count"] == 1
    (item,) = body["results"]
    assert (item["id"], item["name"], item["image_count"]) == (project.pk, project.name, 1)
    assert item["url"].endswith(reverse("api:project_detail", kwargs={"project_id": project.pk}))


def test_create_project(api, researcher):
    """POST /api/projects/ creates a project with a slug made from its name; the caller manages it."""
    response = api.post(reverse("api:project_list"), {"name": "Sharpness 2025", "description": "pilot"}, format="json")
    assert response.status_code == 201
    project = Project.objects.get(pk=response.json()["id"])
    assert response.json()["slug"] == project.slug == "sharpness-2025"
    assert Membership.objects.get(project=project, user=researcher).role == Membership.Role.RESEARCHER


@pytest.mark.parametrize(
    "payload, field, message",
    [
        ({}, "name", "This field is required."),
        ({"name": "   "}, "name", "may not be blank"),
        ({"name": "x", "slug": "not a slug!"}, "slug", "valid"),
        ({"name": "x", "slug": "taken"}, "slug", "already taken"),
    ],
)
def test_create_project_validation_errors(api, payload, field, message):
    """Bad project input answers 400 with the reason on the field it concerns."""
    ProjectFactory(slug="taken")
    response = api.post(reverse("api:project_list"), payload, format="json")
    assert response.status_code == 400
    assert response.json()["code"] == "invalid"
    assert message in " ".join(response.json()["errors"][field])


def test_project_detail_with_members(api, project, annotator_member):
    """GET /api/projects/<id>/ returns the project with its members and their roles."""
    body = api.get(reverse("api:project_detail", kwargs={"project_id": project.pk})).json()
    assert {(m["username"], m["role"]) for m in body["members"]} == {
        (project.created_by.username, "researcher"),
        (annotator_member.username, "annotator"),
    }


def test_non_member_and_missing_project_both_get_404(db, project):
    """A researcher with no role in a project gets 404 for it, as for a project that does not exist."""
    outsider = APIClient()
    outsider.force_authenticate(ResearcherFactory())
    assert outsider.get(reverse("api:project_detail", kwargs={"project_id": project.pk})).status_code == 404
    assert outsider.get(reverse("api:project_detail", kwargs={"project_id": project.pk + 999})).status_code == 404


def test_annotator_gets_403_on_their_project_and_404_elsewhere(annotator_member, project):
    """An annotator member is refused researcher endpoints (403); a project they have no role in, or none at all, is 404."""
    client = APIClient()
    client.force_authenticate(annotator_member)
    assert client.get(reverse("api:project_list")).status_code == 403
    assert client.get(reverse("api:project_detail", kwargs={"project_id": project.pk})).status_code == 403
    assert client.get(reverse("api:project_detail", kwargs={"project_id": 999999})).status_code == 404


# -------------------------------------------------------------------------------------------- images


def test_images_are_paginated_with_mos_and_hidden_ground_truth(api, project):
    """GET /api/projects/<id>/images/ pages through images with every researcher field and file URLs."""
    images = [image_import(project=project, name=f"{n}.png", data=image_bytes(seed=n)).image for n in range(3)]
    Image.objects.filter(pk=images[0].pk).update(
        mos_raw=3.0, mos_scale_min=1, mos_scale_max=5, mos_normalised=50.0, hidden_ground_truth={"severity": 2}
    )
    url = reverse("api:project_images", kwargs={"project_id": project.pk})
    first = api.get(url, {"page_size": 2}).json()
    assert first["count"] == 3 and len(first["results"]) == 2 and first["next"]
    item = first["results"][0]
    assert (item["mos_raw"], item["mos_normalised"], item["mos_scale_max"]) == (3.0, 50.0, 5.0)
    assert item["hidden_ground_truth"] == {"severity": 2}
    assert item["file_url"].endswith(reverse("annotation:image_file", kwargs={"image_id": images[0].pk}))
    assert api.get(first["next"]).json()["results"][0]["id"] == images[2].pk


# ------------------------------------------------------------------------------------------- imports


def test_import_returns_202_with_the_batch_then_its_report(api, project, django_capture_on_commit_callbacks):
    """POST /api/projects/<id>/imports/ queues the files and answers 202; the batch URL then shows the report."""
    url = reverse("api:import_create", kwargs={"project_id": project.pk})
    with django_capture_on_commit_callbacks() as callbacks:
        response = api.post(
            url,
            {"files": [_png("a.png", 1), _png("b.png", 2)], "mos_min": "0", "mos_max": "100", "source_dataset": "SPAQ"},
            format="multipart",
        )
    assert response.status_code == 202
    body = response.json()
    assert body["status"] == "queued" and response["Location"] == body["url"]
    assert len(callbacks) == 1
    batch = ImportBatch.objects.get(pk=body["id"])
    assert batch.source == ImportBatch.Source.API
    assert batch.options == {"mos_scale": [0.0, 100.0], "source_dataset": "SPAQ"}

    import_batch_process_staged(batch_id=batch.pk)  # what the worker runs
    report = api.get(body["url"]).json()
    assert report["status"] == "done" and report["imported_count"] == 2
    assert sorted(entry["name"] for entry in report["report"]) == ["a.png", "b.png"]
    assert all(entry["status"] == "imported" and entry["image_id"] for entry in report["report"])


@pytest.mark.parametrize(
    "payload, field, message",
    [
        ({}, "files", "at least one image or zip"),
        ({"mos_min": "5", "mos_max": "1", "with_file": True}, "mos_max", "must be below its maximum"),
        ({"mos_min": "3", "mos_max": "3", "with_file": True}, "mos_max", "must be below its maximum"),
        ({"mos_max": "5", "with_file": True}, "mos_max", "Give both ends"),
        ({"mos_min": "one", "mos_max": "5", "with_file": True}, "mos_min", "A valid number is required."),
    ],
)
def test_import_validation_errors(api, project, payload, field, message):
    """No files, an upside-down or half MOS scale, or a non-number answer 400 and store nothing."""
    payload = dict(payload)
    if payload.pop("with_file", False):
        payload["files"] = [_png()]
    response = api.post(reverse("api:import_create", kwargs={"project_id": project.pk}), payload, format="multipart")
    assert response.status_code == 400
    assert response.json()["code"] == "invalid"
    assert message in " ".join(response.json()["errors"][field])
    assert not ImportBatch.objects.exists()


def test_import_with_dmos_option_flips_the_scores(api, project, django_capture_on_commit_callbacks):
    """mos_lower_is_better in the API call is kept on the batch; the images come out higher-is-better, raw DMOS kept."""
    manifest = SimpleUploadedFile("m.csv", b"filename,mos\na.png,1\nb.png,4\n", content_type="text/csv")
    with django_capture_on_commit_callbacks():
        response = api.post(
            reverse("api:import_create", kwargs={"project_id": project.pk}),
            {"files": [_png("a.png", 1), _png("b.png", 2)], "manifest": manifest, "mos_min": "1", "mos_max": "5",
             "mos_lower_is_better": "true"},
            format="multipart",
        )
    assert response.status_code == 202
    batch = ImportBatch.objects.get(pk=response.json()["id"])
    assert batch.options["mos_lower_is_better"] is True
    import_batch_process_staged(batch_id=batch.pk)
    images = api.get(reverse("api:project_images", kwargs={"project_id": project.pk})).json()["results"]
    by_name = {image["original_name"]: image for image in images}
    assert (by_name["a.png"]["mos_normalised"], by_name["b.png"]["mos_normalised"]) == (pytest.approx(100.0), pytest.approx(25.0))
    assert (by_name["a.png"]["mos_raw"], by_name["a.png"]["mos_lower_is_better"]) == (1.0, True)


def test_import_needs_multipart(api, project):
    """A JSON body cannot carry files: 415 says so."""
    response = api.post(reverse("api:import_create", kwargs={"project_id": project.pk}), {"files": []}, format="json")
    assert response.status_code == 415


def test_import_by_annotator_is_403(project, annotator_member):
    """An annotator member cannot import into the project."""
    client = APIClient()
    client.force_authenticate(annotator_member)
    url = reverse("api:import_create", kwargs={"project_id": project.pk})
    response = client.post(url, {"files": [_png()]}, format="multipart")
    assert response.status_code == 403
    assert not ImportBatch.objects.exists()


def test_import_detail_of_another_project_is_404(db, project):
    """A researcher cannot read another project's import report: it answers as one that does not exist."""
    batch = ImportBatch.objects.create(project=project, source=ImportBatch.Source.API)
    outsider = APIClient()
    outsider.force_authenticate(AnnotatorFactory(role="researcher"))
    assert outsider.get(reverse("api:import_detail", kwargs={"batch_id": batch.pk})).status_code == 404
    assert outsider.get(reverse("api:import_detail", kwargs={"batch_id": batch.pk + 99})).status_code == 404
