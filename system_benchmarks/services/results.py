"""A run's results: its answers aggregated per protocol × prompting, against the human scores of its pool.

Single-stimulus scores are used as they are (the mean when an image was asked more than once);
double- and multiple-stimulus answers become pairwise preferences aggregated by the Thurstone Case V
MAP (paper 004, eqs. 1-2). Each cell reports SRCC with a bootstrap 95% interval, PLCC after the
4-parameter logistic, pairwise accuracy, and how many calls were unparseable or failed.
"""
from __future__ import annotations

import csv
import io

import numpy as np

from annotation.spreadsheet import csv_safe
from evaluation import protocols as p
from evaluation.metrics import LogisticFitError, bootstrap_ci, pairwise_accuracy, plcc, srcc
from system_benchmarks.models import BenchmarkCall, BenchmarkRun

BOOTSTRAP_RESAMPLES = 300
CELL_FIELDS = [
    "protocol", "prompting", "n_calls", "n_answered", "n_unparseable", "n_failed", "n_items",
    "srcc", "srcc_low", "srcc_high", "plcc", "pairwise_accuracy",
]


def cell_key(protocol: str, prompting: str) -> str:
    return f"{protocol}:{prompting}"


def _safe(metric, pred, target):
    try:
        value = float(metric(pred, target))
    except (ValueError, LogisticFitError, RuntimeError):
        return None
    return value if np.isfinite(value) else None


def _cell_predictions(protocol: str, rows, index: dict[int, int], n_items: int) -> np.ndarray:
    """Predicted scores [n_items] of one cell from its answered rows (NaN where an image got no answer)."""
    if protocol == p.SINGLE:
        items = [index[image_ids[0]] for image_ids, parsed in rows]
        return p.scores_from_singles(n_items, items, [float(parsed) for _, parsed in rows])
    if protocol == p.DOUBLE:
        pairs = [(index[a], index[b]) for (a, b), _ in rows]
        comparisons = p.comparisons_from_choices(pairs, [parsed for _, parsed in rows])
    else:
        rankings = [[index[image_ids[position]] for position in parsed] for image_ids, parsed in rows]
        comparisons = p.comparisons_from_rankings(rankings)
    return p.scores_from_comparisons(n_items, comparisons)


def results_compute(*, run: BenchmarkRun) -> tuple[dict, dict]:
    """``(results, predictions)`` for the run row: per-cell metrics and the per-image predicted scores."""
    image_ids = [row["image_id"] for row in run.pool]
    human = np.asarray([row["score"] for row in run.pool], dtype=float)  # [n_items]
    index = {image_id: i for i, image_id in enumerate(image_ids)}
    rng = np.random.default_rng(run.seed)
    cells, predictions = [], {}
    for protocol in run.protocols:
        for prompting in run.promptings:
            calls = BenchmarkCall.objects.filter(run=run, protocol=protocol, prompting=prompting)
            counts = {status: 0 for status in BenchmarkCall.Status.values}
            for status in calls.values_list("status", flat=True):
                counts[status] += 1
            rows = list(calls.filter(status=BenchmarkCall.Status.ANSWERED).order_by("id").values_list("image_ids", "parsed"))
            predicted = _cell_predictions(protocol, rows, index, len(image_ids))
            scored = np.isfinite(predicted)
            pred, target = predicted[scored], human[scored]
            interval = None
            if scored.sum() >= 4:
                try:
                    interval = bootstrap_ci(srcc, pred, target, n_resamples=BOOTSTRAP_RESAMPLES, rng=rng)
                except (ValueError, LogisticFitError):
                    interval = None
            cells.append({
                "protocol": protocol, "prompting": prompting, "n_calls": sum(counts.values()),
                "n_answered": counts[BenchmarkCall.Status.ANSWERED] + counts[BenchmarkCall.Status.UNPARSEABLE],
                "n_unparseable": counts[BenchmarkCall.Status.UNPARSEABLE], "n_failed": counts[BenchmarkCall.Status.FAILED],
                "n_items": int(scored.sum()),
                "srcc": _safe(srcc, pred, target),
                "srcc_low": interval.low if interval else None, "srcc_high": interval.high if interval else None,
                "plcc": _safe(plcc, pred, target),
                "pairwise_accuracy": _safe(pairwise_accuracy, pred, target),
            })
            predictions[cell_key(protocol, prompting)] = {
                str(image_id): float(value) for image_id, value, ok in zip(image_ids, predicted, scored) if ok
            }
    results = {
        "cells": cells,
        "n_items": len(image_ids),
        "human_sources": sorted({row["source"] for row in run.pool}),
        "method": (
            "single-stimulus: the parsed 0-100 scores; double/multiple-stimulus: pairwise preferences "
            "(a ranking of L images gives L(L-1)/2) aggregated by the Thurstone Case V MAP, prior N(0, 1); "
            "SRCC (bootstrap 95% interval over images), PLCC after the 4-parameter logistic, pairwise accuracy "
            "against the human scores of the images that got a prediction"
        ),
    }
    return results, predictions


def results_csv(*, run: BenchmarkRun) -> str:
    """The per-cell table as CSV (one row per protocol × prompting)."""
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=CELL_FIELDS, extrasaction="ignore", lineterminator="\n")
    writer.writeheader()
    for cell in (run.results or {}).get("cells", []):
        writer.writerow({key: "" if cell.get(key) is None else cell.get(key) for key in CELL_FIELDS})
    return buffer.getvalue()


CALL_FIELDS = ["key", "protocol", "prompting", "image_ids", "status", "parsed", "reason", "latency_s", "answer"]


def calls_csv_rows(*, run: BenchmarkRun):
    """Every call of the run as CSV lines (header first), streamed: image ids joined by spaces, parsed as JSON."""
    import json

    class Echo:
        def write(self, value):
            return value

    writer = csv.writer(Echo(), lineterminator="\n")
    yield writer.writerow(CALL_FIELDS)
    for call in BenchmarkCall.objects.filter(run=run).order_by("id").iterator(chunk_size=2000):
        yield writer.writerow([
            call.key, call.protocol, call.prompting, " ".join(str(i) for i in call.image_ids), call.status,
            "" if call.parsed is None else json.dumps(call.parsed), csv_safe(call.reason),
            "" if call.latency_s is None else f"{call.latency_s:.3f}", csv_safe(call.answer),
        ])


def results_json(*, run: BenchmarkRun) -> dict:
    """Everything a run found, for download and the API: settings, pool, cells and predictions."""
    return {
        "run_id": run.pk,
        "project_id": run.project_id,
        "status": run.status,
        "system": {
            "kind": run.system_kind, "endpoint_base_url": run.endpoint_base_url, "endpoint_model": run.endpoint_model,
            "critic_version": run.critic_version.number if run.critic_version_id else None,
        },
        "protocols": run.protocols,
        "promptings": run.promptings,
        "subset_size": run.subset_size,
        "seed": run.seed,
        "list_size": run.list_size,
        "rounds": run.rounds,
        "pool": run.pool,
        "exemplars": run.exemplars,
        "results": run.results,
        "predictions": run.predictions,
    }
