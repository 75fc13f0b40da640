"""Site-wide odds and ends: the favicon, and how a refused request is logged."""
import logging

import pytest
from django.urls import reverse


@pytest.mark.django_db
def test_favicon_is_served_to_anyone(client):
    """`/favicon.ico` answers 200 with an icon to a visitor who is not signed in (browsers ask for it on every site;
    a 404 there filled the console and the log: issue 17, bug 11)."""
    response = client.get("/favicon.ico")
    assert response.status_code == 200 and response["Content-Type"] == "image/x-icon"
    assert b"".join(response.streaming_content)[:4] == b"\x00\x00\x01\x00"  # the ICO header
    page = client.get(reverse("login")).content.decode()
    assert 'rel="icon"' in page and "favicon" in page
