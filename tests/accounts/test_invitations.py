"""Invitations, reset links and deactivation, through the pages a researcher and a new annotator use."""
import csv
import io
import re
from datetime import timedelta

import pytest
from django.contrib.auth import get_user_model
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from annotation.models import Invitation
from annotation.services.invitations import invitations_create
from annotation.models import Membership
from tests.factories import PASSWORD, AnnotatorFactory, MembershipFactory, ResearcherFactory

NEW_PASSWORD = "plum-lantern-orbit-42"


def _can_log_in(username: str, password: str) -> bool:
    """Whether the real login form lets `username` in with `password`."""
    response = Client().post(reverse("login"), {"username": username, "password": password})
    return response.status_code == 302


def _links(response) -> list[str]:
    return re.findall(r"http://testserver(/accounts/invite/[^/<\s]+/)", response.content.decode())


def _accept(client, path: str, username: str, password: str = NEW_PASSWORD):
    return client.post(path, {"username": username, "password1": password, "password2": password})


@pytest.mark.django_db
def test_invite_accept_log_in_and_be_a_member(client, project, researcher):
    """A researcher makes a link; whoever opens it picks a username and password, is a member, and can log in."""
    client.force_login(researcher)
    response = client.post(reverse("invitation_create", kwargs={"project_id": project.pk}), {"role": "annotator", "count": 1, "days": 7, "output": "page"})
    assert response.status_code == 200
    [path] = _links(response)
    token = path.rstrip("/").rsplit("/", 1)[1]
    assert not Invitation.objects.filter(token_hash=token).exists()  # only the hash is stored

    newcomer = Client()
    assert newcomer.get(path).status_code == 200
    response = _accept(newcomer, path, "newcomer")
    assert response.status_code == 302
    user = get_user_model().objects.get(username="newcomer")
    assert user.role == "annotator"
    assert Membership.objects.get(project=project, user=user).role == Membership.Role.ANNOTATOR
    assert newcomer.get(reverse("annotation:annotator_home")).status_code == 200  # signed in by accepting
    assert _can_log_in("newcomer", NEW_PASSWORD)


@pytest.mark.django_db
def test_invitation_works_once(client, project, researcher):
    """A used link says so and creates nobody."""
    [issued] = invitations_create(project=project, role="annotator", created_by=researcher)
    assert _accept(client, issued.path, "first").status_code == 302
    response = _accept(Client(), issued.path, "second")
    assert response.status_code == 410
    assert "already been used" in response.content.decode()
    assert not get_user_model().objects.filter(username="second").exists()


@pytest.mark.django_db
def test_expired_invitation_is_refused(client, project, researcher):
    """An expired link says so, on opening and on submitting."""
    [issued] = invitations_create(project=project, role="annotator", created_by=researcher)
    Invitation.objects.filter(pk=issued.invitation.pk).update(expires_at=timezone.now() - timedelta(minutes=1))
    assert "has expired" in client.get(issued.path).content.decode()
    assert _accept(client, issued.path, "late").status_code == 410
    assert not get_user_model().objects.filter(username="late").exists()
    assert client.get(reverse("invitation_accept", kwargs={"token": "made-up"})).status_code == 404


@pytest.mark.django_db
def test_weak_password_and_taken_username_are_refused(client, project, researcher, annotator):
    """Django's password validators apply, a taken username is refused, and the link stays usable."""
    [issued] = invitations_create(project=project, role="annotator", created_by=researcher)
    response = _accept(client, issued.path, "newcomer", password="password")
    assert response.status_code == 400 and "too common" in response.content.decode()
    response = _accept(client, issued.path, annotator.username)
    assert response.status_code == 400 and "already exists" in response.content.decode()
    assert _accept(client, issued.path, "newcomer").status_code == 302


