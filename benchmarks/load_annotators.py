"""Load test of the annotators' loop: concurrent annotators against gunicorn, a baseline page in the same run, then
the integrity checks.

Run: ``.venv/bin/python benchmarks/load_annotators.py [--db postgres|sqlite] [--annotators 50] [--workers 2]
[--duration 30] [--preexisting 0|1000|1000000] [--think-ms 0]``.

What it does, all on 127.0.0.1 and in a fresh temporary var dir:

1. Makes a fresh database (PostgreSQL: a database of its own, ``loupe_load_<pid>``, on the server of ``--pg-url``,
   dropped at the end; SQLite: a file in the var dir), migrates it and seeds one project (ratings and pairs, overlap
   3, 5 % gold, no training, leases of 30 s) with enough open items for the run, the annotators and their API tokens
   (written directly: no logins, so the login lockout never enters into it). ``--preexisting`` first writes that many
   judgements, on items already judged to their overlap, with plain SQL (1,000,000 takes a minute or two on PostgreSQL).
2. Starts ``gunicorn config.wsgi`` with ``--workers`` sync workers (DEBUG off).
3. Baseline: the same number of concurrent clients GET the login page for ``--baseline`` seconds: requests per second.
4. The annotators, each a loop in one asyncio client with at most one request in flight per annotator, for
   ``--duration`` seconds: POST next, then 5 % give the item back (release), 10 % send their answer twice at once (a
   double click: both must come back 2xx, one 201 and one 200 with the same judgement), the rest answer once.
   ``--abandon`` of them walk away from one lease each (come back after the lease ran out).
5. Prints judgements per second, its ratio to the baseline's requests per second, p50/p95 of each request kind, and
   the integrity checks (each a count of bad rows that must be 0); exits 1 when a check fails or a request failed.

The client opens one connection per request (gunicorn's sync workers close it after each response anyway); it runs
on the same cores as the server, in both phases alike, so the ratio does not depend on how busy the machine is.
"""
from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

OVERLAP = 3
LEASE_SECONDS = 30  # the shortest a project allows: abandoned leases run out within the run
GOLD_RATE = 0.05


# ------------------------------------------------------------------------------------------- setup


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _environment(args, var_dir: str) -> dict:
    env = dict(os.environ)
    for name in ("DATABASE_URL", "MEDIA_ROOT", "CELERY_BROKER_URL", "LOUPE_EXPECT_SERVICES"):
        env.pop(name, None)
    env.update(LOUPE_ENV="local", DEBUG="False", LOUPE_VAR_DIR=var_dir, LOG_LEVEL="WARNING", DJANGO_SETTINGS_MODULE="config.settings")
    if args.db == "postgres":
        env["DATABASE_URL"] = f"{args.pg_url.rstrip('/')}/{args.pg_name}"
    return env


def _pg_admin(args, sql: str) -> None:
    import psycopg

    with psycopg.connect(f"{args.pg_url.rstrip('/')}/postgres", autocommit=True) as conn:
        conn.execute(sql)


def _seed(args) -> tuple[int, list[str], int]:
    """Migrate and seed; returns (project id, annotator tokens, judgements already there)."""
    import django
    from django.core.management import call_command

    django.setup()
    call_command("migrate", verbosity=0)
    from django.db import connection, transaction
    from rest_framework.authtoken.models import Token

    from accounts.models import Role, User
    from annotation.models import Image, Membership, Project, WorkItem

    with transaction.atomic():
        owner = User.objects.create(username="load-researcher", role=Role.RESEARCHER)
        project = Project.objects.create(
            name="Load test", slug="load-test", created_by=owner, task_kinds=["rating", "pair"], overlap=OVERLAP,
            gold_rate=GOLD_RATE, repeat_rate=0.0, lease_seconds=LEASE_SECONDS, training_required=False,
            fatigue_warn_after=30_000, fatigue_pause_after=30_000,
        )
    if args.preexisting:
        _preexisting(connection, project, owner, args.preexisting)
    n_images = args.images
    with transaction.atomic():
        Image.objects.bulk_create([
            Image(project=project, file=f"images/live-{i}.png", thumbnail=f"thumbnails/live-{i}.jpg",
                  content_hash=f"live{i:060x}", original_name=f"live-{i}.png", format="PNG", width=64, height=48,
                  file_size=1000, source_dataset="load")
            for i in range(n_images)
        ], batch_size=2000)
        ids = list(Image.objects.filter(project=project, source_dataset="load").order_by("id").values_list("id", flat=True))
        items = [WorkItem(project=project, kind="rating", image_id=image_id) for image_id in ids]
        items += [WorkItem(project=project, kind="pair", image_id=a, image_b_id=b) for a, b in zip(ids[::2], ids[1::2])]
        items += [WorkItem(project=project, kind="rating", purpose=WorkItem.Purpose.GOLD, image_id=image_id, gold_answer={"level": 3})
                  for image_id in ids[:20]]
        WorkItem.objects.bulk_create(items, batch_size=2000)
        users = User.objects.bulk_create([User(username=f"load-annotator-{i}", role=Role.ANNOTATOR) for i in range(args.annotators)])
        users = list(User.objects.filter(username__startswith="load-annotator-").order_by("id"))
        Membership.objects.bulk_create([Membership(project=project, user=user, role=Membership.Role.ANNOTATOR) for user in users])
        tokens = [Token.objects.create(user=user).key for user in users]
    connection.close()
    return project.pk, tokens, args.preexisting


