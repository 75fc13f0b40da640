"""Fixtures shared by all tests: users, a project, an isolated media root, the loopback LLM server, a real Celery worker,
a headless browser."""
import os
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.factories import PASSWORD, AnnotatorFactory, MembershipFactory, ProjectFactory, ResearcherFactory
from tests.llm_server import FakeLLMServer
from tests.workers import (
    LOOPBACK_ENDPOINTS, REPO_ROOT, WORKER_READY_TIMEOUT_S, QueueWorkers, celery_command, database_url, worker_env,
    worker_start, worker_stop,
)


@pytest.fixture(autouse=True)
def _media_root(settings, tmp_path):
    """Every test writes its files under its own temporary media root."""
    settings.MEDIA_ROOT = tmp_path / "media"


@pytest.fixture
def loopback_endpoints(settings):
    """Allow endpoints on 127.0.0.1 in this test (the worker fixture's process allows them too)."""
    for name, value in LOOPBACK_ENDPOINTS.items():
        setattr(settings, name, value)


@pytest.fixture
def llm_server(loopback_endpoints):
    """A FakeLLMServer on 127.0.0.1:<ephemeral>; script it with ``llm_server.script(...)``. Endpoints on loopback are
    allowed while it runs."""
    with FakeLLMServer() as server:
        yield server


@pytest.fixture
def researcher(db):
    return ResearcherFactory()


@pytest.fixture
def annotator(db):
    return AnnotatorFactory()


@pytest.fixture
def project(db, researcher):
    return ProjectFactory(created_by=researcher)


@pytest.fixture
def annotator_member(project, annotator):
    MembershipFactory(project=project, user=annotator)
    return annotator


# --- A real Celery worker -------------------------------------------------------------------
# Integration tests talk to a worker process through the real broker (never eager mode). The
# worker is started once per session, after pytest-django has created the test database, and
# is pointed at that database, at the test process's broker and at a media root both share.

_worker_key = pytest.StashKey["CeleryWorker"]()


@dataclass
class CeleryWorker:
    """A running `celery worker` subprocess and where its log goes."""

    process: subprocess.Popen
    nodename: str
    log_path: Path
    env: dict

    def log_tail(self, lines: int = 200) -> str:
        text = self.log_path.read_text(errors="replace") if self.log_path.exists() else ""
        return "\n".join(text.splitlines()[-lines:])


@pytest.fixture(scope="session")
def test_database_url(django_db_setup, django_db_blocker) -> str:
    """The DATABASE_URL of the test database, for worker processes."""
    from django.db import connection

    with django_db_blocker.unblock():
        return database_url(connection.settings_dict)


@pytest.fixture(scope="session")
def worker_media_dir(tmp_path_factory) -> Path:
    """The media root that the worker process and the worker tests share (session-wide)."""
    return tmp_path_factory.mktemp("worker-media")


@pytest.fixture
def worker_media_root(settings, worker_media_dir) -> Path:
    """Point this test's MEDIA_ROOT at the worker's (overrides the per-test `_media_root`)."""
    settings.MEDIA_ROOT = worker_media_dir
    return worker_media_dir


@pytest.fixture(scope="session")
def celery_worker(request, test_database_url, worker_media_dir, tmp_path_factory) -> CeleryWorker:
    """Start a real `celery -A config worker -Q default,gpu -c 1` on the test database; stop it at session end.

    Use it with `@pytest.mark.worker` and `@pytest.mark.django_db(transaction=True)`: the worker
    is another process, so it only sees rows the test has committed.
    """
    env = worker_env(database=test_database_url, media_dir=worker_media_dir)
    nodename = f"loupe-test-{os.getpid()}@%h"
    log_path = tmp_path_factory.mktemp("celery-worker") / "worker.log"

    # Messages left by an earlier, interrupted run would be executed against this database.
    purge = subprocess.run(
        celery_command("purge", "-f"), cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=60
    )
    if purge.returncode != 0:
        pytest.fail(f"celery purge failed ({purge.returncode}):\n{purge.stdout}\n{purge.stderr}")

    process = worker_start(queues="default,gpu", nodename=nodename, env=env, log_path=log_path)
    request.config.stash[_worker_key] = CeleryWorker(process=process, nodename=nodename, log_path=log_path, env=env)
    try:
        yield request.config.stash[_worker_key]
    finally:
        worker_stop(process)
        request.config.stash[_worker_key] = None


