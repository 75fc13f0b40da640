"""Real `celery worker` processes for tests: their environment, starting one and waiting for it, stopping or killing it.

The session's worker (tests/conftest.py, fixture `celery_worker`) and the workers a test starts on a queue of its own
(fixture `queue_workers`: to kill one mid-run, to run two side by side) are all started here, the same way.
"""
from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import quote, urlencode

import pytest

REPO_ROOT = Path(__file__).resolve().parent.parent
WORKER_READY_TIMEOUT_S = 90
#: The endpoint policy (config/egress.py) that lets the worker call the loopback LLM server, as an administrator of a
#: machine with a local vLLM would set it. Tests that check refusals set their own.
LOOPBACK_ENDPOINTS = {"LOUPE_ENDPOINT_ALLOWED_HOSTS": "127.0.0.1", "LOUPE_ENDPOINT_PRIVATE_NETWORKS": "127.0.0.0/8"}


def database_url(settings_dict: dict) -> str:
    """The DATABASE_URL that opens the database `settings_dict` describes (the test one after setup)."""
    engine = settings_dict["ENGINE"]
    if engine == "django.db.backends.sqlite3":
        name = str(settings_dict["NAME"])
        if name == ":memory:" or name.startswith("file:"):
            raise RuntimeError("A worker process cannot open an in-memory SQLite test database; set TEST NAME to a file.")
        return f"sqlite:///{Path(name).resolve()}"
    if engine == "django.db.backends.postgresql":
        user = quote(settings_dict.get("USER") or "", safe="")
        password = quote(settings_dict.get("PASSWORD") or "", safe="")
        credentials = f"{user}:{password}@" if password else (f"{user}@" if user else "")
        host = settings_dict.get("HOST") or "localhost"
        port = f":{settings_dict['PORT']}" if settings_dict.get("PORT") else ""
        options = {key: value for key, value in (settings_dict.get("OPTIONS") or {}).items() if isinstance(value, str)}
        query = f"?{urlencode(options)}" if options else ""  # sslmode and the like
        return f"postgres://{credentials}{host}{port}/{quote(settings_dict['NAME'], safe='')}{query}"
    raise RuntimeError(f"The worker fixture does not know how to pass on a {engine} database.")


def celery_command(*args: str) -> list[str]:
    celery = Path(sys.executable).with_name("celery")
    return [str(celery) if celery.exists() else shutil.which("celery") or "celery", "-A", "config", *args]


def worker_env(*, database: str, media_dir: Path, **extra: str) -> dict[str, str]:
    """A worker's environment: the test database and broker, the media root it shares with the tests, loopback
    endpoints allowed, INFO logs (the "ready." line is waited for); `extra` adds or overrides variables."""
    from django.conf import settings

    return {
        **os.environ,
        "LOUPE_ENV": "test",
        "DATABASE_URL": database,
        "CELERY_BROKER_URL": settings.CELERY_BROKER_URL,
        "LOUPE_VAR_DIR": str(settings.VAR_DIR),
        "MEDIA_ROOT": str(media_dir),
        "LOG_LEVEL": "INFO",
        "PYTHONUNBUFFERED": "1",
        **LOOPBACK_ENDPOINTS,
        **extra,
    }


def worker_launch(*, queues: str, nodename: str, env: dict, log_path: Path) -> subprocess.Popen:
    """Start `celery worker -Q <queues> -c 1 -n <nodename>`, logging to `log_path` (not yet ready: `worker_wait_ready`).

    The worker gets a process group of its own, so that stopping or killing it reaches its pool child too.
    """
    with log_path.open("wb") as log_file:  # the child keeps its own descriptor
        return subprocess.Popen(
            celery_command("worker", "-Q", queues, "-c", "1", "--without-gossip", "--without-mingle", "-l", "info", "-n", nodename),
            cwd=REPO_ROOT, env=env, stdout=log_file, stderr=subprocess.STDOUT, start_new_session=True,
        )


