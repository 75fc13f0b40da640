"""An annotator votes in a blinded side-by-side study in headless Chromium with the keyboard alone."""
import pytest

from studies.models import TrialLease, Vote
from tests.studies.builders import study_with_systems

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def _token(page) -> str:
    return page.locator("input[name=token]").get_attribute("value")


def test_keyboard_votes_with_criteria(page, live_server, login, project, researcher, annotator_member):
    """1 / ↓ / → vote left, same, right; Q W E and A S D tick criteria; a double key press records one vote."""
    study = study_with_systems(project=project, researcher=researcher, annotators=[annotator_member], n_images=3, ask_criteria=True)
    login(page, live_server, annotator_member)
    page.goto(f"{live_server.url}/studies/{study.pk}/vote/")
    page.wait_for_selector("[data-testid=vote-form]")
    expected = []
    for key, choice, ticks in (("1", "left", ["q", "d"]), ("ArrowDown", "same", []), ("ArrowRight", "right", ["w", "e", "a"])):
        token = _token(page)
        for tick in ticks:
            page.keyboard.press(tick)
        assert page.locator("input[type=checkbox]:checked").count() == len(ticks)
        with page.expect_navigation():
            page.keyboard.press(key)
            page.keyboard.press(key)  # a second press while the first submit is under way is ignored
        expected.append((token, choice, ticks))
    page.wait_for_selector("[data-testid=no-trial]")
    assert Vote.objects.count() == 3
    for token, choice, ticks in expected:
        vote = Vote.objects.get(lease__token=token)
        lease = TrialLease.objects.get(token=token)
        on_left = {"left": 1, "same": 0, "right": -1}[choice]
        assert vote.outcome == (on_left if lease.left_is_a else -on_left)
        left = [k in ticks for k in "qwe"]
        right = [k in ticks for k in "asd"]
        assert (vote.criteria_a, vote.criteria_b) == ((left, right) if lease.left_is_a else (right, left))
        assert vote.duration_ms is not None


def test_mouse_vote_and_skip(page, live_server, login, project, researcher, annotator_member):
    """The buttons work too, and Skip moves on without a vote."""
    study = study_with_systems(project=project, researcher=researcher, annotators=[annotator_member], n_images=2)
    login(page, live_server, annotator_member)
    page.goto(f"{live_server.url}/studies/mine/")
    with page.expect_navigation():
        page.get_by_role("link", name=f"Side-by-side study #{study.pk}").click()
    skipped = _token(page)
    with page.expect_navigation():
        page.get_by_role("button", name="Skip").click()
    with page.expect_navigation():
        page.get_by_role("button", name="Right is better").click()
    page.wait_for_selector("[data-testid=no-trial]")
    assert TrialLease.objects.get(token=skipped).status == TrialLease.Status.RELEASED
    assert Vote.objects.count() == 1
