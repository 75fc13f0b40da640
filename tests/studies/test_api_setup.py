"""The researchers' study set-up API: create, add each kind of system, retry, annotators; bad input and permissions."""
import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from modeling.critic.models import CriticVersion
from studies.models import Answer, Study, System, Trial
from tests.factories import AnnotatorFactory, MembershipFactory, ProjectFactory, ResearcherFactory
from tests.studies.builders import answers_jsonl, images_add, study_with_systems

pytestmark = pytest.mark.django_db


@pytest.fixture
def api(client, researcher):
    client.force_login(researcher)
    return client


@pytest.fixture
def study(project, researcher, annotator_member):
    return study_with_systems(project=project, researcher=researcher, annotators=[annotator_member], n_images=3, names=("first",))


def _create(api, project, **body):
    return api.post(reverse("api:study_list", kwargs={"project_id": project.pk}), body, content_type="application/json")


def _upload(api, study, name, data: bytes):
    url = reverse("api:study_system_import", kwargs={"study_id": study.pk})
    return api.post(url, {"name": name, "answers": SimpleUploadedFile("answers.jsonl", data, content_type="application/jsonl")})


def _endpoint(api, study, **body):
    return api.post(reverse("api:study_system_endpoint", kwargs={"study_id": study.pk}), body, content_type="application/json")


def _invalid(response, *fields):
    """A 400 {"code": "invalid", "detail", "errors"} naming exactly `fields`; returns the errors."""
    assert response.status_code == 400, response.content
    body = response.json()
    assert body["code"] == "invalid" and body["detail"]
    assert set(body["errors"]) == set(fields), body
    return body["errors"]


def test_create_study_with_chosen_images_and_annotators(api, project, annotator_member):
    """POST creates the study over the given images through the setup service; the list and detail show it."""
    images = images_add(project, 4)
    response = _create(api, project, name="api study", image_ids=[images[0].pk, images[2].pk], votes_per_trial=3,
                       ask_criteria=True, annotators=[annotator_member.username], instruction="How sharp is it?")
    assert response.status_code == 201, response.content
    body = response.json()
    study = Study.objects.get(pk=body["id"])
    assert (study.name, study.votes_per_trial, study.ask_criteria, study.instruction) == ("api study", 3, True, "How sharp is it?")
    assert set(study.items.values_list("image_id", flat=True)) == {images[0].pk, images[2].pk}
    assert list(study.annotators.all()) == [annotator_member]
    assert body["url"].endswith(reverse("api:study_detail", kwargs={"study_id": study.pk}))
    detail = api.get(body["url"]).json()
    assert detail["annotators"] == [annotator_member.username] and detail["progress"]["items"] == 2
    assert [s["id"] for s in api.get(reverse("api:study_list", kwargs={"project_id": project.pk})).json()] == [study.pk]


def test_create_study_samples_images(api, project):
    """Without image_ids, image_count random images are taken (seeded)."""
    images_add(project, 5)
    response = _create(api, project, name="sampled", image_count=2, seed=3)
    assert response.status_code == 201
    assert Study.objects.get(pk=response.json()["id"]).items.count() == 2


def test_create_study_bad_input_names_the_fields(api, project, researcher):
    """Missing name, out-of-range votes, foreign images and non-annotators come back as field errors; nothing is saved."""
    own = images_add(project, 1)
    other_project = ProjectFactory(created_by=researcher)
    foreign = images_add(other_project, 1, first_seed=500)
    outsider = AnnotatorFactory()
    _invalid(_create(api, project, votes_per_trial=0), "name", "votes_per_trial")
    _invalid(_create(api, project, name="x", image_ids="all"), "image_ids")
    errors = _invalid(_create(api, project, name="x", image_ids=[own[0].pk, foreign[0].pk]), "image_ids")
    assert str(foreign[0].pk) in errors["image_ids"][0]
    errors = _invalid(_create(api, project, name="x", annotators=[outsider.username, "nobody-here"]), "annotators")
    assert errors["annotators"] == [f"Not annotators of this project: {', '.join(sorted([outsider.username, 'nobody-here']))}."]
    _invalid(_create(api, project, name="   ", instruction=" "), "name", "instruction")
    assert not Study.objects.exists()


def test_create_study_in_a_project_without_images_is_refused(api, project):
    """The service's refusal (no images) is a 400 with its message."""
    response = _create(api, project, name="empty")
    errors = _invalid(response, "non_field_errors")
    assert "no images" in errors["non_field_errors"][0] and "no images" in response.json()["detail"]


