"""The account commands: create a user, put them on a project."""
import io

import pytest
from django.contrib.auth import get_user_model
from django.core.management import CommandError, call_command
from django.test import Client
from django.urls import reverse

from annotation.models import Membership


def _can_log_in(username: str, password: str) -> bool:
    """Whether the real login form lets `username` in with `password`."""
    response = Client().post(reverse("login"), {"username": username, "password": password})
    return response.status_code == 302


@pytest.mark.django_db
def test_user_create_with_a_password_from_stdin(monkeypatch):
    """`user_create --password-stdin` makes an account that logs in with that password."""
    monkeypatch.setattr("sys.stdin", io.StringIO("plum-lantern-orbit-42\n"))
    out = io.StringIO()
    call_command("user_create", "ana", "--role", "annotator", "--password-stdin", stdout=out)
    assert "Created annotator ana" in out.getvalue()
    assert _can_log_in("ana", "plum-lantern-orbit-42")


@pytest.mark.django_db
def test_user_create_refuses_a_weak_password_and_a_taken_name(monkeypatch, annotator):
    """Password validators apply; an existing username is an error, not a second account."""
    monkeypatch.setattr("sys.stdin", io.StringIO("password\n"))
    with pytest.raises(CommandError, match="too common"):
        call_command("user_create", "bob", "--role", "annotator", "--password-stdin")
    with pytest.raises(CommandError, match="already exists"):
        call_command("user_create", annotator.username, "--role", "annotator")
    call_command("user_create", "carol", "--role", "researcher", stdout=io.StringIO())
    assert not get_user_model().objects.get(username="carol").has_usable_password()


@pytest.mark.django_db
def test_membership_add_by_slug(project, annotator):
    """`membership_add SLUG USERNAME --role annotator` makes the user a member; unknown names are errors."""
    call_command("membership_add", project.slug, annotator.username, "--role", "annotator", stdout=io.StringIO())
    assert Membership.objects.get(project=project, user=annotator).role == "annotator"
    with pytest.raises(CommandError, match="only researcher accounts"):
        call_command("membership_add", str(project.pk), annotator.username, "--role", "researcher")
    with pytest.raises(CommandError, match="No project"):
        call_command("membership_add", "no-such-project", annotator.username, "--role", "annotator")