@pytest.fixture
def queue_workers(test_database_url, tmp_path, worker_media_dir):
    """Make a test's own workers: `queue_workers("scoring", LOUPE_CRITIC_SCORE_CHUNK="4")` gives a QueueWorkers on a
    queue named for this test (`scoring-<pid>-<ns>`), with those variables added to the worker environment; start
    them with `.start()`. Every worker still running is stopped when the test ends."""
    pools: list[QueueWorkers] = []

    def make(prefix: str, *, ready_timeout_s: float = WORKER_READY_TIMEOUT_S, **env: str) -> QueueWorkers:
        pool = QueueWorkers(
            env=worker_env(database=test_database_url, media_dir=worker_media_dir, **env),
            queue=f"{prefix}-{os.getpid()}-{time.monotonic_ns()}", log_dir=tmp_path, ready_timeout_s=ready_timeout_s,
        )
        pools.append(pool)
        return pool

    try:
        yield make
    finally:
        for pool in pools:
            pool.stop()


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item, call):
    """On a failing test that used the worker, attach the worker's log to the report."""
    report = yield
    if report.failed and "celery_worker" in getattr(item, "fixturenames", ()):
        worker = item.config.stash.get(_worker_key, None)
        if worker is not None:
            report.sections.append(("celery worker log (last 200 lines)", worker.log_tail()))
    return report


# --- A headless browser ---------------------------------------------------------------------
# Playwright's sync API drives Debian's chromium; downloading a browser build is impossible here.

CHROMIUM_PATH = os.environ.get("LOUPE_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


@pytest.fixture(scope="session")
def browser():
    """A headless Chromium for the session. Playwright gives each launch a fresh, temporary user-data dir."""
    from playwright.sync_api import sync_playwright

    if not Path(CHROMIUM_PATH).exists():
        pytest.fail(f"No Chromium at {CHROMIUM_PATH}: `make test` installs Debian's package (apt-get install chromium).")
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM_PATH, headless=True, args=CHROMIUM_ARGS)
        try:
            yield chromium
        finally:
            chromium.close()


@pytest.fixture
def page(browser):
    """A page in a new browser context: no cookies or storage shared with other tests.

    Every page the test opens must pass the Content-Security-Policy (config/csp.py): a violation the browser
    reports on the console fails the test.
    """
    context = browser.new_context()
    context.set_default_timeout(15_000)
    page = context.new_page()
    violations = []
    page.on("console", lambda message: violations.append(f"{page.url}: {message.text}")
            if "Content Security Policy" in message.text else None)
    try:
        yield page
    finally:
        context.close()
    assert not violations, "Content-Security-Policy violations:\n" + "\n".join(violations)


@pytest.fixture
def login():
    """`login(page, live_server, user)`: sign `user` in through the real login form at /accounts/login/.

    Factory users have the password `tests.factories.PASSWORD`; pass `password=` for others and
    `path=` for another form with the same fields (the admin's, say). Returns the page, signed in.
    """

    def _login(page, live_server, user, *, password: str = PASSWORD, path: str = "/accounts/login/"):
        page.goto(f"{live_server.url}{path}")
        page.fill("input[name='username']", user.get_username())
        page.fill("input[name='password']", password)
        with page.expect_navigation():
            page.locator("form:has(input[name='password'])").locator("[type='submit']").first.click()
        if not any(cookie["name"] == "sessionid" for cookie in page.context.cookies()):
            raise AssertionError(f"Logging in {user.get_username()!r} at {path} failed; the page says:\n{page.inner_text('body')[:2000]}")
        return page

    return _login


def pytest_collection_modifyitems(config, items):
    """Tests marked `gpu` (run with `-m gpu`) are skipped where there is no CUDA device."""
    gpu_items = [item for item in items if item.get_closest_marker("gpu")]
    if not gpu_items:
        return
    import torch

    if not torch.cuda.is_available():
        skip = pytest.mark.skip(reason="needs a CUDA device")
        for item in gpu_items:
            item.add_marker(skip)
