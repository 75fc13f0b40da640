"""Setting up a study: creation rules, JSONL answer imports (all or nothing, per-line errors), systems, trials."""
import json

import pytest
from django.urls import reverse

from studies.models import Answer, Study, System, Trial
from studies.services import StudyError
from studies.services.setup import study_create, system_add_endpoint, system_import, system_retry
from tests.factories import AnnotatorFactory
from tests.studies.builders import answers_jsonl, images_add, study_with_systems

pytestmark = pytest.mark.django_db


@pytest.fixture
def study(project, researcher, annotator_member):
    images = images_add(project, 3)
    return study_create(project=project, name="s", created_by=researcher, annotators=[annotator_member], image_ids=[i.pk for i in images])


def _lines(*rows) -> bytes:
    return "\n".join(row if isinstance(row, str) else json.dumps(row) for row in rows).encode()


def test_study_create_samples_images_and_refuses_outsiders(project, researcher, annotator_member):
    """A study takes `image_count` random project images; a non-annotator of the project cannot be assigned."""
    images_add(project, 5)
    study = study_create(project=project, name="five", created_by=researcher, annotators=[annotator_member], image_count=2, seed=1)
    assert study.items.count() == 2
    with pytest.raises(StudyError, match="Not annotators of this project"):
        study_create(project=project, name="x", created_by=researcher, annotators=[AnnotatorFactory()])
    with pytest.raises(StudyError, match="needs a name"):
        study_create(project=project, name="  ", created_by=researcher, annotators=[])


def test_study_without_images_is_refused(project, researcher):
    """A project with no images cannot have a study."""
    with pytest.raises(StudyError, match="no images"):
        study_create(project=project, name="empty", created_by=researcher, annotators=[])


def test_jsonl_import_by_name_and_content_hash_makes_trials(study):
    """Answers match images by file name or content hash; two complete systems give one trial per image."""
    items = list(study.items.select_related("image"))
    first = system_import(study=study, name="A", data=answers_jsonl([i.image for i in items], "a"))
    rows = [{"content_hash": i.image.content_hash.upper(), "answer": f"b {k}"} for k, i in enumerate(items)]
    second = system_import(study=study, name="B", data=_lines(*rows))
    assert first.status == second.status == System.Status.READY
    assert Answer.objects.filter(system=second).count() == 3
    assert Trial.objects.filter(study=study).count() == 3
    assert set(Trial.objects.values_list("system_a_id", "system_b_id")) == {(first.pk, second.pk)}


def test_jsonl_import_reports_every_bad_line_and_writes_nothing(study):
    """Each problem is reported with its line number, and a file with any problem imports nothing at all."""
    name = study.items.first().image.original_name
    data = _lines(
        {"image": name, "answer": "fine"},
        "{not json",
        "[1, 2]",
        {"image": name, "answer": ""},
        {"image": "nope.png", "answer": "x"},
        {"content_hash": "0" * 64, "answer": "x"},
        {"answer": "x"},
        {"image": name, "answer": "again"},
        "",
    )
    with pytest.raises(StudyError) as caught:
        system_import(study=study, name="bad", data=data)
    errors = caught.value.errors
    assert [e.split(":")[0] for e in errors] == ["line 2", "line 3", "line 4", "line 5", "line 6", "line 7", "line 8"]
    assert "not valid JSON" in errors[0] and "a second answer for the same image as line 1" in errors[-1]
    assert not System.objects.filter(study=study).exists() and not Answer.objects.exists()


def test_jsonl_import_refuses_non_utf8_empty_and_ambiguous_names(project, researcher, annotator_member):
    """Binary junk, an empty file and a file name two images share are refused with a clear message."""
    images = images_add(project, 1) + images_add(project, 1, first_seed=300, prefix="sbs")  # both named sbs-0.png
    study = study_create(project=project, name="s", created_by=researcher, annotators=[], image_ids=[i.pk for i in images])
    with pytest.raises(StudyError) as caught:
        system_import(study=study, name="x", data=b"\xff\xfe\x00bad")
    assert caught.value.errors == ["The file is not UTF-8 text."]
    with pytest.raises(StudyError) as caught:
        system_import(study=study, name="x", data=b"\n\n")
    assert caught.value.errors == ["The file has no answers."]
    with pytest.raises(StudyError) as caught:
        system_import(study=study, name="x", data=_lines({"image": "sbs-0.png", "answer": "y"}))
    assert "several images" in caught.value.errors[0] and "content_hash" in caught.value.errors[0]


def test_duplicate_system_name_is_refused(study):
    """Two systems of one study cannot share a name (researchers tell them apart by it)."""
    data = answers_jsonl([i.image for i in study.items.all()], "a")
    system_import(study=study, name="same", data=data)
    with pytest.raises(StudyError, match="already has a system named"):
        system_import(study=study, name="same", data=data)