def test_import_system_makes_trials(api, study):
    """A multipart JSONL upload becomes a ready system with one answer per image, and trials against the first system."""
    images = [item.image for item in study.items.select_related("image")]
    response = _upload(api, study, "second", answers_jsonl(images, "second"))
    assert response.status_code == 201, response.content
    body = response.json()
    assert (body["name"], body["kind"], body["status"], body["answered_count"]) == ("second", "imported", "ready", 3)
    assert Answer.objects.filter(system_id=body["id"]).count() == 3
    assert Trial.objects.filter(study=study).count() == 3


def test_import_system_bad_file_lists_every_line_and_writes_nothing(api, study):
    """A file with bad lines is refused as a whole, one message per line under errors.answers; a taken name is a name error."""
    name = study.items.first().image.original_name
    data = b'{"image": "%s", "answer": "fine"}\n{oops\n{"image": "nope.png", "answer": "x"}\n' % name.encode()
    errors = _invalid(_upload(api, study, "bad", data), "answers")
    assert errors["answers"][0].startswith("The answers file was not imported: 2 problems")
    assert [e.split(":")[0] for e in errors["answers"][1:]] == ["line 2", "line 3"]
    assert "nope.png" in errors["answers"][2]
    _invalid(_upload(api, study, "first", answers_jsonl([study.items.first().image], "x")), "name")
    _invalid(api.post(reverse("api:study_system_import", kwargs={"study_id": study.pk}), {"name": "no file"}), "answers")
    assert list(study.systems.values_list("name", flat=True)) == ["first"]


def test_add_critic_system_only_trained_versions_of_the_project(api, study, researcher):
    """A trained version of the project is queued; an untrained one or another project's is a critic_version error."""
    url = reverse("api:study_system_critic", kwargs={"study_id": study.pk})
    trained = CriticVersion.objects.create(project=study.project, number=1, base_model_dir="unused",
                                           status=CriticVersion.Status.READY, artifact_sha256="ab" * 32)
    untrained = CriticVersion.objects.create(project=study.project, number=2, base_model_dir="unused")
    foreign = CriticVersion.objects.create(project=ProjectFactory(created_by=researcher), number=1, base_model_dir="unused",
                                           status=CriticVersion.Status.READY, artifact_sha256="cd" * 32)
    for version in (untrained, foreign):
        errors = _invalid(api.post(url, {"name": "c", "critic_version": version.pk}, content_type="application/json"), "critic_version")
        assert errors["critic_version"] == ["No trained critic version of this project has this id."]
    _invalid(api.post(url, {"name": "c", "critic_version": "v1"}, content_type="application/json"), "critic_version")
    response = api.post(url, {"name": "tiny critic", "critic_version": trained.pk}, content_type="application/json")
    assert response.status_code == 201, response.content
    system = System.objects.get(pk=response.json()["id"])
    assert (system.kind, system.status, system.critic_version) == (System.Kind.CRITIC, System.Status.QUEUED, trained)


def test_add_endpoint_system_takes_a_registered_credential_never_a_key(api, study, settings):
    """An endpoint is stored with the NAME of a registered credential; a key in the body or as key_env, a variable the
    administrator did not register, a host off the allow-list or a bad URL is refused."""
    settings.LOUPE_ENDPOINT_CREDENTIALS = "vision=VISION_API_KEY@127.0.0.1:9"
    settings.LOUPE_ENDPOINT_ALLOWED_HOSTS = "api.example.org"
    settings.LOUPE_ENDPOINT_PRIVATE_NETWORKS = "127.0.0.0/8"
    response = _endpoint(api, study, name="vision", base_url="http://127.0.0.1:9/v1", model="fake-vision-1", key_env="vision")
    assert response.status_code == 201, response.content
    system = System.objects.get(pk=response.json()["id"])
    assert (system.endpoint_base_url, system.endpoint_model, system.endpoint_key_env) == ("http://127.0.0.1:9/v1", "fake-vision-1", "vision")
    secret = "sk-proj-abcdef0123456789"
    errors = _invalid(_endpoint(api, study, name="e2", base_url="https://api.example.org/v1", model="m", key_env=secret), "key_env")
    assert "not a registered credential" in errors["key_env"][0] and secret not in str(errors)
    for variable in ("DATABASE_URL", "CELERY_BROKER_URL", "SECRET_KEY", "VISION_API_KEY"):
        errors = _invalid(_endpoint(api, study, name="e6", base_url="https://api.example.org/v1", model="m", key_env=variable), "key_env")
        assert "registered: llm, vision" in errors["key_env"][0]
    errors = _invalid(_endpoint(api, study, name="e7", base_url="https://api.example.org/v1", model="m", key_env="vision"), "key_env")
    assert "may only be sent to 127.0.0.1:9" in errors["key_env"][0]
    _invalid(_endpoint(api, study, name="e3", base_url="https://api.example.org/v1", model="m", api_key=secret), "api_key")
    _invalid(_endpoint(api, study, name="e4", base_url="ftp://example.org", model="m"), "base_url")
    _invalid(_endpoint(api, study, name="e5", base_url="not a url", model=""), "base_url", "model")
    _invalid(_endpoint(api, study, name="vision", base_url="https://api.example.org/v1", model="m"), "name")
    errors = _invalid(_endpoint(api, study, name="e8", base_url="http://127.0.0.1:6379/v1", model="m"), "base_url")
    assert "not allowed" in errors["base_url"][0]
    _invalid(_endpoint(api, study, name="e9", base_url="http://internal.example.org/v1", model="m"), "base_url")
    assert study.systems.count() == 2
    assert not System.objects.filter(endpoint_key_env__contains="sk-").exists()


