"""No request reaches a 500 on the API: Schemathesis generates requests for every operation of the OpenAPI schema and
sends them, with a researcher's token and with an annotator's, to the app (in this process, through WSGI).

Path ids are the real ones of the permission tests' `world` (a project with an image, an import, a lease, a study,
a benchmark run...) for most examples, so the bodies and query strings reach the code behind the lookups; the
others keep the generated ids (huge, negative). Any 4xx is an answer; any 5xx fails the test with the request.
"""
import time
from contextlib import contextmanager

import pytest
import schemathesis
from django.core.signals import request_finished, request_started
from django.core.wsgi import get_wsgi_application
from django.db import close_old_connections
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from rest_framework.authtoken.models import Token

from tests.annotation.test_permissions import world  # noqa: F401  (a fixture)

pytestmark = pytest.mark.django_db

#: Examples per operation and user: bounded so the whole API is covered in about a minute on a 2-core machine.
MAX_EXAMPLES = 5
#: The fuzz as a whole stops here (each operation's examples are already bounded; this caps a slow machine).
TOTAL_LIMIT_S = 150
#: Operations that end the caller's session or token: sending them would log the fuzzer out.
SKIPPED = {("POST", "/api/auth/logout/")}


@contextmanager
def _test_connection_kept():
    """Keep the test's database connection open across WSGI requests, as Django's test client does (the handler
    would close it at the start and end of each request, and with it the test's transaction)."""
    for signal in (request_started, request_finished):
        signal.disconnect(close_old_connections)
    try:
        yield
    finally:
        for signal in (request_started, request_finished):
            signal.connect(close_old_connections)


def _schema(token: str):
    """The schema as the app serves it (/api/schema/ asks for a signed-in user), bound to the app for the calls."""
    return schemathesis.openapi.from_wsgi("/api/schema/", get_wsgi_application(), headers={"Authorization": f"Token {token}"})


def _operations(schema) -> list:
    operations = [result.ok() for result in schema.get_all_operations()]
    return sorted(
        (op for op in operations if (op.method.upper(), op.path) not in SKIPPED),
        key=lambda op: (op.path, op.method),
    )


def _fuzz(operation, *, token: str, world: dict, deadline: float, failures: list) -> int:
    sent = []

    @settings(
        max_examples=MAX_EXAMPLES, deadline=None, database=None, derandomize=True,
        phases=[Phase.explicit, Phase.generate], suppress_health_check=list(HealthCheck),
    )
    @given(case=operation.as_strategy(), real_ids=st.booleans())
    def run(case, real_ids):
        if time.monotonic() > deadline:
            return
        if real_ids and case.path_parameters:
            for name in case.path_parameters:
                if name in world:
                    case.path_parameters[name] = world[name]
        response = case.call(headers={"Authorization": f"Token {token}"})
        sent.append(response.status_code)
        if response.status_code >= 500:
            failures.append(f"{response.status_code} {case.method} {case.formatted_path} {case.as_curl_command()}\n"
                            f"{response.text[:2000]}")

    run()
    return len(sent)


@pytest.mark.parametrize("who", ["researcher", "annotator"])
def test_no_generated_request_gets_a_server_error(world, researcher, annotator_member, who):
    """Every operation, a few generated requests each, with a researcher's or an annotator's token: never a 5xx."""
    user = researcher if who == "researcher" else annotator_member
    token = Token.objects.get_or_create(user=user)[0].key
    failures: list[str] = []
    with _test_connection_kept():
        operations = _operations(_schema(token))
        assert len(operations) > 50
        deadline = time.monotonic() + TOTAL_LIMIT_S
        sent = sum(_fuzz(op, token=token, world=world, deadline=deadline, failures=failures) for op in operations)
    assert not failures, f"{len(failures)} server errors:\n" + "\n\n".join(failures[:20])
    assert time.monotonic() < deadline, f"the fuzz ran past {TOTAL_LIMIT_S}s after {sent} requests"
    assert sent >= len(operations)
