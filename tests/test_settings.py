"""The settings Loupe relies on exist, are spelled right, and hold up in production."""

import os
import secrets
import subprocess
import sys
from pathlib import Path

import pytest
from django.conf import settings as django_settings

REPO_ROOT = Path(__file__).resolve().parent.parent


def _manage(*args: str, env: dict, timeout_s: int = 120) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout_s,
    )


# The test run's own knobs (tests/env.py sets DJANGO_ALLOW_ASYNC_UNSAFE for Playwright) are not production's.
_NOT_PASSED_ON = {
    "SECRET_KEY",
    "DEBUG",
    "ALLOWED_HOSTS",
    "DJANGO_ALLOW_ASYNC_UNSAFE",
    "LOUPE_VAR_DIR",
    "MEDIA_ROOT",
}


def _production_env(tmp_path, **overrides) -> dict:
    env = {key: value for key, value in os.environ.items() if key not in _NOT_PASSED_ON}
    env.update(
        {
            "LOUPE_ENV": "production",
            "LOUPE_VAR_DIR": str(tmp_path / "var"),
            "DJANGO_SETTINGS_MODULE": "config.settings",
        }
    )
    env.update(overrides)
    return env


def test_celery_task_defaults_are_spelled_right():
    """acks_late and reject_on_worker_lost are set, and Celery read them (a typo would leave its defaults)."""
    from config.celery import app

    assert django_settings.CELERY_TASK_ACKS_LATE is True
    assert django_settings.CELERY_TASK_REJECT_ON_WORKER_LOST is True
    assert app.conf.task_acks_late is True
    assert app.conf.task_reject_on_worker_lost is True
    assert app.conf.worker_prefetch_multiplier == 1
    assert not app.conf.task_always_eager


def test_celery_app_has_the_default_and_gpu_queues():
    """The Celery app declares exactly the queues of `config.queues.Queue`, and `default` is the default."""
    from config.celery import app
    from config.queues import Queue

    assert (
        {queue.name for queue in app.conf.task_queues}
        == {"default", "gpu"}
        == {q.value for q in Queue}
    )
    assert app.conf.task_default_queue == Queue.DEFAULT


def test_django_settings_we_rely_on():
    """The custom user model, the media root, CSRF protection and default-deny API permissions are in place."""
    assert django_settings.AUTH_USER_MODEL == "accounts.User"
    assert django_settings.MEDIA_ROOT
    assert "django.middleware.csrf.CsrfViewMiddleware" in django_settings.MIDDLEWARE
    assert django_settings.REST_FRAMEWORK["DEFAULT_PERMISSION_CLASSES"] == [
        "rest_framework.permissions.IsAuthenticated"
    ]
    assert django_settings.LOUPE_MAX_IMAGE_BYTES > 0
    assert django_settings.LOUPE_MAX_IMAGE_PIXELS > 0
    # Token first, so that an unauthenticated API call is 401 (and tokens expire).
    assert django_settings.REST_FRAMEWORK["DEFAULT_AUTHENTICATION_CLASSES"][0] == "accounts.authentication.ExpiringTokenAuthentication"
    assert django_settings.LOUPE_API_TOKEN_TTL_HOURS > 0
    assert "config.csp.ContentSecurityPolicyMiddleware" in django_settings.MIDDLEWARE
    assert isinstance(django_settings.LOUPE_GENERAL_DATA_DIR, str)  # general-purpose training data folder ("" = off)


def test_production_passes_the_deploy_check(tmp_path):
    """With LOUPE_ENV=production, a real key and a host name, `manage.py check --deploy` reports no warning."""
    env = _production_env(
        tmp_path,
        SECRET_KEY=secrets.token_urlsafe(64),
        ALLOWED_HOSTS="loupe.example.org",
    )

    result = _manage("check", "--deploy", "--fail-level", "WARNING", env=env)

    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout


def test_production_without_secret_key_refuses_to_start(tmp_path):
    """Production without SECRET_KEY stops with an error naming the variable, instead of using a known key."""
    env = _production_env(tmp_path, ALLOWED_HOSTS="loupe.example.org")

    result = _manage("check", env=env)

    assert result.returncode != 0
    assert "ImproperlyConfigured" in result.stderr
    assert "Set the SECRET_KEY environment variable" in result.stderr


@pytest.mark.skipif(
    os.environ.get("LOUPE_EXPECT_SERVICES") != "1",
    reason="LOUPE_EXPECT_SERVICES=1 is not set (CI sets it)",
)
@pytest.mark.django_db
def test_expected_services_are_in_use_and_reachable():
    """When CI says PostgreSQL and Redis are there, the suite really runs on them (fails, never skips, without)."""
    import redis
    from django.db import connection

    from config.celery import app

    assert connection.vendor == "postgresql", (
        f"the suite runs on {connection.vendor}; set DATABASE_URL=postgres://..."
    )
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
        assert cursor.fetchone() == (1,)

    broker_url = django_settings.CELERY_BROKER_URL
    assert broker_url.startswith("redis://"), (
        f"the broker is {broker_url!r}; set CELERY_BROKER_URL=redis://..."
    )
    assert redis.Redis.from_url(broker_url, socket_connect_timeout=5).ping()
    with app.connection_for_write() as broker:
        broker.ensure_connection(max_retries=2)


def test_redis_visibility_timeout_outlasts_the_longest_task():
    """On Redis an unacknowledged task is not handed to a second worker while the first may still run it: the
    visibility timeout is above every registered task's time limit (the training task's 12 h among them)."""
    code = (
        "import django; django.setup(); from django.conf import settings as s; from config.celery import app; "
        "app.loader.import_default_modules(); "
        "limits = [t.time_limit or s.CELERY_TASK_TIME_LIMIT for n, t in app.tasks.items() if not n.startswith('celery.')]; "
        "print(s.CELERY_BROKER_TRANSPORT_OPTIONS['visibility_timeout'], max(limits), len(limits))"
    )
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "config.settings",
        "LOUPE_ENV": "test",
        "CELERY_BROKER_URL": "redis://127.0.0.1:6379/0",
    }
    env.pop("CELERY_VISIBILITY_TIMEOUT", None)
    out = subprocess.run(
        [sys.executable, "-c", code],
        env=env,
        capture_output=True,
        text=True,
        check=True,
        cwd=REPO_ROOT,
        timeout=120,
    )
    visibility_timeout, longest_time_limit, n_tasks = map(int, out.stdout.split()[-3:])
    assert n_tasks > 10 and longest_time_limit >= 12 * 3600
    assert visibility_timeout > longest_time_limit


def test_cache_url_chooses_the_shared_cache():
    """Local memory by default (per process); CACHE_URL=redis://... gives Django's own Redis cache (README, Production)."""
    code = "import django; django.setup(); from django.conf import settings as s; c = s.CACHES['default']; print(c['BACKEND'], c.get('LOCATION', '-'))"
    base = {**os.environ, "DJANGO_SETTINGS_MODULE": "config.settings", "LOUPE_ENV": "test"}
    base.pop("CACHE_URL", None)

    def backend(env):
        out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True, cwd=REPO_ROOT, timeout=120)
        return out.stdout.split()[-2:]

    assert backend(base)[0] == "django.core.cache.backends.locmem.LocMemCache"
    assert backend({**base, "CACHE_URL": "redis://127.0.0.1:6379/1"}) == ["django.core.cache.backends.redis.RedisCache", "redis://127.0.0.1:6379/1"]
