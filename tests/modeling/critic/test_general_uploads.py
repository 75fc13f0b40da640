"""General-purpose data uploaded as a zip on the Critic page (paper 001's D3): checked whole, stored under media, listed,
removable, picked on the Retrain form, and read by training. Researchers only."""
import html
import io
import json
import stat
import zipfile
from pathlib import Path

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse
from PIL import Image as PILImage

from modeling.conversation_kinds import QSIT_GROUP_RATIOS
from modeling.critic.data import CriticDataSettings, heldout_split, training_set_build
from modeling.critic.data_sources import GeneralDataUnusable, general_data_load
from modeling.critic.models import CriticVersion, GeneralDataUpload
from tests.evaluation.judgement_builders import images_make
from tests.factories import ProjectFactory
from tests.modeling.critic.test_views import no_enqueue  # noqa: F401 -- the fixture: tasks recorded, not sent

ASK = {"from": "human", "value": "<image>\nWhat colour is the square?"}
RECORDS = [
    {"image": "images/red.png", "conversations": [ASK, {"from": "gpt", "value": "Red."}]},
    {"image": "images/blue.png", "conversations": [ASK, {"from": "gpt", "value": "Blue."}]},
    {"conversations": [{"from": "human", "value": "Say hello."}, {"from": "gpt", "value": "Hello."}]},
]


def png(colour=(200, 10, 10)) -> bytes:
    out = io.BytesIO()
    PILImage.new("RGB", (8, 8), colour).save(out, format="PNG")
    return out.getvalue()


def make_zip(entries: dict[str, bytes | str], *, links: tuple[str, ...] = ()) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as archive:
        for name, data in entries.items():
            archive.writestr(name, data)
        for name in links:
            info = zipfile.ZipInfo(name)
            info.external_attr = (stat.S_IFLNK | 0o777) << 16
            archive.writestr(info, "/etc/passwd")
    return out.getvalue()


def good_zip() -> bytes:
    return make_zip({"llava/data.json": json.dumps(RECORDS, indent=1), "llava/images/red.png": png(),
                     "llava/images/blue.png": png((10, 10, 200)), "__MACOSX/llava/._data.json": b"junk"})


def upload(client, project, data: bytes, name="general.zip"):
    url = reverse("critic:general_upload", kwargs={"project_id": project.pk})
    return client.post(url, {"archive": SimpleUploadedFile(name, data, content_type="application/zip")})


def text(response) -> str:
    return html.unescape(response.content.decode())


def media_files(settings) -> list[Path]:
    root = Path(settings.MEDIA_ROOT) / "general_data"
    return [p for p in root.rglob("*") if p.is_file()] if root.exists() else []


def test_a_good_zip_is_stored_listed_picked_and_trained_on(client, project, researcher, settings, no_enqueue, django_capture_on_commit_callbacks):
    """Stored under media (the JSON and the images it names, nothing else), listed, picked on Retrain, read by training."""
    images_make(project, 20)
    while len(heldout_split(project=project, fraction=0.2)[1]) < 3:  # the split hashes ids that differ per database
        images_make(project, 5)
    client.force_login(researcher)

    response = upload(client, project, good_zip())

    assert response.status_code == 302
    stored = GeneralDataUpload.objects.get(project=project)
    assert (stored.name, stored.n_records, stored.n_images, stored.uploaded_by) == ("general.zip", 3, 2, researcher)
    files = sorted(str(p.relative_to(Path(settings.MEDIA_ROOT) / stored.folder)) for p in media_files(settings))
    assert files == ["llava/data.json", "llava/images/blue.png", "llava/images/red.png"]
    page = text(client.get(reverse("critic:index", kwargs={"project_id": project.pk})))
    assert "general.zip" in page and f'value="upload:{stored.pk}"' in page and "Stored general.zip: 3 records, 2 images" in page

    with django_capture_on_commit_callbacks(execute=True):
        client.post(reverse("critic:retrain", kwargs={"project_id": project.pk}), {"recipe": "qsit", "general_data": f"upload:{stored.pk}"})
    version = CriticVersion.objects.get(project=project)
    assert version.training_settings["data"]["general_data"] == f"upload:{stored.pk}"

    built = training_set_build(project=project, last_judgement_id=0, data=CriticDataSettings(
        heldout_fraction=0.2, groups=dict(QSIT_GROUP_RATIOS), general_data=f"upload:{stored.pk}", curriculum=False))
    answers = {c.answer for c in built.conversations if c.task == "general"}
    assert answers == {"Red.", "Blue.", "Hello."}
    assert {Path(p).name for p in built.image_files.values()} == {"red.png", "blue.png"}
    assert all(Path(p).is_relative_to(Path(settings.MEDIA_ROOT) / stored.folder) for p in built.image_files.values())


