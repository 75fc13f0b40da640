"""Brute-force protection: failed logins lock the account and the address, on the login page and the token API, with a
clear message, until the cool-off passes or an administrator lifts the lock."""
import pytest
from axes.models import AccessAttempt
from django.core.management import call_command
from django.urls import reverse
from rest_framework.test import APIClient

from tests.factories import PASSWORD, ResearcherFactory

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _limit(settings):
    settings.AXES_FAILURE_LIMIT = 5


def _page_login(client, username, password, address="10.0.0.1"):
    return client.post(reverse("login"), {"username": username, "password": password}, REMOTE_ADDR=address)


def test_the_login_page_locks_the_account_after_the_limit_even_for_the_right_password(client):
    user = ResearcherFactory()
    for _ in range(4):
        assert _page_login(client, user.username, "wrong").status_code == 200  # the form again, with its error
    assert _page_login(client, user.username, "wrong").status_code == 429  # the fifth failure locks
    response = _page_login(client, user.username, PASSWORD)
    assert response.status_code == 429
    assert "Login locked" in response.content.decode() and "_auth_user_id" not in client.session
    # From another address the account is still locked (by account), and the address is locked for other accounts.
    assert _page_login(client, user.username, PASSWORD, address="10.0.0.2").status_code == 429
    other = ResearcherFactory()
    assert _page_login(client, other.username, PASSWORD).status_code == 429
    assert _page_login(client, other.username, PASSWORD, address="10.0.0.3").status_code == 302


def test_the_token_api_locks_too_and_says_why(client):
    user = ResearcherFactory()
    api = APIClient()
    for _ in range(4):
        assert api.post(reverse("api_token"), {"username": user.username, "password": "wrong"}).status_code == 400
    assert api.post(reverse("api_token"), {"username": user.username, "password": "wrong"}).status_code == 429
    response = api.post(reverse("api_token"), {"username": user.username, "password": PASSWORD})
    assert response.status_code == 429 and "Too many failed logins" in response.json()["detail"]
    assert _page_login(client, user.username, PASSWORD, address="10.9.9.9").status_code == 429  # one lock for both


def test_an_administrator_lifts_the_lock(client):
    user = ResearcherFactory()
    for _ in range(5):
        _page_login(client, user.username, "wrong")
    assert _page_login(client, user.username, PASSWORD).status_code == 429
    call_command("axes_reset")
    assert not AccessAttempt.objects.exists()
    assert _page_login(client, user.username, PASSWORD).status_code == 302


def test_the_lock_ends_after_the_cool_off(client, settings):
    from datetime import timedelta

    user = ResearcherFactory()
    for _ in range(5):
        _page_login(client, user.username, "wrong")
    settings.AXES_COOLOFF_TIME = timedelta(seconds=0)
    assert _page_login(client, user.username, PASSWORD).status_code == 302


def test_the_client_address_behind_a_trusted_proxy(settings, rf):
    from accounts.security import client_ip

    request = rf.get("/", HTTP_X_FORWARDED_FOR="6.6.6.6, 203.0.113.7", REMOTE_ADDR="127.0.0.1")
    assert client_ip(request) == "127.0.0.1"
    settings.LOUPE_TRUSTED_PROXY_COUNT = 1
    assert client_ip(request) == "203.0.113.7"  # the client's own claim (6.6.6.6) is not trusted
