"""The endpoint policy (config/egress.py): keys only from the registry and only to their hosts, hosts only from the
allow-list, no private addresses unless allowed (checked on the address connected to, on every redirect), upstream
error text scrubbed. Requests go to the loopback fake LLM server only."""
import socket

import httpx2
import pytest
from django.urls import reverse

from config.egress import EgressPolicy, EgressRefused, endpoint_access, scrub
from studies.models import System
from studies.services.answers import system_answers_generate_endpoint
from system_benchmarks.models import BenchmarkRun
from system_benchmarks.services.execution import benchmark_run_execute
from system_benchmarks.services.runs import RunSpec, benchmark_run_create
from tests.llm_server import Status
from tests.system_benchmarks.conftest import labelled

pytestmark = pytest.mark.django_db


def _host(server) -> str:
    return server.base_url.split("/")[2]  # 127.0.0.1:<port>


@pytest.fixture
def default_policy(settings):
    """The policy an administrator gets without setting anything: the LLM server only."""
    settings.LOUPE_ENDPOINT_CREDENTIALS = settings.LOUPE_ENDPOINT_ALLOWED_HOSTS = settings.LOUPE_ENDPOINT_PRIVATE_NETWORKS = ""


# ----------------------------------------------------------------------------- the reported attack


def test_a_researcher_cannot_send_the_database_url_to_a_listener(client, llm_server, project, researcher, annotator_member, default_policy):
    """The exploit: key_env=DATABASE_URL and a loopback base URL. The API refuses both fields, and a row that names an
    environment variable anyway (made before this policy existed) fails on the worker without a single request."""
    from studies.services.setup import study_create

    labelled(project, 1)
    study = study_create(project=project, name="s", created_by=researcher, annotators=[annotator_member], image_count=0)
    client.force_login(researcher)
    url = reverse("api:study_system_endpoint", kwargs={"study_id": study.pk})
    for variable in ("DATABASE_URL", "CELERY_BROKER_URL", "SECRET_KEY"):
        response = client.post(url, {"name": "x", "base_url": llm_server.base_url, "model": "m", "key_env": variable},
                               content_type="application/json")
        assert response.status_code == 400, response.content
        errors = response.json()["errors"]
        assert "not allowed for endpoints" in errors["base_url"][0]
    response = client.post(url, {"name": "x", "base_url": "http://127.0.0.1:6379/v1", "model": "m"}, content_type="application/json")
    assert response.status_code == 400 and "not allowed" in response.json()["errors"]["base_url"][0]

    legacy = System.objects.create(study=study, name="legacy", kind=System.Kind.ENDPOINT, status=System.Status.QUEUED,
                                   endpoint_base_url=llm_server.base_url, endpoint_model="m", endpoint_key_env="DATABASE_URL")
    system_answers_generate_endpoint(legacy.pk)
    legacy.refresh_from_db()
    assert legacy.status == System.Status.FAILED and "not allowed for endpoints" in legacy.error
    assert llm_server.requests == []


def test_a_benchmark_run_naming_an_unregistered_variable_fails_without_a_request(project, researcher, llm_server):
    """The benchmark path: a run row with key_env=DATABASE_URL (made before this policy existed) fails with the
    registry's message; nothing is sent."""
    labelled(project, 4)
    spec = RunSpec(system_kind="endpoint", endpoint_base_url=llm_server.base_url, endpoint_model="m", protocols=["single"],
                   promptings=["standard"], subset_size=4)
    run = benchmark_run_create(project=project, user=researcher, spec=spec)
    BenchmarkRun.objects.filter(pk=run.pk).update(endpoint_key_env="DATABASE_URL")
    run = benchmark_run_execute(run_id=run.pk)
    assert run.status == BenchmarkRun.Status.FAILED and "not a registered credential" in run.error
    assert llm_server.requests == []


# ----------------------------------------------------------------------------- the policy