@pytest.mark.parametrize("data, expected", [
    (b"PK\x03\x04 this is not a zip", "Not a readable zip file"),
    (make_zip({"../evil.json": json.dumps(RECORDS)}), "Unsafe entry '../evil.json': '..' leaves the folder"),
    (make_zip({"/etc/cron.d/x.json": json.dumps(RECORDS)}), "an absolute path"),
    (make_zip({"a\\..\\..\\x.png": png()}), "backslashes"),
    (make_zip({"data.json": json.dumps(RECORDS)}, links=("images/red.png",)), "'images/red.png': a link, not a file"),
    (make_zip({"images/red.png": png()}), "exactly one .json file"),
    (make_zip({"a.json": "[]", "b.json": "[]"}), "found a.json, b.json"),
    (make_zip({"data.json": "[\n {\"image\": \"x.png\",\n  \"conversations\": [}\n]"}), "data.json, line 3 column 21: not valid JSON (Expecting value)"),
    (make_zip({"data.json": json.dumps({"records": RECORDS})}), "must be a JSON list of records"),
    (make_zip({"data.json": "[]"}), "the list of records is empty"),
])
def test_malformed_zips_are_refused_and_nothing_is_stored(client, project, researcher, settings, data, expected):
    """Bad archives, traversal names, links, missing or extra JSON, JSON syntax: 400 with the reason, no row, no files."""
    client.force_login(researcher)
    response = upload(client, project, data)
    assert response.status_code == 400
    assert expected in text(response)
    assert not GeneralDataUpload.objects.exists() and media_files(settings) == []


def test_wrong_records_and_files_are_each_named_with_their_line(client, project, researcher, settings):
    """Every schema problem is listed with its line and record; a file that is no image is named; nothing is stored."""
    records = [
        RECORDS[0],
        {"image": "images/blue.png", "conversations": [ASK, {"from": "human", "value": "Blue."}]},
        {"image": "images/missing.png", "conversations": [ASK, {"from": "gpt", "value": "Green."}]},
        {"conversations": [ASK, {"from": "gpt", "value": "No image given."}]},
        "just a string",
        {"image": "../../outside.png", "conversations": [ASK, {"from": "gpt", "value": "Out."}]},
    ]
    body = "[\n" + ",\n".join(json.dumps(r) for r in records) + "\n]"
    data = make_zip({"data.json": body, "images/red.png": png(), "images/blue.png": b"not a png at all"})
    client.force_login(researcher)

    response = upload(client, project, data)

    page = text(response)
    assert response.status_code == 400 and "Nothing was stored" in page
    for line in (
        'data.json, line 3 (record 2), turn 2: expected a non-empty "gpt" turn',
        "data.json, line 4 (record 3): image 'images/missing.png' is not in the zip (looked for images/missing.png)",
        "data.json, line 5 (record 4): 1 <image> tokens for 0 images",
        "data.json, line 6 (record 5): not an object",
        "data.json, line 7 (record 6): image '../../outside.png' is not a path inside the zip",
        "images/blue.png: not an image PIL can open",
    ):
        assert line in page, line
    assert "line 2 (record 1)" not in page
    assert not GeneralDataUpload.objects.exists() and media_files(settings) == []


def test_size_limit(client, project, researcher, settings):
    """A zip over LOUPE_GENERAL_UPLOAD_MAX_MB is refused before it is opened."""
    settings.LOUPE_GENERAL_UPLOAD_MAX_MB = 0
    client.force_login(researcher)
    response = upload(client, project, good_zip())
    assert response.status_code == 400 and "at most 0 MiB are accepted" in text(response)
    assert not GeneralDataUpload.objects.exists()
    settings.LOUPE_GENERAL_UPLOAD_MAX_MB = 1
    response = upload(client, project, good_zip(), name="general.tar")
    assert response.status_code == 400 and "Upload a .zip file." in text(response)


