"""No input reaches a 500 on an HTML page: every form found on every page, and every query parameter the views read,
is sent hostile values ("²" passes str.isdigit(), 5,000 nines overflow a column, NUL bytes, Arabic-Indic digits...).

The pages come from the URL patterns and the permission classes of test_permissions.py (each opened by a user who may
see it), the forms from their HTML, the query parameter names from the views' own source (request.GET.get("...")).
"""
import re
from html.parser import HTMLParser
from pathlib import Path

import pytest
from django.urls import reverse

from tests.annotation.test_permissions import (  # noqa: F401  (world is a fixture)
    ANNOTATOR_ALLOWED,
    API_PREFIX,
    PROJECT_ANNOTATOR,
    RESEARCHER_ONLY,
    _route_by_name,
    _url,
    world,
)

pytestmark = pytest.mark.django_db

HOSTILE = ["²", "9" * 5000, "-1", "١٢", "1.5", "\x00", "", "<script>x</script>", "0x10", "1e309", "NaN"]
REPO = Path(__file__).resolve().parent.parent
#: Forms that end the session or are covered elsewhere: posting them would log the fuzzer out.
SKIPPED_ACTIONS = {reverse("logout")}


def _query_parameter_names() -> list[str]:
    names = set()
    for path in REPO.glob("*/**/*.py"):
        if path.parts[len(REPO.parts)] in ("tests", ".venv", "var", "benchmarks"):
            continue
        names |= set(re.findall(r"request\.GET\.(?:get|getlist)\(\s*\"([a-z_]+)\"", path.read_text()))
    return sorted(names)


class _Forms(HTMLParser):
    """The forms of a page: (method, action, {field: default value})."""

    def __init__(self):
        super().__init__()
        self.forms = []

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "form":
            self.forms.append([attrs.get("method", "get").lower(), attrs.get("action") or "", {}])
        elif tag in ("input", "select", "textarea", "button") and self.forms and attrs.get("name"):
            self.forms[-1][2].setdefault(attrs["name"], attrs.get("value") or "")


def _html_pages(world):
    pages = []
    for names, who in ((RESEARCHER_ONLY, "researcher"), (PROJECT_ANNOTATOR | ANNOTATOR_ALLOWED, "annotator")):
        for name in sorted(names):
            route, _ = _route_by_name(name)
            if not route.startswith(API_PREFIX):
                pages.append((name, who))
    return pages


#: The pages are fuzzed in this many shards, so that each test stays well inside its timeout on a loaded machine.
SHARDS = 6


def _post_forms(page) -> list:
    parser = _Forms()
    parser.feed(page.content.decode())
    return parser.forms


def test_the_pages_have_forms_to_fuzz(client, world, researcher, annotator_member):
    """The shards below see the forms of every page: at least 20 POST forms in all."""
    users = {"researcher": researcher, "annotator": annotator_member}
    forms_seen = 0
    for name, who in _html_pages(world):
        client.force_login(users[who])
        page = client.get(_url(name, world))
        if page.status_code == 200 and "html" in page.get("Content-Type", ""):
            forms_seen += sum(1 for method, *_ in _post_forms(page) if method == "post")
    assert forms_seen >= 20


@pytest.mark.parametrize("shard", range(SHARDS))
def test_every_form_and_query_parameter_survives_hostile_values(client, world, researcher, annotator_member, shard):
    parameters = _query_parameter_names()
    assert {"annotator", "page", "kind"} <= set(parameters)
    users = {"researcher": researcher, "annotator": annotator_member}
    failures = []
    for name, who in _html_pages(world)[shard::SHARDS]:
        client.force_login(users[who])
        url = _url(name, world)
        page = client.get(url)
        for value in HOSTILE:
            response = client.get(url, {parameter: value for parameter in parameters})
            if response.status_code >= 500:
                failures.append(f"GET {url} ?*={value[:12]!r}: {response.status_code}")
        if page.status_code != 200 or "html" not in page.get("Content-Type", ""):
            continue
        for method, action, fields in _post_forms(page):
            target = action or url
            if method != "post" or target in SKIPPED_ACTIONS or not target.startswith("/"):
                continue
            for value in HOSTILE:
                client.force_login(users[who])
                response = client.post(target, {field: value for field in fields if field != "csrfmiddlewaretoken"})
                if response.status_code >= 500:
                    failures.append(f"POST {target} (form of {name}) *={value[:12]!r}: {response.status_code}")
    assert not failures, "\n".join(failures)


@pytest.mark.parametrize("field", ["duration_ms", "level", "annotator", "version_id", "judgement_ids"])
def test_the_reported_isdigit_inputs_are_refused_cleanly(client, world, researcher, annotator_member, field):
    """The five inputs that used to reach int() after isdigit(): each is read by one parser now."""
    targets = {
        "duration_ms": (annotator_member, "post", reverse("studies:vote", kwargs={"study_id": world["study_id"]}), {"token": world.get("token", ""), "choice": "left"}),
        "level": (annotator_member, "post", _url("annotation:annotate_submit", world), {}),
        "annotator": (researcher, "get", _url("annotation:project_judgements", world), {}),
        "version_id": (researcher, "post", reverse("modeling:llm_prompts", kwargs={"project_id": world["project_id"]}), {"name": "description_paragraph"}),
        "judgement_ids": (researcher, "post", reverse("modeling:llm_vqa", kwargs={"project_id": world["project_id"]}), {}),
    }
    user, method, url, extra = targets[field]
    client.force_login(user)
    for value in ("²", "9" * 5000, "١", "-5"):
        response = getattr(client, method)(url, {**extra, field: value})
        assert response.status_code < 500, (field, value[:10], response.status_code)
