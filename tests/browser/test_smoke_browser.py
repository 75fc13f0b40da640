"""Headless Chromium reaches the live server, renders Django's pages and can sign a user in."""
import pytest

from tests.factories import UserFactory

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_admin_login_page_renders(page, live_server, tmp_path):
    """The admin's login page loads with its form and its stylesheet applied."""
    response = page.goto(f"{live_server.url}/admin/login/")

    assert response.status == 200
    assert "Log in" in page.title()
    assert page.locator("input[name='username']").is_visible()
    assert page.locator("input[name='password']").is_visible()
    # The static files are served too: the admin's stylesheet lays the header out as a flex box.
    assert page.locator("#header").evaluate("el => getComputedStyle(el).display") == "flex"
    page.screenshot(path=str(tmp_path / "admin-login.png"))  # left for a look when the test fails


def test_login_helper_signs_a_user_in(page, live_server, login):
    """The `login` helper fills a real login form and leaves the page with a session (the admin's form here)."""
    staff = UserFactory(is_staff=True, is_superuser=True)

    login(page, live_server, staff, path="/admin/login/")

    page.goto(f"{live_server.url}/admin/")
    assert page.url == f"{live_server.url}/admin/"
    assert page.locator("#user-tools").inner_text().upper().startswith("WELCOME")


def test_login_helper_reports_a_wrong_password(page, live_server, login):
    """A failed login raises instead of letting the test go on signed out."""
    staff = UserFactory(is_staff=True)

    with pytest.raises(AssertionError, match="failed"):
        login(page, live_server, staff, password="wrong-password", path="/admin/login/")


def test_login_helper_signs_an_annotator_in_through_the_app_form(page, live_server, login, annotator):
    """The helper's default is Loupe's own form at /accounts/login/, which lets a factory user in."""
    login(page, live_server, annotator)

    assert "/accounts/login/" not in page.url


def test_the_browser_reports_what_the_policy_refuses(browser, live_server):
    """An inline script on one of our pages is refused and reported on the console: what the `page` fixture
    collects to fail any test whose pages break the Content-Security-Policy."""
    context = browser.new_context()
    try:
        page = context.new_page()
        messages = []
        page.on("console", lambda message: messages.append(message.text))
        response = page.goto(f"{live_server.url}/accounts/login/")
        assert "script-src 'self'" in response.headers["content-security-policy"]
        page.evaluate("() => { const s = document.createElement('script'); s.textContent = 'window.ran = 1'; document.body.append(s); }")
        page.wait_for_timeout(200)
        assert page.evaluate("() => window.ran") is None
        assert any("Content Security Policy" in text for text in messages), messages
    finally:
        context.close()