def worker_wait_ready(process: subprocess.Popen, *, nodename: str, log_path: Path, deadline: float) -> None:
    """Wait for the worker's "ready." line until `deadline` (time.monotonic()); when it exits or is not ready by then,
    stop it and fail the test with its log."""
    name = nodename.split("@", 1)[0]  # celery fills in the host part
    while True:
        lines = log_path.read_text(errors="replace").splitlines()
        if any(name in line and line.rstrip().endswith("ready.") for line in lines):
            return
        if process.poll() is not None or time.monotonic() > deadline:
            worker_stop(process)
            tail = "\n".join(lines[-200:])
            pytest.fail(f"The Celery worker {name} exited ({process.returncode}) or was not ready in time:\n{tail}")
        time.sleep(0.2)


def worker_start(*, queues: str, nodename: str, env: dict, log_path: Path,
                 ready_timeout_s: float = WORKER_READY_TIMEOUT_S) -> subprocess.Popen:
    """`worker_launch`, then `worker_wait_ready`: a worker that is ready to take tasks."""
    process = worker_launch(queues=queues, nodename=nodename, env=env, log_path=log_path)
    worker_wait_ready(process, nodename=nodename, log_path=log_path, deadline=time.monotonic() + ready_timeout_s)
    return process


def worker_stop(process: subprocess.Popen) -> None:
    """Warm shutdown first (TERM to the main process), then kill the whole group if it hangs."""
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            pass
    try:
        os.killpg(process.pid, signal.SIGKILL)  # the pool child, if the main process left it behind
    except ProcessLookupError:
        pass
    if process.poll() is None:
        process.wait(timeout=10)


def worker_kill(process: subprocess.Popen) -> list:
    """SIGKILL of the main process (no warm shutdown), then of its whole group (the pool), as the OOM killer or a
    container stop does; returns the pool processes (psutil), gone by then."""
    import psutil

    pool = psutil.Process(process.pid).children()
    os.kill(process.pid, signal.SIGKILL)
    process.wait(timeout=10)
    os.killpg(process.pid, signal.SIGKILL)
    psutil.wait_procs(pool, timeout=10)
    return pool


class QueueWorkers:
    """`celery worker -c 1` processes of one test, consuming only a queue named for it (the session's worker never sees
    its messages). Start one or several, kill and start again; the fixture `queue_workers` stops what is left."""

    def __init__(self, *, env: dict, queue: str, log_dir: Path, ready_timeout_s: float = WORKER_READY_TIMEOUT_S):
        self.env, self.queue, self.log_dir, self.ready_timeout_s = env, queue, log_dir, ready_timeout_s
        self.processes: list[subprocess.Popen] = []
        self.log_paths: list[Path] = []

    def start(self, name: str = "worker", count: int = 1) -> subprocess.Popen:
        """Start `count` more workers at once, nodes `<name><n>-<queue>`, and wait until each is ready; returns the last."""
        started = []
        for _ in range(count):
            n = len(self.processes) + 1
            nodename, log_path = f"{name}{n}-{self.queue}@%h", self.log_dir / f"{name}{n}.log"
            process = worker_launch(queues=self.queue, nodename=nodename, env=self.env, log_path=log_path)
            self.processes.append(process)
            self.log_paths.append(log_path)
            started.append((process, nodename, log_path))
        deadline = time.monotonic() + self.ready_timeout_s
        for process, nodename, log_path in started:
            worker_wait_ready(process, nodename=nodename, log_path=log_path, deadline=deadline)
        return self.process

    @property
    def process(self) -> subprocess.Popen:
        """The newest worker."""
        return self.processes[-1]

    def kill(self) -> list:
        """SIGKILL the newest worker and its pool (`worker_kill`); returns the pool processes."""
        return worker_kill(self.process)

    def log(self, chars: int = 4000) -> str:
        """The end of each worker's log, for a failure message."""
        return "\n".join(f"--- {path.name}\n{path.read_text(errors='replace')[-chars:]}" for path in self.log_paths if path.exists())

    def stop(self) -> None:
        for process in self.processes:
            worker_stop(process)