def test_retry_queues_a_failed_system_and_refuses_others(api, study):
    """A failed endpoint system is queued again (202); an imported or complete system is 409 not_retryable."""
    failed = System.objects.create(study=study, name="broken", kind=System.Kind.ENDPOINT, status=System.Status.FAILED,
                                   error="boom", endpoint_base_url="http://127.0.0.1:9/v1", endpoint_model="m")
    response = api.post(reverse("api:study_system_retry", kwargs={"system_id": failed.pk}))
    assert response.status_code == 202, response.content
    assert response.json()["status"] == "queued"
    failed.refresh_from_db()
    assert (failed.status, failed.error) == (System.Status.QUEUED, "")
    imported = study.systems.get(name="first")
    response = api.post(reverse("api:study_system_retry", kwargs={"system_id": imported.pk}))
    assert response.status_code == 409 and response.json()["code"] == "not_retryable"
    System.objects.filter(pk=failed.pk).update(status=System.Status.READY)
    response = api.post(reverse("api:study_system_retry", kwargs={"system_id": failed.pk}))
    assert response.status_code == 409 and "all its answers" in response.json()["detail"]


def test_change_annotators(api, study, project, annotator_member):
    """PUT replaces the study's annotators with project annotators; anyone else is an annotators error."""
    url = reverse("api:study_annotators", kwargs={"study_id": study.pk})
    second = AnnotatorFactory(username="zz-second")
    MembershipFactory(project=project, user=second)
    response = api.put(url, {"annotators": [second.username, annotator_member.username]}, content_type="application/json")
    assert response.status_code == 200, response.content
    assert response.json() == {"annotators": sorted([annotator_member.username, second.username])}
    other_annotator = AnnotatorFactory()
    MembershipFactory(project=ProjectFactory(), user=other_annotator)
    _invalid(api.put(url, {"annotators": [other_annotator.username]}, content_type="application/json"), "annotators")
    _invalid(api.put(url, {"annotators": "everyone"}, content_type="application/json"), "annotators")
    assert api.put(url, {"annotators": []}, content_type="application/json").status_code == 200
    assert not study.annotators.exists()


def _setup_calls(study):
    """(method, url, body) of every set-up endpoint about `study`."""
    system = study.systems.first()
    return [
        ("post", reverse("api:study_system_import", kwargs={"study_id": study.pk}), {"name": "x"}),
        ("post", reverse("api:study_system_critic", kwargs={"study_id": study.pk}), {"name": "x", "critic_version": 1}),
        ("post", reverse("api:study_system_endpoint", kwargs={"study_id": study.pk}), {"name": "x", "base_url": "http://h/v1", "model": "m"}),
        ("post", reverse("api:study_system_retry", kwargs={"system_id": system.pk}), {}),
        ("put", reverse("api:study_annotators", kwargs={"study_id": study.pk}), {"annotators": []}),
    ]


def test_annotators_get_403_and_other_projects_researchers_404(client, study, annotator_member):
    """An annotator of the project is refused (403); a researcher of another project is told the study does not exist (404)."""
    client.force_login(annotator_member)
    for method, url, body in _setup_calls(study):
        assert getattr(client, method)(url, body, content_type="application/json").status_code == 403, url
    assert _create(client, study.project, name="x").status_code == 403
    outsider = ResearcherFactory()
    ProjectFactory(created_by=outsider)  # a researcher of their own project only
    client.force_login(outsider)
    for method, url, body in _setup_calls(study):
        response = getattr(client, method)(url, body, content_type="application/json")
        assert response.status_code == 404 and response.json()["code"] == "not_found", url
    assert _create(client, study.project, name="x").status_code == 404
    client.logout()
    for method, url, body in _setup_calls(study):
        assert getattr(client, method)(url, body, content_type="application/json").status_code == 401, url
    assert study.systems.count() == 1 and list(study.annotators.all()) == [annotator_member]
