"""API tokens: they expire, rotate, and stop working on sign-out and deactivation; unauthenticated calls get 401;
refusals are logged in one line."""
import datetime as dt
import logging

from django.test import override_settings
from django.urls import reverse
from django.utils import timezone
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from tests.factories import PASSWORD, AnnotatorFactory, MembershipFactory, ProjectFactory, ResearcherFactory


def _obtain(user) -> dict:
    response = APIClient().post(reverse("api_token"), {"username": user.username, "password": PASSWORD})
    assert response.status_code == 200, response.content
    return response.json()


def _api(key: str) -> APIClient:
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Token {key}")
    return api


def test_unauthenticated_api_call_gets_401_with_the_scheme(db):
    """No credentials: 401 with `WWW-Authenticate: Token` and the error body, not 403."""
    response = APIClient().get(reverse("api:project_list"))
    assert response.status_code == 401
    assert response["WWW-Authenticate"] == "Token"
    assert response.json()["code"] == "not_authenticated"


@override_settings(LOUPE_API_TOKEN_TTL_HOURS=2)
def test_token_expires_and_a_new_one_is_issued(db):
    """A token older than the TTL gets 401 token_expired; asking again with the password issues a fresh one."""
    researcher = ResearcherFactory()
    first = _obtain(researcher)
    assert dt.datetime.fromisoformat(first["expires_at"]) > timezone.now() + dt.timedelta(hours=1, minutes=59)
    assert _obtain(researcher)["token"] == first["token"]  # still valid: the same token, for scripts sharing it
    assert _api(first["token"]).get(reverse("api:project_list")).status_code == 200

    Token.objects.filter(key=first["token"]).update(created=timezone.now() - dt.timedelta(hours=2, seconds=1))
    response = _api(first["token"]).get(reverse("api:project_list"))
    assert response.status_code == 401 and response.json()["code"] == "token_expired"
    assert response["WWW-Authenticate"] == "Token"

    second = _obtain(researcher)
    assert second["token"] != first["token"]
    assert _api(second["token"]).get(reverse("api:project_list")).status_code == 200


def test_rotation_replaces_the_token(db):
    """POST /api/auth/token/rotate/ answers a new token; the old one gets 401."""
    old = _obtain(ResearcherFactory())["token"]
    response = _api(old).post(reverse("api_token_rotate"))
    assert response.status_code == 200
    new = response.json()["token"]
    assert new != old
    assert _api(old).get(reverse("api:project_list")).status_code == 401
    assert _api(new).get(reverse("api:project_list")).status_code == 200


def test_api_logout_revokes_the_token(db):
    """POST /api/auth/logout/ with a token: 204, and the token no longer works."""
    key = _obtain(ResearcherFactory())["token"]
    assert _api(key).post(reverse("api_logout")).status_code == 204
    assert _api(key).get(reverse("api:project_list")).status_code == 401


def test_signing_out_of_the_site_revokes_the_token(client, db):
    """Signing out on the site ends the user's API access too."""
    researcher = ResearcherFactory()
    key = _obtain(researcher)["token"]
    client.force_login(researcher)
    assert client.post(reverse("logout")).status_code == 302
    assert _api(key).get(reverse("api:project_list")).status_code == 401


def test_deactivating_the_account_revokes_the_token(db):
    """A deactivated user's token is gone: reactivating the account does not bring it back."""
    researcher = ResearcherFactory()
    key = _obtain(researcher)["token"]
    researcher.is_active = False
    researcher.save()
    assert not Token.objects.filter(key=key).exists()
    researcher.is_active = True
    researcher.save()
    assert _api(key).get(reverse("api:project_list")).status_code == 401


def test_a_403_is_logged_in_one_line_without_traceback(client, db, caplog):
    """A refused page logs a warning line with no traceback; the traceback of a 403 says nothing about the server."""
    project = ProjectFactory()
    annotator = AnnotatorFactory()
    MembershipFactory(project=project, user=annotator)
    client.force_login(annotator)
    with caplog.at_level(logging.WARNING, logger="django.request"):
        assert client.get(reverse("annotation:project_detail", kwargs={"project_id": project.pk})).status_code == 403
    records = [record for record in caplog.records if record.name == "django.request"]
    assert [record.status_code for record in records] == [403]
    assert records[0].exc_info is None and "Traceback" not in caplog.text
