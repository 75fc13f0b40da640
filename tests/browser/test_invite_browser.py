"""A researcher invites an annotator by link in the browser; the annotator sets a password and lands at work."""
import pytest
from playwright.sync_api import expect

from annotation.models import Membership

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_invite_link_to_a_signed_in_member(page, live_server, login, researcher, project, browser):
    """Create a link on the Members page, open it in another browser, choose a password: signed in as a member; the link is spent."""
    login(page, live_server, researcher)
    page.goto(f"{live_server.url}/projects/{project.pk}/members/")
    invite = page.get_by_test_id("invite-form")
    invite.get_by_label("How many links").fill("1")
    invite.get_by_role("button", name="Create links").click()
    link = page.get_by_test_id("invitation-links").locator("code").first.inner_text()
    assert "/accounts/invite/" in link

    context = browser.new_context()
    try:
        newcomer = context.new_page()
        newcomer.goto(link.replace("http://testserver", live_server.url))
        newcomer.get_by_label("Username").fill("newcomer")
        newcomer.get_by_label("Password", exact=True).fill("plum-lantern-orbit-42")
        newcomer.get_by_label("Password again").fill("plum-lantern-orbit-42")
        newcomer.get_by_role("button", name="Create my account").click()
        expect(newcomer.locator(".message")).to_contain_text("Welcome, newcomer")
        expect(newcomer.get_by_test_id("role")).to_contain_text("Annotator")
        assert Membership.objects.filter(project=project, user__username="newcomer", role="annotator").exists()

        newcomer.goto(link.replace("http://testserver", live_server.url))
        expect(newcomer.get_by_test_id("invitation-problem")).to_contain_text("already been used")
    finally:
        context.close()
