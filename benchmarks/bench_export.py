"""Benchmark dataset exports: time and peak memory per format at 100,000 judgements.

Run: ``.venv/bin/python benchmarks/bench_export.py [--sizes 20000,100000] [--formats pairs,mos,pair_matrix,conversations]``.

Sets up Django on a fresh temporary var dir (SQLite under it, nothing else touched), migrates, and writes rows with
``bulk_create``: 2,000 images of one source (rows only: no files, the formats read no pixels), 1,200 pair items and
800 rating items, and one judgement per (item, annotator) with annotator k // 2,000 — so each size is a prefix of the
next (20,000 judgements: 10 annotators; 100,000: 50), 60 % pairs and 40 % ratings. Each format is exported twice
through ``exports.writing.export_write`` (the code the worker and ``manage.py export_dataset`` run): once for the
time, once under tracemalloc for the peak Python-heap memory of the export alone. Peak RSS is the whole process's.
"""
from __future__ import annotations

import argparse
import os
import resource
import sys
import tempfile
import time
import tracemalloc
import uuid
from pathlib import Path

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

N_IMAGES, N_PAIR_ITEMS, N_RATING_ITEMS = 2000, 1200, 800
BATCH = 5000


def _setup(var_dir: str) -> None:
    os.environ["LOUPE_VAR_DIR"] = var_dir
    for name in ("DATABASE_URL", "MEDIA_ROOT", "CELERY_BROKER_URL"):
        os.environ.pop(name, None)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    import django
    from django.core.management import call_command

    django.setup()
    call_command("migrate", verbosity=0)


def _world():
    """A project with its images and items (no judgements yet)."""
    import numpy as np

    from accounts.models import Role, User
    from annotation.models import Image, Project, WorkItem
    from annotation.vocabulary import TaskKind

    owner = User.objects.create(username="bench-researcher", role=Role.RESEARCHER)
    project = Project.objects.create(name="Export benchmark", slug="export-bench", created_by=owner)
    Image.objects.bulk_create([
        Image(project=project, file=f"images/bench-{i}.png", thumbnail=f"thumbnails/bench-{i}.jpg", content_hash=f"{i:064x}",
              original_name=f"bench-{i}.png", format="PNG", width=64, height=48, file_size=1000, source_dataset="bench")
        for i in range(N_IMAGES)
    ], batch_size=BATCH)
    ids = list(Image.objects.filter(project=project).order_by("id").values_list("id", flat=True))
    rng = np.random.default_rng(0)
    pairs = set()
    while len(pairs) < N_PAIR_ITEMS:
        a, b = sorted(rng.choice(len(ids), size=2, replace=False).tolist())
        pairs.add((ids[a], ids[b]))
    items = [WorkItem(project=project, kind=TaskKind.PAIR, image_id=a, image_b_id=b) for a, b in sorted(pairs)]
    items += [WorkItem(project=project, kind=TaskKind.RATING, image_id=ids[i]) for i in range(N_RATING_ITEMS)]
    WorkItem.objects.bulk_create(items, batch_size=BATCH)
    items = list(WorkItem.objects.filter(project=project).order_by("id").values_list("id", "kind"))
    return project, items


def _judge(project, items, start: int, end: int) -> None:
    """Judgements start..end-1: judgement k is item k % 2000 by annotator k // 2000."""
    import numpy as np
    from django.utils import timezone

    from accounts.models import Role, User
    from annotation.models import Judgement, Lease, Membership

    n_items = len(items)
    needed = (end + n_items - 1) // n_items
    have = {u.username: u for u in User.objects.filter(username__startswith="bench-annotator-")}
    for k in range(needed):
        name = f"bench-annotator-{k}"
        if name not in have:
            have[name] = User.objects.create(username=name, role=Role.ANNOTATOR)
            Membership.objects.create(project=project, user=have[name], role=Membership.Role.ANNOTATOR)
    rng = np.random.default_rng(start)
    now = timezone.now()
    for batch_start in range(start, end, BATCH):
        batch = range(batch_start, min(end, batch_start + BATCH))
        slots = [(items[k % n_items], have[f"bench-annotator-{k // n_items}"]) for k in batch]
        leases = Lease.objects.bulk_create([
            Lease(item_id=item_id, annotator=user, status=Lease.Status.SUBMITTED, issued_at=now, expires_at=now, closed_at=now)
            for (item_id, _), user in slots
        ])
        judgements = []
        for ((item_id, kind), user), lease in zip(slots, leases):
            if kind == "pair":
                choice = str(rng.choice(["a", "b", "tie"], p=[0.45, 0.45, 0.1]))
                fields = {"answer": {"choice": choice}, "choice": choice}
            else:
                level = int(rng.integers(1, 6))
                fields = {"answer": {"level": level}, "level": level}
            judgements.append(Judgement(
                item_id=item_id, lease=lease, annotator=user, project=project, kind=kind, purpose="work",
                client_id=uuid.uuid4(), issued_at=now, **fields,
            ))
        Judgement.objects.bulk_create(judgements)


def _measure(project, fmt: str, out_dir: Path) -> tuple[float, float, int, int]:
    from exports.filters import ExportFilters
    from exports.writing import export_write

    path = out_dir / f"{fmt}.out"
    started = time.perf_counter()
    result = export_write(project=project, formats=[fmt], filters=ExportFilters(), include_images=False, path=path)
    elapsed = time.perf_counter() - started
    tracemalloc.start()
    export_write(project=project, formats=[fmt], filters=ExportFilters(), include_images=False, path=path)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return elapsed, peak / 2**20, result.row_counts[fmt], result.size_bytes


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="20000,100000", help="Judgement counts, ascending (each a prefix of the next).")
    parser.add_argument("--formats", default="pairs,mos,pair_matrix,conversations")
    args = parser.parse_args()
    sizes = [int(size) for size in args.sizes.split(",")]
    formats = args.formats.split(",")
    with tempfile.TemporaryDirectory(prefix="loupe-bench-export-") as var_dir:
        _setup(var_dir)
        project, items = _world()
        done = 0
        for size in sizes:
            started = time.perf_counter()
            _judge(project, items, done, size)
            print(f"judgements={size} (written in {time.perf_counter() - started:.1f} s)")
            done = size
            for fmt in formats:
                elapsed, peak, rows, size_bytes = _measure(project, fmt, Path(var_dir))
                rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
                print(f"  {fmt:<14} time={elapsed:7.2f} s  peak_traced={peak:7.1f} MiB  rows={rows:>7}  "
                      f"file={size_bytes / 2**20:6.1f} MiB  process_peak_rss={rss:.0f} MiB")


if __name__ == "__main__":
    main()