def test_the_llm_server_is_allowed_by_default_with_its_own_credential():
    policy = EgressPolicy.from_config(llm_base_url="http://localhost:11434/v1")
    policy.check_url("http://localhost:11434/v1")
    policy.check_address("localhost", 11434, "127.0.0.1")  # the administrator configured that server
    assert policy.credential("llm", "http://localhost:11434/v1").variable == "LOUPE_LLM_API_KEY"
    with pytest.raises(EgressRefused, match="not allowed"):
        policy.check_url("http://localhost:6379/v1")  # same host, another port
    with pytest.raises(EgressRefused, match="may only be sent to"):
        EgressPolicy.from_config(llm_base_url="https://api.openai.com/v1", allowed_hosts="evil.example").credential(
            "llm", "https://evil.example/v1")


@pytest.mark.parametrize("address", ["127.0.0.1", "10.1.2.3", "172.16.0.1", "192.168.1.1", "169.254.169.254", "::1",
                                     "fe80::1", "fc00::1", "::ffff:127.0.0.1", "0.0.0.0", "100.64.0.1", "224.0.0.1"])
def test_private_loopback_link_local_and_reserved_addresses_are_refused(address):
    policy = EgressPolicy.from_config(allowed_hosts="models.example")
    with pytest.raises(EgressRefused, match="LOUPE_ENDPOINT_PRIVATE_NETWORKS"):
        policy.check_address("models.example", 443, address)
    EgressPolicy.from_config(allowed_hosts="models.example", private_networks="0.0.0.0/0,::/0").check_address(
        "models.example", 443, address)


def test_host_patterns_ports_and_wildcards():
    policy = EgressPolicy.from_config(allowed_hosts="api.example.org, *.lab.example, gpu1.example:8000, [::1]:9000")
    for url in ("https://api.example.org/v1", "http://api.example.org:8080/v1", "https://a.lab.example/v1",
                "http://gpu1.example:8000/v1"):
        policy.check_url(url)
    for url in ("https://example.org/v1", "https://lab.example.evil/v1", "http://gpu1.example:8001/v1",
                "https://api.example.org.evil.net/v1", "http://user:pw@api.example.org/v1", "file:///etc/passwd"):
        with pytest.raises(EgressRefused):
            policy.check_url(url)
    with pytest.raises(EgressRefused, match="private"):
        policy.check_url("http://[::1]:9000/v1")  # on the list, but loopback needs LOUPE_ENDPOINT_PRIVATE_NETWORKS


@pytest.mark.parametrize("credentials,allowed,networks", [
    ("openai=OPENAI_API_KEY", "", ""), ("=X@h", "", ""), ("a=1BAD@h", "", ""), ("a=X@h:port", "", ""),
    ("", "h:99x", ""), ("", "", "not-a-network"),
])
def test_a_malformed_policy_names_the_setting(credentials, allowed, networks):
    with pytest.raises(ValueError, match="LOUPE_ENDPOINT_"):
        EgressPolicy.from_config(credentials=credentials, allowed_hosts=allowed, private_networks=networks)


# ----------------------------------------------------------------------------- real requests


def test_a_host_that_resolves_to_loopback_is_refused_at_connect(llm_server):
    """`localhost` is on the list but resolves to 127.0.0.1: the socket is never opened without the network allowed."""
    port = _host(llm_server).split(":")[1]
    policy = EgressPolicy.from_config(allowed_hosts=f"localhost:{port}")
    with policy.http_client(timeout_s=5) as http, pytest.raises(httpx2.ConnectError, match="private"):
        http.get(f"http://localhost:{port}/v1/models")
    assert llm_server.requests == []
    allowed = EgressPolicy.from_config(allowed_hosts=f"localhost:{port}", private_networks="127.0.0.0/8,::1/128")
    with allowed.http_client(timeout_s=5) as http, pytest.raises(httpx2.ConnectError, match="not allowed"):
        http.get(f"http://127.0.0.1:{port}/v1/models")  # the same server by its address: not on the list
    assert llm_server.requests == []
    with allowed.http_client(timeout_s=5) as http:
        assert http.get(f"http://localhost:{port}/v1/models").status_code == 200
    assert len(llm_server.requests) == 1


