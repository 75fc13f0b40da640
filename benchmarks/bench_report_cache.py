"""Benchmark the cached quality dashboard and study results: page loads with no cache row (computed on the
request, as every load was before the cache) against loads that read a fresh cache.

Run (on a demo database: ``LOUPE_VAR_DIR=/tmp/x`` after ``manage.py migrate``, ``seed_demo``, ``seed_demo_study demo``
and ``simulate_annotators demo``)::

    LOUPE_VAR_DIR=/tmp/x OMP_NUM_THREADS=1 .venv/bin/python benchmarks/bench_report_cache.py [--repeats 3]

The demo study has no votes after seeding: the script has annotator1 and annotator2 vote every trial once
(random choices, seeded) if it has none yet. Prints the median seconds of each page and API over `--repeats`
loads, uncached (the cache row deleted before each load) and cached, and the queries of a cached load.
"""
from __future__ import annotations

import argparse
import os
import random
import statistics
import sys
import time
import uuid

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def _setup() -> None:
    if not os.environ.get("LOUPE_VAR_DIR"):
        sys.exit("Set LOUPE_VAR_DIR to a var dir holding the demo database (see the docstring).")
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    import django

    django.setup()


def _votes(study) -> int:
    from accounts.models import User
    from studies.models import Vote
    from studies.services.voting import NoTrial, trial_next, vote_submit

    if Vote.objects.filter(trial__study=study).exists():
        return Vote.objects.filter(trial__study=study).count()
    rng = random.Random(0)
    for user in User.objects.filter(username__in=["annotator1", "annotator2"]):
        while True:
            try:
                trial = trial_next(study=study, annotator=user)
            except NoTrial:
                break
            vote_submit(token=trial.token, annotator=user, choice=rng.choice(["left", "left", "same", "right"]), client_id=uuid.uuid4())
    return Vote.objects.filter(trial__study=study).count()


def _median_s(client, url: str, repeats: int, before=None) -> float:
    times = []
    for _ in range(repeats):
        if before:
            before()
        start = time.perf_counter()
        response = client.get(url)
        times.append(time.perf_counter() - start)
        assert response.status_code == 200, (url, response.status_code)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    _setup()
    from django.conf import settings
    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext
    from django.urls import reverse

    from accounts.models import User
    from annotation.models import Judgement, Project
    from evaluation.models import ReportCache
    from studies.models import Study

    settings.ALLOWED_HOSTS = ["*"]
    project = Project.objects.get(slug="demo")
    study = Study.objects.filter(project=project).first()
    n_votes = _votes(study)
    client = Client()
    client.force_login(User.objects.get(username="researcher"))
    print(f"demo project: {Judgement.objects.filter(project=project).count()} judgements; study: {n_votes} votes")
    pages = [
        ("quality page", reverse("evaluation:project_quality", kwargs={"project_id": project.pk}), "quality", project.pk),
        ("quality API", reverse("api:project_quality", kwargs={"project_id": project.pk}), "quality", project.pk),
        ("study results page", reverse("studies:study_results", kwargs={"study_id": study.pk}), "study_results", study.pk),
        ("study results API", reverse("api:study_results", kwargs={"study_id": study.pk}), "study_results", study.pk),
    ]
    print("page                 uncached s  cached s  cached queries")
    for name, url, kind, object_id in pages:
        drop = lambda: ReportCache.objects.filter(kind=kind, object_id=object_id).delete()  # noqa: E731
        uncached = _median_s(client, url, args.repeats, before=drop)
        cached = _median_s(client, url, args.repeats)
        with CaptureQueriesContext(connection) as queries:
            client.get(url)
        print(f"{name:<20} {uncached:>10.3f}  {cached:>8.3f}  {len(queries.captured_queries):>14}")


if __name__ == "__main__":
    main()
