"""A researcher in headless Chromium promotes a critic version that is worse than the active one: a confirm step."""
import pytest

from annotation.models import Membership, Project
from modeling.critic.models import CriticVersion
from tests.factories import ResearcherFactory

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def _finished(project, number, *, srcc, status=CriticVersion.Status.READY):
    return CriticVersion.objects.create(
        project=project, number=number, status=status, base_model_dir="/x", artifact_sha256="0" * 64,
        score_status=CriticVersion.ScoreStatus.DONE,
        metrics={"evaluated": True, "n_heldout_images": 36, "scaling": {"n": 30, "srcc": srcc, "plcc": srcc},
                 "mos": {"n": 0, "srcc": None, "plcc": None}, "pairwise": {"n": 4, "accuracy": 0.5}},
    )


def test_promoting_a_worse_version_asks_first_and_promotes_only_when_confirmed(page, live_server, login):
    """Promote on v2 (held-out SRCC 0.20 against the active v1's 0.60, 30 images) shows the confirm step naming the
    metric and leaves v1 active; "Keep v1" changes nothing; "Promote v2 anyway" makes v2 active."""
    researcher = ResearcherFactory()
    project = Project.objects.create(name="Critic pilot", slug="critic-pilot", created_by=researcher)
    Membership.objects.create(project=project, user=researcher, role=Membership.Role.RESEARCHER)
    active = _finished(project, 1, srcc=0.60, status=CriticVersion.Status.ACTIVE)
    worse = _finished(project, 2, srcc=0.20)

    login(page, live_server, researcher)
    page.goto(f"{live_server.url}/projects/{project.pk}/critic/")
    page.locator('tr[data-version="2"]').get_by_role("button", name="Promote").click()
    confirm = page.get_by_test_id("confirm-promote")
    confirm.wait_for(timeout=10_000)
    assert "v2 is worse than the active v1" in confirm.inner_text()
    assert "SRCC vs scaled scores 0.200 against v1's 0.600 (n=30)" in confirm.inner_text()
    assert CriticVersion.objects.get(status=CriticVersion.Status.ACTIVE) == active

    with page.expect_navigation(timeout=10_000):
        confirm.get_by_role("link", name="Keep v1").click()
    assert page.get_by_test_id("confirm-promote").count() == 0
    assert page.get_by_test_id("critic-active").inner_text() == "v1"

    page.locator('tr[data-version="2"]').get_by_role("button", name="Promote").click()
    page.get_by_test_id("confirm-promote").get_by_role("button", name="Promote v2 anyway").click()
    page.get_by_test_id("critic-active").filter(has_text="v2").wait_for(timeout=10_000)
    assert page.get_by_test_id("confirm-promote").count() == 0
    assert CriticVersion.objects.get(status=CriticVersion.Status.ACTIVE) == worse
