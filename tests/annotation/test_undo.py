"""Undo: the annotator's last answer is taken back while its item is still held for them, and refused after."""
import uuid
from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from annotation.models import Judgement, Lease, Membership, WorkItem
from annotation.services import queue
from annotation.services.undo import UndoRefused, judgement_undo
from tests.factories import AnnotatorFactory
from tests.work_data import work_project

HTMX = {"HTTP_HX_REQUEST": "true"}


@pytest.fixture
def rating_project(project, annotator_member):
    work_project(project, kinds=["rating"], images=3)
    return project


def _url(name, project):
    return reverse(name, kwargs={"project_id": project.pk})


def _answer(project, annotator, level=4):
    lease = queue.assignment_next(project=project, annotator=annotator).lease
    queue.judgement_submit(lease_id=lease.pk, annotator=annotator, client_id=uuid.uuid4(), answer={"level": level})
    return lease


def test_undo_deletes_the_answer_and_serves_the_item_again(rating_project, annotator_member):
    """The judgement is gone, the item's count is back down, and the same item is the annotator's next one."""
    first = _answer(rating_project, annotator_member)
    upcoming = queue.assignment_next(project=rating_project, annotator=annotator_member).lease
    assert upcoming.item_id != first.item_id
    lease = judgement_undo(project=rating_project, annotator=annotator_member)
    assert lease.pk == first.pk
    assert not Judgement.objects.filter(lease=first).exists()
    assert WorkItem.objects.get(pk=first.item_id).judgement_count == 0
    assert Lease.objects.get(pk=first.pk).status == Lease.Status.ACTIVE
    again = queue.assignment_next(project=rating_project, annotator=annotator_member).lease
    assert again.pk == first.pk
    queue.judgement_submit(lease_id=again.pk, annotator=annotator_member, client_id=uuid.uuid4(), answer={"level": 2})
    assert Judgement.objects.get(lease=first).level == 2
    assert queue.assignment_next(project=rating_project, annotator=annotator_member).lease.pk == upcoming.pk


def test_undo_after_the_lease_ran_out_is_refused_and_keeps_the_answer(rating_project, annotator_member):
    """Once the item is no longer held for the annotator, undo says so and the answer stands."""
    first = _answer(rating_project, annotator_member)
    later = timezone.now() + timedelta(seconds=rating_project.lease_seconds + 1)
    with pytest.raises(UndoRefused, match="can no longer be undone"):
        judgement_undo(project=rating_project, annotator=annotator_member, now=later)
    assert Judgement.objects.filter(lease=first).exists()
    assert WorkItem.objects.get(pk=first.item_id).judgement_count == 1


def test_undo_with_nothing_answered_is_refused(rating_project, annotator_member):
    """No answer yet: a clear refusal, nothing changes."""
    with pytest.raises(UndoRefused, match="no answer of yours"):
        judgement_undo(project=rating_project, annotator=annotator_member)


def test_undo_takes_back_only_your_own_answer(rating_project, annotator_member):
    """Another annotator's undo never touches this annotator's judgement."""
    _answer(rating_project, annotator_member)
    other = AnnotatorFactory()
    Membership.objects.create(project=rating_project, user=other, role=Membership.Role.ANNOTATOR)
    with pytest.raises(UndoRefused):
        judgement_undo(project=rating_project, annotator=other)
    assert Judgement.objects.filter(annotator=annotator_member).count() == 1


def test_undo_endpoint_shows_the_item_again_with_a_notice(client, rating_project, annotator_member):
    """POST undo answers with the undone item, a notice, and (as the page shows it) its lease."""
    first = _answer(rating_project, annotator_member)
    client.force_login(annotator_member)
    response = client.get(_url("annotation:annotate_item", rating_project), **HTMX)
    assert response.context["undo_available"] is True
    assert b"data-undo" in response.content
    response = client.post(_url("annotation:annotate_undo", rating_project), **HTMX)
    assert response.status_code == 200
    assert response.context["lease"].pk == first.pk
    assert "taken back" in response.context["notice"]


def test_undo_endpoint_refusal_is_409_with_the_reason(client, rating_project, annotator_member):
    """Nothing to undo: 409, the current item, and the reason on it."""
    client.force_login(annotator_member)
    response = client.post(_url("annotation:annotate_undo", rating_project), **HTMX)
    assert response.status_code == 409
    assert "no answer of yours" in response.content.decode()


def test_undo_endpoint_is_for_the_projects_annotators(client, rating_project, researcher):
    """The project's researcher gets 403, a stranger 404, nobody's judgement changes."""
    client.force_login(researcher)
    assert client.post(_url("annotation:annotate_undo", rating_project), **HTMX).status_code == 403
    client.force_login(AnnotatorFactory())
    assert client.post(_url("annotation:annotate_undo", rating_project), **HTMX).status_code == 404


def test_undo_api_gives_the_lease_back_or_409(rating_project, annotator_member):
    """The API: 200 with the lease (the next assignment is that item again), then 409 undo_refused."""
    from rest_framework.test import APIClient

    first = _answer(rating_project, annotator_member)
    api = APIClient()
    api.force_authenticate(annotator_member)
    url = reverse("api:judgement_undo", kwargs={"project_id": rating_project.pk})
    response = api.post(url)
    assert response.status_code == 200 and response.json()["lease_id"] == first.pk
    assert queue.assignment_next(project=rating_project, annotator=annotator_member).lease.pk == first.pk
    refused = api.post(url)
    assert refused.status_code == 409 and refused.json()["code"] == "undo_refused"