def test_removal_deletes_files_and_waits_for_a_training_version(client, project, researcher, settings):
    """Remove: refused while a queued version trains with it; afterwards the row and its folder are gone."""
    client.force_login(researcher)
    upload(client, project, good_zip())
    stored = GeneralDataUpload.objects.get()
    version = CriticVersion.objects.create(project=project, number=1, status=CriticVersion.Status.QUEUED,
                                           training_settings={"data": {"general_data": stored.option}})
    url = reverse("critic:general_delete", kwargs={"project_id": project.pk, "upload_id": stored.pk})

    page = text(client.post(url, follow=True))
    assert "Critic v1 is queued with general.zip" in page and GeneralDataUpload.objects.filter(pk=stored.pk).exists()

    CriticVersion.objects.filter(pk=version.pk).update(status=CriticVersion.Status.READY)
    page = text(client.post(url, follow=True))
    assert "Removed general.zip." in page and not GeneralDataUpload.objects.exists() and media_files(settings) == []
    with pytest.raises(GeneralDataUnusable, match="No uploaded general-purpose data"):  # a later retry says why
        general_data_load(stored.option, project=project)


def test_annotators_get_403_and_other_projects_uploads_are_out_of_reach(client, project, researcher, annotator_member, settings, no_enqueue):
    """Annotators: 403 on upload and remove. Another project's upload can be neither removed nor picked."""
    client.force_login(researcher)
    upload(client, project, good_zip())
    stored = GeneralDataUpload.objects.get()
    delete_url = reverse("critic:general_delete", kwargs={"project_id": project.pk, "upload_id": stored.pk})

    client.force_login(annotator_member)
    assert upload(client, project, good_zip()).status_code == 403
    assert client.post(delete_url).status_code == 403
    assert GeneralDataUpload.objects.count() == 1

    other = ProjectFactory(created_by=researcher)
    client.force_login(researcher)
    assert client.post(reverse("critic:general_delete", kwargs={"project_id": other.pk, "upload_id": stored.pk})).status_code == 404
    page = text(client.post(reverse("critic:retrain", kwargs={"project_id": other.pk}),
                            {"recipe": "qsit", "general_data": stored.option}, follow=True))
    assert "not one of the available choices" in page and not CriticVersion.objects.filter(project=other).exists()
    with pytest.raises(GeneralDataUnusable, match="No uploaded general-purpose data"):
        general_data_load(stored.option, project=other)
    for hostile in ("upload:²", "upload:" + "9" * 5000, "upload:-1", "upload:"):
        with pytest.raises(GeneralDataUnusable, match="No uploaded general-purpose data"):
            general_data_load(hostile, project=project)

    client.logout()
    response = upload(client, project, good_zip())
    assert response.status_code == 302 and "/login" in response.url and GeneralDataUpload.objects.count() == 1


def test_api_retrain_names_an_upload_of_its_own_project_only(client, project, researcher, settings, tmp_path, no_enqueue):
    """POST retrain with options.general_data = "upload:<id>": 202 for this project's upload, 400 for another's."""
    settings.LOUPE_CRITIC_DIR = tmp_path
    client.force_login(researcher)
    upload(client, project, good_zip())
    stored = GeneralDataUpload.objects.get()
    other = ProjectFactory(created_by=researcher)
    refused = client.post(reverse("critic_api:critic_retrain", kwargs={"project_id": other.pk}),
                          {"recipe": "qsit", "options": {"general_data": stored.option}}, content_type="application/json")
    assert refused.status_code == 400 and "No uploaded general-purpose data" in json.dumps(refused.json())
    response = client.post(reverse("critic_api:critic_retrain", kwargs={"project_id": project.pk}),
                           {"recipe": "qsit", "options": {"general_data": stored.option}}, content_type="application/json")
    assert response.status_code == 202
    assert CriticVersion.objects.get(pk=response.json()["id"]).training_settings["data"]["general_data"] == stored.option