def test_the_connection_goes_to_the_address_that_was_checked(llm_server, monkeypatch):
    """A name is resolved once, checked, and the socket opens that very address (a second, different DNS answer
    between check and connect cannot slip in)."""
    port = int(_host(llm_server).split(":")[1])
    answers = iter([("127.0.0.1",), ("10.9.9.9",)])
    real = socket.getaddrinfo

    def fake(host, *args, **kwargs):
        if host == "models.internal.test":
            address = next(answers)[0]
            return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", (address, port))]
        return real(host, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", fake)
    policy = EgressPolicy.from_config(allowed_hosts="models.internal.test", private_networks="127.0.0.1/32")
    with policy.http_client(timeout_s=5) as http:
        assert http.get(f"http://models.internal.test:{port}/v1/models").status_code == 200
        http.close()
    with policy.http_client(timeout_s=5) as http, pytest.raises(httpx2.ConnectError, match="10.9.9.9"):
        http.get(f"http://models.internal.test:{port}/v1/models")  # the second answer is private and not allowed
    assert len(llm_server.requests) == 1


def test_a_redirect_to_a_host_off_the_list_is_not_followed(llm_server):
    port = _host(llm_server).split(":")[1]
    llm_server.script(Status(307, headers={"Location": f"http://127.0.0.2:{port}/v1/chat/completions"}))
    policy = EgressPolicy.from_config(allowed_hosts=_host(llm_server), private_networks="127.0.0.1/32")
    with policy.http_client(timeout_s=5) as http, pytest.raises(httpx2.ConnectError, match="127.0.0.2"):
        http.post(f"{llm_server.base_url}/chat/completions", json={"model": "m", "messages": []})
    assert len(llm_server.requests) == 1


def test_the_key_goes_only_to_its_host_and_upstream_errors_are_scrubbed(llm_server, monkeypatch, settings, project, researcher,
                                                                      annotator_member):
    """A registered credential reaches its host as a Bearer token; an upstream error that echoes secrets is stored
    shortened and redacted."""
    from studies.services.setup import study_create, system_add_endpoint

    settings.LOUPE_ENDPOINT_CREDENTIALS = f"vision=LOUPE_TEST_VISION_KEY@{_host(llm_server)}"
    monkeypatch.setenv("LOUPE_TEST_VISION_KEY", "sk-vision-0123456789abcdef")
    monkeypatch.setenv("DATABASE_URL", "postgres://loupe:hunter2-db-password@db.internal:5432/loupe")
    access = endpoint_access(llm_server.base_url, "vision", timeout_s=5)
    assert access.api_key == "sk-vision-0123456789abcdef"
    with pytest.raises(EgressRefused, match="may only be sent to"):
        endpoint_access("http://127.0.0.1:1/v1", "vision", timeout_s=5)

    labelled(project, 1)
    study = study_create(project=project, name="s", created_by=researcher, annotators=[annotator_member], image_count=0)
    echo = ("invalid key sk-vision-0123456789abcdef; the server also said postgres://loupe:hunter2-db-password@db.internal "
            "and Authorization: Bearer abc.def.ghi " + "x" * 600)
    llm_server.script(Status(401, message=echo))
    system = system_add_endpoint(study=study, name="vision", base_url=llm_server.base_url, model="m", key_env="vision")
    system_answers_generate_endpoint(system.pk)
    system.refresh_from_db()
    assert llm_server.chat_requests[0].headers["authorization"] == "Bearer sk-vision-0123456789abcdef"
    assert system.status == System.Status.FAILED
    for secret in ("sk-vision-0123456789abcdef", "hunter2", "abc.def.ghi"):
        assert secret not in system.error
    assert "[redacted]" in system.error and len(system.error) < 800


def test_scrub_redacts_known_values_and_credential_shapes():
    text = scrub("token=abc123 key sk-abcdefghij Bearer xyz https://u:p@h/ " + "A" * 40 + " my-secret-value", ["my-secret-value"])
    for secret in ("abc123", "sk-abcdefghij", "xyz", "u:p@", "A" * 40, "my-secret-value"):
        assert secret not in text
    assert len(scrub("y " * 500)) == 300