def _preexisting(connection, project, owner, count: int) -> None:
    """`count` judgements by three earlier annotators on items judged to their overlap, written with plain SQL."""
    from accounts.models import Role, User
    from annotation.models import Image, Judgement, Lease, WorkItem

    hist = [User.objects.create(username=f"earlier-annotator-{k}", role=Role.ANNOTATOR).pk for k in range(OVERLAP)]
    n_items = -(-count // OVERLAP)
    pg = connection.vendor == "postgresql"
    seq = "WITH RECURSIVE seq(n) AS (SELECT 0 UNION ALL SELECT n + 1 FROM seq WHERE n < %s) "
    now = "now()" if pg else "datetime('now')"
    base = {}
    for model in (Image, WorkItem, Lease, Judgement):
        base[model] = (model.objects.order_by("-id").values_list("id", flat=True).first() or 0) + 1
    started = time.perf_counter()
    with connection.cursor() as cur:
        if pg:
            seq = "WITH seq(n) AS (SELECT generate_series(0, %s)) "
        cur.execute(
            seq + f"INSERT INTO {Image._meta.db_table} (id, project_id, file, thumbnail, content_hash, original_name, format, width, "
            "height, file_size, source_dataset, authenticity, attributes, hidden_ground_truth, created_at) "
            f"SELECT {base[Image]} + n, %s, 'images/earlier.png', 'thumbnails/earlier.jpg', 'earlier' || n, 'earlier.png', "
            f"'PNG', 64, 48, 1000, 'earlier', '', '{{}}', '{{}}', {now} FROM seq",
            [n_items - 1, project.pk],
        )
        cur.execute(
            seq + f"INSERT INTO {WorkItem._meta.db_table} (id, project_id, kind, purpose, image_id, gold_answer, feedback, strategy, "
            f"priority, judgement_count, retired, created_at) SELECT {base[WorkItem]} + n, %s, 'rating', 'work', {base[Image]} + n, "
            f"'{{}}', '', '', 0, CASE WHEN n < %s THEN {OVERLAP} ELSE %s END, %s, {now} FROM seq",
            [n_items - 1, project.pk, count // OVERLAP, count % OVERLAP, False],
        )
        # Judgement k: item k // OVERLAP, by earlier annotator k % OVERLAP; lease and judgement share the offset k.
        annotator = "CASE " + " ".join(f"WHEN n %% {OVERLAP} = {k} THEN {pk}" for k, pk in enumerate(hist)) + " END"
        cur.execute(
            seq + f"INSERT INTO {Lease._meta.db_table} (id, item_id, annotator_id, status, is_repeat, swap, issued_at, expires_at, "
            f"closed_at) SELECT {base[Lease]} + n, {base[WorkItem]} + n / {OVERLAP}, {annotator}, 'submitted', %s, %s, {now}, "
            f"{now}, {now} FROM seq",
            [count - 1, False, False],
        )
        client_id = "md5(n::text)::uuid" if pg else "printf('%%032x', n)"
        cur.execute(
            seq + f"INSERT INTO {Judgement._meta.db_table} (id, item_id, lease_id, annotator_id, project_id, kind, purpose, "
            "is_repeat, client_id, answer, level, choice, swap, issued_at, submitted_at, duration_ms, excluded) "
            f"SELECT {base[Judgement]} + n, {base[WorkItem]} + n / {OVERLAP}, {base[Lease]} + n, {annotator}, %s, 'rating', "
            f"'work', %s, {client_id}, '{{\"level\": 3}}', 3, '', %s, {now}, {now}, 1000, %s FROM seq",
            [count - 1, project.pk, False, False, False],
        )
        if pg:
            for model in (Image, WorkItem, Lease, Judgement):
                table = model._meta.db_table
                cur.execute(f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), (SELECT max(id) FROM {table}))")
            cur.execute("ANALYZE")
    print(f"seeded {count:,} earlier judgements on {n_items:,} items in {time.perf_counter() - started:.1f} s", flush=True)


# ------------------------------------------------------------------------------------------ client


@dataclass
class Stats:
    latencies: dict = field(default_factory=lambda: defaultdict(list))  # request kind -> seconds
    statuses: dict = field(default_factory=lambda: defaultdict(int))  # "kind status" -> count
    submits: list = field(default_factory=list)  # (lease_id, client_id, judgement_id, created) of every 2xx submit
    failures: list = field(default_factory=list)


async def _request(port: int, method: str, path: str, *, token: str | None = None, body: dict | None = None) -> tuple[int, bytes]:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    data = json.dumps(body).encode() if body is not None else b""
    head = [f"{method} {path} HTTP/1.1", f"Host: 127.0.0.1:{port}", "Connection: close", f"Content-Length: {len(data)}"]
    if token:
        head.append(f"Authorization: Token {token}")
    if body is not None:
        head.append("Content-Type: application/json")
    writer.write(("\r\n".join(head) + "\r\n\r\n").encode() + data)
    await writer.drain()
    response = await reader.read()
    writer.close()
    status_line, _, rest = response.partition(b"\r\n")
    return int(status_line.split()[1]), rest.partition(b"\r\n\r\n")[2]


async def _timed(stats: Stats, kind: str, *args, **kwargs) -> tuple[int, bytes]:
    started = time.perf_counter()
    status, payload = await _request(*args, **kwargs)
    stats.latencies[kind].append(time.perf_counter() - started)
    stats.statuses[f"{kind} {status}"] += 1
    return status, payload


async def _baseline(port: int, clients: int, seconds: float) -> tuple[float, Stats]:
    stats = Stats()
    stop = time.monotonic() + seconds

    async def client():
        while time.monotonic() < stop:
            status, _ = await _timed(stats, "login page", port, "GET", "/accounts/login/")
            if status != 200:
                stats.failures.append(f"login page {status}")

    started = time.perf_counter()
    await asyncio.gather(*(client() for _ in range(clients)))
    return len(stats.latencies["login page"]) / (time.perf_counter() - started), stats


async def _annotator(port: int, project_id: int, token: str, stats: Stats, stop: float, rng: random.Random, *,
                     abandons: bool, think_s: float) -> None:
    abandon_at = time.monotonic() + rng.uniform(0, max(stop - time.monotonic() - LEASE_SECONDS - 2, 0)) if abandons else None
    while time.monotonic() < stop:
        status, payload = await _timed(stats, "next", port, "POST", f"/api/projects/{project_id}/assignments/next/", token=token)
        if status == 404:  # nothing free this moment
            await asyncio.sleep(0.2)
            continue
        if status != 200:
            stats.failures.append(f"next {status} {payload[:200]!r}")
            await asyncio.sleep(0.2)
            continue
        lease = json.loads(payload)
        if think_s:
            await asyncio.sleep(rng.expovariate(1 / think_s))
        if abandon_at is not None and time.monotonic() >= abandon_at:
            abandon_at = None  # walk away: the lease runs out unanswered (or is left active at the end)
            await asyncio.sleep(max(0.0, min(LEASE_SECONDS + 1, stop - time.monotonic())))
            continue
        draw = rng.random()
        if draw < 0.05:
            status, payload = await _timed(stats, "release", port, "POST", f"/api/leases/{lease['lease_id']}/release/", token=token)
            if status != 204:
                stats.failures.append(f"release {status} {payload[:200]!r}")
            continue
        answer = {"choice": rng.choice(["a", "b", "tie"])} if lease["kind"] == "pair" else {"level": rng.randint(1, 5)}
        body = {"client_id": str(uuid.uuid4()), "answer": answer, "duration_ms": 1500}
        path = f"/api/leases/{lease['lease_id']}/judgement/"
        sends = 2 if draw < 0.15 else 1  # a double click: the same answer twice at once
        results = await asyncio.gather(*(_timed(stats, "submit", port, "POST", path, token=token, body=body) for _ in range(sends)))
        codes = sorted(code for code, _ in results)
        if codes not in ([201], [200, 201]):
            stats.failures.append(f"submit {codes} {[p[:200] for _, p in results]!r}")
        for code, payload in results:
            if code in (200, 201):
                stats.submits.append((lease["lease_id"], body["client_id"], json.loads(payload)["judgement_id"], code == 201))


async def _annotators(port: int, project_id: int, tokens: list[str], seconds: float, abandon: int, think_s: float) -> tuple[float, Stats]:
    stats = Stats()
    stop = time.monotonic() + seconds
    started = time.perf_counter()
    await asyncio.gather(*(
        _annotator(port, project_id, token, stats, stop, random.Random(seed), abandons=seed < abandon, think_s=think_s)
        for seed, token in enumerate(tokens)
    ))
    return time.perf_counter() - started, stats


# --------------------------------------------------------------------------------------- integrity


INTEGRITY = {
    "2xx submits without their one row": None,  # checked in Python against the client's record
    "judgements without a submitted lease of theirs": """
        SELECT COUNT(*) FROM annotation_judgement j LEFT JOIN annotation_lease l ON l.id = j.lease_id
        WHERE l.id IS NULL OR l.status <> 'submitted' OR l.annotator_id <> j.annotator_id OR l.item_id <> j.item_id""",
    "items over their overlap (judgements)": """
        SELECT COUNT(*) FROM (SELECT j.item_id FROM annotation_judgement j JOIN annotation_workitem w ON w.id = j.item_id
        WHERE j.purpose = 'work' AND NOT j.is_repeat AND j.training_attempt IS NULL
        GROUP BY j.item_id HAVING COUNT(*) > %(overlap)s) t""",
    "items over their overlap (judgements + live leases)": """
        SELECT COUNT(*) FROM annotation_workitem w WHERE w.purpose = 'work' AND w.judgement_count + (
            SELECT COUNT(*) FROM annotation_lease l WHERE l.item_id = w.id AND l.status = 'active' AND l.expires_at > %(now)s
        ) > %(overlap)s""",
    "items whose judgement_count is wrong": """
        SELECT COUNT(*) FROM annotation_workitem w WHERE w.judgement_count <> (
            SELECT COUNT(*) FROM annotation_judgement j WHERE j.item_id = w.id AND NOT j.is_repeat AND j.training_attempt IS NULL)""",
    "annotators with more than one live lease": """
        SELECT COUNT(*) FROM (SELECT l.annotator_id FROM annotation_lease l
        WHERE l.status = 'active' AND l.expires_at > %(now)s AND l.training_attempt IS NULL
        GROUP BY l.annotator_id HAVING COUNT(*) > 1) t""",
    "annotators with two judgements of one item": """
        SELECT COUNT(*) FROM (SELECT item_id, annotator_id FROM annotation_judgement WHERE NOT is_repeat AND training_attempt IS NULL
        GROUP BY item_id, annotator_id HAVING COUNT(*) > 1) t""",
}


def _integrity(stats: Stats, preexisting: int) -> dict[str, int]:
    from django.db import connection
    from django.utils import timezone

    from annotation.models import Judgement

    rows = {pk: (str(client_id), lease_id) for pk, client_id, lease_id in
            Judgement.objects.filter(id__gt=0).exclude(annotator__username__startswith="earlier-").values_list("id", "client_id", "lease_id")}
    created = [entry for entry in stats.submits if entry[3]]
    bad = sum(1 for lease_id, client_id, judgement_id, _ in stats.submits if rows.get(judgement_id) != (client_id, lease_id))
    bad += abs(len(rows) - len(created)) + (len(created) - len({entry[2] for entry in created}))
    results = {"2xx submits without their one row": bad}
    params = {"overlap": OVERLAP, "now": timezone.now()}
    with connection.cursor() as cur:
        for name, sql in INTEGRITY.items():
            if sql is None:
                continue
            if connection.vendor == "sqlite":
                sql = sql.replace("NOT j.is_repeat", "j.is_repeat = 0").replace("NOT is_repeat", "is_repeat = 0")
            cur.execute(sql, params)
            results[name] = cur.fetchone()[0]
    return results


# -------------------------------------------------------------------------------------------- main


def _percentiles(values: list[float]) -> str:
    if not values:
        return "-"
    ordered = sorted(values)
    p95 = ordered[min(len(ordered) - 1, int(0.95 * len(ordered)))]
    return f"p50 {statistics.median(ordered) * 1000:6.1f} ms  p95 {p95 * 1000:6.1f} ms  (n={len(ordered)})"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--db", choices=["postgres", "sqlite"], default="postgres")
    parser.add_argument("--pg-url", default="postgres://postgres@127.0.0.1:5432")
    parser.add_argument("--annotators", type=int, default=None, help="default 50 on PostgreSQL, 10 on SQLite")
    parser.add_argument("--workers", type=int, default=2, help="gunicorn sync workers")
    parser.add_argument("--duration", type=float, default=30.0, help="seconds of annotating")
    parser.add_argument("--baseline", type=float, default=10.0, help="seconds of the baseline page")
    parser.add_argument("--preexisting", type=int, default=0, help="judgements already in the project")
    parser.add_argument("--images", type=int, default=6000, help="images of open work (each a rating; half as many pairs)")
    parser.add_argument("--abandon", type=int, default=5, help="annotators who walk away from one lease each")
    parser.add_argument("--think-ms", type=float, default=0.0, help="mean pause between an assignment and its answer")
    args = parser.parse_args()
    args.annotators = args.annotators or (50 if args.db == "postgres" else 10)
    args.pg_name = f"loupe_load_{os.getpid()}"

    var_dir = tempfile.mkdtemp(prefix="loupe-load-")
    env = _environment(args, var_dir)
    os.environ.update(env)
    for name in ("DATABASE_URL",):
        if name not in env:
            os.environ.pop(name, None)
    server = None
    try:
        return _run(args, env, var_dir)
    finally:
        from django.db import connections

        connections.close_all()
        if args.db == "postgres":
            _pg_admin(args, f"DROP DATABASE IF EXISTS {args.pg_name} WITH (FORCE)")
        shutil.rmtree(var_dir, ignore_errors=True)


def _run(args, env: dict, var_dir: str) -> int:
    server = None
    try:
        if args.db == "postgres":
            _pg_admin(args, f"CREATE DATABASE {args.pg_name}")
        project_id, tokens, preexisting = _seed(args)
        port = _free_port()
        server = subprocess.Popen(
            [str(REPO / ".venv/bin/gunicorn"), "config.wsgi", "--bind", f"127.0.0.1:{port}", "--workers", str(args.workers),
             "--backlog", "2048", "--log-level", "warning"],
            cwd=REPO, env=env, start_new_session=True,
        )
        deadline = time.monotonic() + 60
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                if time.monotonic() > deadline or server.poll() is not None:
                    raise RuntimeError("gunicorn did not start") from None
                time.sleep(0.2)
        asyncio.run(_baseline(port, args.annotators, 2.0))  # warm up both workers
        baseline_rate, baseline = asyncio.run(_baseline(port, args.annotators, args.baseline))
        elapsed, stats = asyncio.run(_annotators(port, project_id, tokens, args.duration, args.abandon, args.think_ms / 1000))
        after_rate, after = asyncio.run(_baseline(port, args.annotators, args.baseline))
    finally:
        if server is not None:
            os.killpg(server.pid, signal.SIGTERM)
            server.wait(timeout=30)

    created = sum(1 for entry in stats.submits if entry[3])
    rate = created / elapsed
    reference = (baseline_rate + after_rate) / 2
    print(f"\n{args.db}, gunicorn {args.workers} sync workers, {args.annotators} annotators for {elapsed:.0f} s, "
          f"{preexisting:,} judgements there before, think time {args.think_ms:.0f} ms")
    print(f"baseline (GET login page, {args.annotators} clients): {baseline_rate:.1f} req/s before, {after_rate:.1f} req/s after   "
          f"{_percentiles(baseline.latencies['login page'] + after.latencies['login page'])}")
    print(f"judgements: {created} in {elapsed:.1f} s = {rate:.1f}/s = {rate / reference:.3f} x the baseline's req/s "
          f"(two requests each: 0.5 x is the limit)")
    for kind in ("next", "submit", "release"):
        print(f"  {kind:8s} {_percentiles(stats.latencies[kind])}")
    print("  statuses: " + ", ".join(f"{key}: {value}" for key, value in sorted(stats.statuses.items())))
    print(f"  double clicks: {sum(1 for entry in stats.submits if not entry[3])} second submits answered 200 with the first judgement")

    import django  # noqa: F401  (set up by _seed)
    checks = _integrity(stats, preexisting)
    print("integrity (bad rows; each must be 0):")
    for name, count in checks.items():
        print(f"  {name}: {count}")
    failures = stats.failures + baseline.failures + after.failures
    if failures:
        print(f"{len(failures)} failed requests, e.g. {failures[:3]}")
    return 1 if failures or any(checks.values()) else 0


if __name__ == "__main__":
    sys.exit(main())
