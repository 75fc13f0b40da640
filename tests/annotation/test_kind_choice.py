"""An annotator chooses the kind of task they get (or mixed), on My projects; the queue serves only that kind."""
import random
import uuid

import pytest
from django.urls import reverse
from django.utils import timezone

from annotation.models import Membership
from annotation.services import queue
from tests.factories import PairItemFactory, WorkItemFactory, annotators_add

T0 = timezone.now().replace(microsecond=0)


@pytest.fixture
def two_kinds(project):
    """Ratings and pairs enabled, three items of each, one annotator whose last judgement was a rating."""
    project.task_kinds = ["rating", "pair"]
    project.overlap = 1
    project.gold_rate = 0.0
    project.repeat_rate = 0.0
    project.training_required = False
    project.save()
    WorkItemFactory.create_batch(3, project=project)
    PairItemFactory.create_batch(3, project=project)
    [user] = annotators_add(project, 1)
    return project, user


def _next_kind_and_answer(project, user) -> str:
    lease = queue.assignment_next(project=project, annotator=user, now=T0, rng=random.Random(1)).lease
    answer = {"choice": "a"} if lease.item.kind == "pair" else {"level": 3}
    queue.judgement_submit(lease_id=lease.pk, annotator=user, client_id=uuid.uuid4(), answer=answer, duration_ms=1000, now=T0)
    return lease.item.kind


def test_chosen_kind_is_served_and_then_says_so_when_done(client, two_kinds):
    """After choosing pairs on My projects, an annotator last on ratings gets only pairs, then a message naming pairs."""
    project, user = two_kinds
    while _next_kind_and_answer(project, user) != "rating":
        pass  # leave the annotator's last judgement on a rating
    client.force_login(user)
    response = client.post(reverse("annotation:annotate_kind", kwargs={"project_id": project.pk}), {"kind": "pair"}, follow=True)
    assert "you now get pairwise comparison" in response.content.decode()

    remaining_pairs = 3 - project.judgements.filter(kind="pair").count()
    assert [_next_kind_and_answer(project, user) for _ in range(remaining_pairs)] == ["pair"] * remaining_pairs
    with pytest.raises(queue.NoWork, match="no pairwise comparison left"):
        queue.assignment_next(project=project, annotator=user, now=T0)

    client.post(reverse("annotation:annotate_kind", kwargs={"project_id": project.pk}), {"kind": ""})
    assert _next_kind_and_answer(project, user) == "rating"  # mixed: the other kinds again


def test_a_kind_the_researcher_disabled_cannot_be_chosen_and_falls_back_to_mixed(client, two_kinds):
    """Choosing a disabled kind is refused; a chosen kind the researcher later disables counts as mixed."""
    project, user = two_kinds
    client.force_login(user)
    url = reverse("annotation:annotate_kind", kwargs={"project_id": project.pk})
    response = client.post(url, {"kind": "description"}, follow=True)
    assert "not enabled" in response.content.decode()
    client.post(url, {"kind": "pair"})
    project.task_kinds = ["rating"]
    project.save()
    assert _next_kind_and_answer(project, user) == "rating"


def test_my_projects_offers_the_enabled_kinds(client, two_kinds):
    """The project card on My projects lists mixed and each enabled kind, with the current choice selected."""
    project, user = two_kinds
    Membership.objects.filter(project=project, user=user).update(preferred_kind="rating")
    client.force_login(user)
    page = client.get(reverse("annotation:annotator_home")).content.decode()
    assert 'data-testid="kind-choice"' in page
    assert '<option value="rating" selected>Single-stimulus rating</option>' in page
    assert '<option value="pair">Pairwise comparison</option>' in page