def test_endpoint_key_must_be_a_registered_credential(study, loopback_endpoints):
    """A pasted key or an environment variable's name (not a registered credential) and a bad URL are refused; nothing is stored."""
    for key_env in ("sk-live-abc123!", "DATABASE_URL"):
        with pytest.raises(StudyError, match="not a registered credential"):
            system_add_endpoint(study=study, name="e", base_url="http://127.0.0.1:9/v1", model="m", key_env=key_env)
    with pytest.raises(StudyError, match="base_url"):
        system_add_endpoint(study=study, name="e", base_url="ftp://x", model="m")
    assert not System.objects.exists()


def test_imported_system_cannot_be_retried(study):
    """Retry is for generated systems; an imported one says what to do instead."""
    system = system_import(study=study, name="a", data=answers_jsonl([i.image for i in study.items.all()], "a"))
    with pytest.raises(StudyError, match="import a corrected file"):
        system_retry(system=system)


def test_upload_page_shows_per_line_errors(client, study, researcher):
    """The study page lists each bad line of a refused upload and keeps the study unchanged."""
    client.force_login(researcher)
    from django.core.files.uploadedfile import SimpleUploadedFile

    upload = SimpleUploadedFile("answers.jsonl", _lines({"image": "missing.png", "answer": "x"}, "oops"))
    response = client.post(reverse("studies:system_add", kwargs={"study_id": study.pk}), {"kind": "imported", "name": "u", "answers": upload})
    assert response.status_code == 400
    body = response.content.decode()
    assert "line 1: no image of this study is named" in body and "line 2: not valid JSON" in body
    assert not System.objects.filter(study=study).exists()


def test_researcher_creates_a_study_from_the_page(client, project, researcher, annotator_member):
    """The create form makes a study with the chosen annotators and redirects to its page."""
    images_add(project, 4)
    client.force_login(researcher)
    response = client.post(reverse("studies:study_create", kwargs={"project_id": project.pk}), {
        "name": "page study", "instruction": "Describe the quality.", "image_count": 3, "votes_per_trial": 2,
        "show_reference": "on", "annotators": [annotator_member.pk],
    })
    study = Study.objects.get(name="page study")
    assert response.status_code == 302 and response["Location"] == reverse("studies:study_detail", kwargs={"study_id": study.pk})
    assert study.items.count() == 3 and list(study.annotators.all()) == [annotator_member]
    assert client.get(response["Location"]).status_code == 200


def test_other_projects_researcher_cannot_open_a_study(client, project, researcher, annotator_member):
    """A researcher with no role in the study's project gets 404 on its pages and API, as for no such study."""
    from tests.factories import ResearcherFactory

    study = study_with_systems(project=project, researcher=researcher, annotators=[annotator_member])
    client.force_login(ResearcherFactory())
    for name in ("studies:study_detail", "studies:study_results", "api:study_detail", "api:study_results"):
        assert client.get(reverse(name, kwargs={"study_id": study.pk})).status_code == 404, name


def test_researcher_adds_a_trained_critic_version_from_the_page(client, project, researcher, annotator_member, django_capture_on_commit_callbacks):
    """The study page offers trained versions only; choosing one makes a queued critic system and queues its task."""
    from modeling.critic.models import CriticVersion

    study = study_create(project=project, name="s", created_by=researcher, annotators=[annotator_member],
                         image_ids=[i.pk for i in images_add(project, 2)])
    ready = CriticVersion.objects.create(project=project, number=3, base_model_dir="unused", status=CriticVersion.Status.READY, artifact_sha256="a" * 64)
    CriticVersion.objects.create(project=project, number=4, base_model_dir="unused")  # still queued: not offered
    client.force_login(researcher)
    page = client.get(reverse("studies:study_detail", kwargs={"study_id": study.pk}))
    assert list(page.context["critic_form"].fields["critic_version"].queryset) == [ready]
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        response = client.post(reverse("studies:system_add", kwargs={"study_id": study.pk}),
                               {"kind": "critic", "name": "critic v3", "critic_version": ready.pk})
    assert response.status_code == 302
    system = System.objects.get(study=study)
    assert (system.kind, system.status, system.critic_version_id) == (System.Kind.CRITIC, System.Status.QUEUED, ready.pk)
    assert len(callbacks) == 1  # the gpu task, sent once the row is committed


def test_researcher_changes_the_annotators(client, project, researcher, annotator_member):
    """The study page replaces who votes; an annotator of the project can be added, an outsider cannot be chosen."""
    study = study_with_systems(project=project, researcher=researcher, annotators=[])
    client.force_login(researcher)
    url = reverse("studies:study_detail", kwargs={"study_id": study.pk})
    assert client.post(url, {"annotators": [annotator_member.pk]}).status_code == 302
    assert list(study.annotators.all()) == [annotator_member]
    outsider = AnnotatorFactory()
    assert client.post(url, {"annotators": [outsider.pk]}).status_code == 400
    assert list(study.annotators.all()) == [annotator_member]
