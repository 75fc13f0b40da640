"""Site-wide odds and ends: the favicon, and how a refused request is logged."""
import io
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


def _console_handlers(name: str) -> list[logging.StreamHandler]:
    """The stream handlers a record of logger `name` reaches, up the hierarchy as logging walks it."""
    handlers, logger = [], logging.getLogger(name)
    while logger:
        handlers += [h for h in logger.handlers if type(h) is logging.StreamHandler]
        logger = logger.parent if logger.propagate else None
    return handlers


@pytest.mark.django_db
def test_an_annotators_403_on_a_researcher_page_logs_one_line_without_traceback(client, project, annotator_member, settings):
    """With DEBUG on (the demo), a 403 reaches the console once, as one line: Django's own `django` console handler
    and the root handler both printed it before (issue 17, bug 11)."""
    settings.DEBUG = True
    client.force_login(annotator_member)
    handlers = _console_handlers("django.request")
    streams = [io.StringIO() for _ in handlers]
    previous = [handler.setStream(stream) for handler, stream in zip(handlers, streams)]
    try:
        response = client.get(reverse("evaluation:project_quality", kwargs={"project_id": project.pk}))
    finally:
        for handler, stream in zip(handlers, previous):
            handler.setStream(stream)
    assert response.status_code == 403
    printed = "".join(stream.getvalue() for stream in streams)
    assert printed.count("Forbidden (Permission denied)") == 1, printed
    assert "Traceback" not in printed and printed.count("\n") == 1
