"""Every response carries the Content-Security-Policy; the API docs page alone gets its looser one."""
from django.urls import reverse

from config.csp import DOCS_POLICY, POLICY


def test_pages_and_api_carry_the_policy(client, db, researcher):
    """The login page, a signed-in page, an API answer and an error page all send the site's policy."""
    assert client.get(reverse("login"))["Content-Security-Policy"] == POLICY
    client.force_login(researcher)
    for url in (reverse("annotation:project_list"), reverse("api:project_list"), "/no-such-page/"):
        response = client.get(url)
        assert response["Content-Security-Policy"] == POLICY, url
    assert "frame-ancestors 'none'" in POLICY and "script-src 'self';" in POLICY and "unsafe-inline'; " not in POLICY.split("style-src-attr")[0]


def test_api_docs_get_their_own_policy(client, researcher):
    """Redoc needs inline styles and a worker: only its page is allowed them."""
    client.force_login(researcher)
    assert client.get(reverse("api_docs"))["Content-Security-Policy"] == DOCS_POLICY
