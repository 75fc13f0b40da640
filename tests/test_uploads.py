"""Too large a request body is refused (413) on its declared length, before Django reads or spools it (config/uploads.py)."""
import pytest
from django.urls import reverse

from config.uploads import FORM_MARGIN_BYTES, MIB, view_body_limit
from modeling.critic.models import GeneralDataUpload
from studies.services.setup import JSONL_MAX_BYTES

pytestmark = pytest.mark.django_db


def _post_declaring(client, url, length: int):
    """A small real body that claims to be `length` bytes: a view that read it would fail or hang, so a 413 proves it was not read."""
    return client.post(url, data=b"x" * 10, content_type="multipart/form-data; boundary=b", CONTENT_LENGTH=str(length))


def test_each_upload_view_states_its_own_limit(settings):
    settings.LOUPE_GENERAL_UPLOAD_MAX_MB = 3
    assert view_body_limit(reverse("critic:general_upload", args=[1])) == 3 * MIB + FORM_MARGIN_BYTES
    assert view_body_limit(reverse("api:study_system_import", args=[1])) == JSONL_MAX_BYTES + FORM_MARGIN_BYTES
    assert view_body_limit(reverse("studies:study_detail", args=[1])) == JSONL_MAX_BYTES + FORM_MARGIN_BYTES
    assert view_body_limit(reverse("annotation:import_create", args=[1])) == settings.LOUPE_MAX_REQUEST_BYTES
    assert view_body_limit("/no/such/page/") == settings.LOUPE_MAX_REQUEST_BYTES
    settings.LOUPE_MAX_REQUEST_BYTES = 2 * MIB  # the global cap bounds every view's own limit too
    assert view_body_limit(reverse("critic:general_upload", args=[1])) == 2 * MIB


def test_a_general_upload_over_its_limit_is_refused_unread(settings, client, researcher, project):
    settings.LOUPE_GENERAL_UPLOAD_MAX_MB = 1
    client.force_login(researcher)
    response = _post_declaring(client, reverse("critic:general_upload", args=[project.pk]), 6 * MIB)
    assert response.status_code == 413
    assert response.content.decode() == "The upload is 6.0 MiB; this page accepts at most 2 MiB."
    assert "Content-Security-Policy" in response.headers  # refused after the headers every response carries
    assert not GeneralDataUpload.objects.exists()


def test_an_api_upload_over_its_limit_gets_json(client):
    response = _post_declaring(client, reverse("api:study_system_import", args=[1]), JSONL_MAX_BYTES + 2 * MIB)
    assert response.status_code == 413 and response.json()["detail"].startswith("The upload is 22.0 MiB;")


def test_the_global_cap_holds_for_imports(settings, client, researcher, project):
    settings.LOUPE_MAX_REQUEST_BYTES = 8 * MIB
    client.force_login(researcher)
    assert _post_declaring(client, reverse("annotation:import_create", args=[project.pk]), 9 * MIB).status_code == 413


def test_bodies_under_the_limit_reach_the_view(settings, client, researcher, project):
    """A 6 MiB file, under the import view's cap: the view reads it and answers (its own check of the file)."""
    client.force_login(researcher)
    body = b"--b\r\nContent-Disposition: form-data; name=\"files\"; filename=\"big.png\"\r\nContent-Type: image/png\r\n\r\n" + b"y" * (6 * MIB) + b"\r\n--b--\r\n"
    response = client.post(reverse("annotation:import_create", args=[project.pk]), data=body, content_type="multipart/form-data; boundary=b")
    assert response.status_code in (200, 302), response.status_code
