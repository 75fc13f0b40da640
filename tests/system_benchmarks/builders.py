"""Rows for route tests: a finished benchmark run and a challenge set, made directly (no worker, no endpoint)."""
from system_benchmarks.models import BenchmarkRun, ChallengeSet


def benchmark_world(*, project) -> dict:
    """{benchmark_run_id, challenge_set_id} of a done endpoint run with one result cell, and a challenge set from it."""
    run = BenchmarkRun.objects.create(
        project=project, system_kind=BenchmarkRun.SystemKind.ENDPOINT, endpoint_base_url="http://127.0.0.1:9/v1",
        endpoint_model="fake-vision-1", protocols=["single"], promptings=["standard"], subset_size=4,
        status=BenchmarkRun.Status.DONE, results={"cells": [{"protocol": "single", "prompting": "standard", "srcc": 0.5, "plcc": 0.4,
                                                            "srcc_low": 0.1, "srcc_high": 0.8, "pairwise_accuracy": 0.6, "n_items": 4,
                                                            "n_calls": 4, "n_unparseable": 0, "n_failed": 0}]},
        predictions={"single:standard": {}},
    )
    challenge = ChallengeSet.objects.create(
        project=project, source_run=run, source_cell="single:standard", name="Hard 0", lam=0.01, epsilon=1.0, image_ids=[], items=[],
    )
    return {"benchmark_run_id": run.pk, "challenge_set_id": challenge.pk}
