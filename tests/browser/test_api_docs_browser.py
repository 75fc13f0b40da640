"""`/api/docs/` in headless Chromium: it loads nothing from outside the server, and a visitor is asked to log in."""
from urllib.parse import urlparse

import pytest

from tests.factories import PASSWORD

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_api_docs_render_from_the_server_alone(page, live_server, login, researcher):
    """Swagger UI renders the schema with every request to the live server (no fonts.googleapis.com, no
    cdn.redoc.ly, no validator badge: issue 17); the page fixture also fails on any CSP violation."""
    outside = []
    page.on("request", lambda request: outside.append(request.url)
            if urlparse(request.url).hostname not in ("127.0.0.1", "localhost") and not request.url.startswith("data:") else None)
    login(page, live_server, researcher)
    page.goto(f"{live_server.url}/api/docs/")
    page.wait_for_selector(".swagger-ui .info .title", timeout=20_000)
    assert "Loupe API" in page.locator(".swagger-ui .info .title").inner_text()
    page.wait_for_selector(".swagger-ui .opblock", timeout=20_000)  # the operations, from /api/schema/
    page.wait_for_timeout(500)
    assert outside == []


def test_api_docs_ask_a_visitor_to_log_in_and_come_back(page, live_server, login, researcher):
    """Signed out, /api/docs/ says to log in with a link (not a bare 403); the link leads back to the docs."""
    response = page.goto(f"{live_server.url}/api/docs/")
    assert response.status == 401
    page.get_by_test_id("api-docs-login").get_by_role("link", name="Log in").click()
    page.wait_for_url(lambda url: "/accounts/login/" in url and "next=" in url)
    page.fill("input[name='username']", researcher.get_username())
    page.fill("input[name='password']", PASSWORD)
    with page.expect_navigation():
        page.locator("form:has(input[name='password'])").locator("[type='submit']").first.click()
    page.wait_for_selector(".swagger-ui .info .title", timeout=20_000)