@pytest.mark.django_db
def test_a_batch_of_links_downloads_as_csv(client, project, researcher):
    """N links at once come back as a CSV of distinct one-time links; only an admin may invite researchers."""
    client.force_login(researcher)
    url = reverse("invitation_create", kwargs={"project_id": project.pk})
    response = client.post(url, {"role": "annotator", "count": 5, "days": 2, "output": "csv"})
    assert response["Content-Type"] == "text/csv"
    rows = list(csv.DictReader(io.StringIO(response.content.decode())))
    assert len({row["link"] for row in rows}) == 5 and all("/accounts/invite/" in row["link"] for row in rows)
    assert client.post(url, {"role": "researcher", "count": 1, "days": 2}).status_code == 400
    assert Invitation.objects.filter(project=project).count() == 5


@pytest.mark.django_db
def test_password_change(client, annotator):
    """A signed-in user changes their own password; the old one stops working."""
    client.force_login(annotator)
    response = client.post(reverse("password_change"), {"old_password": PASSWORD, "new_password1": NEW_PASSWORD, "new_password2": NEW_PASSWORD})
    assert response.status_code == 302 and response["Location"] == reverse("password_change_done")
    assert _can_log_in(annotator.username, NEW_PASSWORD)
    assert not _can_log_in(annotator.username, PASSWORD)


@pytest.mark.django_db
def test_reset_link_sets_a_new_password_once(client, project, researcher, annotator_member):
    """The researcher gets a one-time link for an annotator member; it sets a password and then stops working."""
    membership = Membership.objects.get(project=project, user=annotator_member)
    client.force_login(researcher)
    response = client.post(reverse("password_reset_link", kwargs={"project_id": project.pk, "membership_id": membership.pk}))
    [path] = re.findall(r"http://testserver(/accounts/reset/[^\"]+/)", response.content.decode())

    member = Client()
    form_page = member.get(path, follow=True)
    set_url = form_page.redirect_chain[-1][0]
    response = member.post(set_url, {"new_password1": NEW_PASSWORD, "new_password2": NEW_PASSWORD})
    assert response.status_code == 302 and response["Location"] == reverse("password_reset_complete")
    assert _can_log_in(annotator_member.username, NEW_PASSWORD)
    assert "has been used or has expired" in Client().get(path, follow=True).content.decode()


@pytest.mark.django_db
def test_researcher_cannot_reset_or_deactivate_another_researcher(client, project, researcher):
    """A researcher acts on annotator accounts only: another researcher member's account is left alone."""
    colleague = ResearcherFactory()
    membership = MembershipFactory(project=project, user=colleague, role=Membership.Role.RESEARCHER)
    client.force_login(researcher)
    kwargs = {"project_id": project.pk, "membership_id": membership.pk}
    client.post(reverse("user_deactivate", kwargs=kwargs))
    response = client.post(reverse("password_reset_link", kwargs=kwargs), follow=True)
    colleague.refresh_from_db()
    assert colleague.is_active
    assert "Only an admin" in response.content.decode()


@pytest.mark.django_db
def test_deactivated_member_cannot_log_in(client, project, researcher, annotator_member):
    """Deactivating a member's account keeps them from logging in, on the page and with a password check."""
    membership = Membership.objects.get(project=project, user=annotator_member)
    client.force_login(researcher)
    client.post(reverse("user_deactivate", kwargs={"project_id": project.pk, "membership_id": membership.pk}))
    annotator_member.refresh_from_db()
    assert not annotator_member.is_active
    assert not _can_log_in(annotator_member.username, PASSWORD)
    assert _can_log_in(AnnotatorFactory().username, PASSWORD)  # the same form lets an active account in


@pytest.mark.django_db
def test_annotator_cannot_invite(client, project, annotator_member):
    """Only researchers who manage the project make invitations."""
    client.force_login(annotator_member)
    url = reverse("invitation_create", kwargs={"project_id": project.pk})
    assert client.post(url, {"role": "annotator", "count": 1, "days": 7}).status_code == 403
    assert not Invitation.objects.exists()
