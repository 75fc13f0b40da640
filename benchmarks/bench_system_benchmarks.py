"""Benchmark system benchmarks (issue 6): the cores' speed, and a demo run reporting SRCC/PLCC per protocol.

Run: ``.venv/bin/python benchmarks/bench_system_benchmarks.py [--items 2000] [--demo] [--steps 60]``.

``core`` (always): answer parsing throughput on a mix of realistic answers; Thurstone aggregation of a
multiple-stimulus design (``--items`` images, lists of 4, 3 rounds, rankings from a noisy observer) and of a
double-stimulus design; greedy difficult-sample selection (eq. 5) of 150 of ``--items`` images with 192-number
features.

``--demo``: on a fresh temporary var dir, seed the small demo (32 images), simulate labels from the hidden
severity as ``bench_critic_demo.py`` does (3 ratings per image, 150 pairs), scale them (``project_scale``),
train a tiny critic version for ``--steps`` steps in-process, then run two benchmarks over the labelled pool,
in-process (the task's body, ``benchmark_run_execute``):

- the critic version, single/double/multiple × standard;
- a simulated vision endpoint on the loopback server (``tests/llm_server.py``) that answers every protocol
  from the hidden severity plus N(0, 1) noise per answer, with one answer in ten garbage, single/double/multiple
  × standard and chain-of-thought — this measures parsing and aggregation end to end, not any real model.
"""
from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)
sys.path.insert(0, os.path.join(ROOT, "benchmarks"))

import numpy as np  # noqa: E402

from evaluation import protocols as p  # noqa: E402
from evaluation.difficulty import difficult_select_nr  # noqa: E402
from evaluation.metrics import srcc  # noqa: E402

ANSWERS = [
    ("single", "Score: 63", 1), ("single", "I would rate this image 7/10.", 1), ("single", "The image quality is good.", 1),
    ("single", "Blur is visible at the edges, the noise is low.\nScore: 48", 1), ("single", "I cannot assess images.", 1),
    ("double", "Image B", 2), ("double", "Image A is sharper than Image B.", 2), ("double", "Both look alike.\nAnswer: Same", 2),
    ("multiple", "C > A > B > D", 4), ("multiple", "1. Image C\n2. Image A\n3. Image D\n4. Image B", 4),
]


def core(n_items: int) -> None:
    rng = np.random.default_rng(0)
    started = time.perf_counter()
    n = 0
    while time.perf_counter() - started < 1.0:
        for protocol, text, n_images in ANSWERS:
            p.answer_parse(protocol, text, n_images=n_images)
        n += len(ANSWERS)
    print(f"parse: {n / (time.perf_counter() - started):,.0f} answers/s (mix of {len(ANSWERS)} realistic answers)")

    truth = rng.normal(size=n_items)
    for protocol, size in (("double", 2), ("multiple", 4)):
        groups = p.groups_design(n_items, size, 3, rng=rng)
        noisy = truth[groups] + rng.normal(size=groups.shape)
        if protocol == "double":
            comparisons = p.comparisons_from_choices(groups, ["a" if row[0] > row[1] else "b" for row in noisy])
        else:
            rankings = [group[np.argsort(-row)] for group, row in zip(groups, noisy)]
            comparisons = p.comparisons_from_rankings(rankings)
        started = time.perf_counter()
        scores = p.scores_from_comparisons(n_items, comparisons)
        seconds = time.perf_counter() - started
        print(
            f"aggregate {protocol}: {n_items} images, {len(groups)} prompts, {comparisons.winners.size} pairwise preferences "
            f"in {seconds * 1000:.0f} ms; SRCC vs truth {srcc(scores, truth):.3f}"
        )
    features = rng.random((n_items, 192))
    human = rng.uniform(0, 100, n_items)
    expert = human + rng.normal(0, 15, n_items)
    started = time.perf_counter()
    difficult_select_nr(expert, human, rng.uniform(0, 10, n_items), n_select=150, features=features)
    print(f"difficult selection: 150 of {n_items} images, 192 features, in {(time.perf_counter() - started) * 1000:.0f} ms")


def _simulated_answer(call, severity: dict[int, float], rng) -> str:
    quality = [-severity[i] + rng.normal() for i in call.image_ids]  # the observer's noisy perception
    if rng.random() < 0.1:
        return "I am unable to judge image quality."
    cot = call.prompting == "chain_of_thought"
    if call.protocol == "single":
        score = float(np.clip(90 + 16 * quality[0], 0, 100))
        return f"Some blur and noise are visible.\nScore: {score:.0f}" if cot else f"{score:.0f}"
    if call.protocol == "double":
        verdict = "Image A" if quality[0] > quality[1] else "Image B"
        return f"Image A looks softer than Image B in places.\nAnswer: {verdict}" if cot else verdict
    ranking = " > ".join("ABCDEFGH"[k] for k in np.argsort(-np.asarray(quality)))
    return f"Comparing the images one by one...\nRanking: {ranking}" if cot else ranking


def _print_cells(title: str, run, seconds: float) -> None:
    print(f"{title}: {run.status}, {run.n_calls} calls in {seconds:.1f}s, {run.n_unparseable} unparseable, {run.n_failed} failed")
    for cell in run.results.get("cells", []):
        fmt = lambda value: "  n/a" if value is None else f"{value:+.3f}"  # noqa: E731
        print(
            f"  {cell['protocol']:<8} {cell['prompting']:<16} SRCC {fmt(cell['srcc'])} "
            f"[{fmt(cell['srcc_low'])}, {fmt(cell['srcc_high'])}]  PLCC {fmt(cell['plcc'])}  "
            f"pairwise acc {fmt(cell['pairwise_accuracy'])}  images {cell['n_items']}  unparseable {cell['n_unparseable']}"
        )


def demo(steps: int) -> None:
    from bench_critic_demo import _labels_write, _setup

    with tempfile.TemporaryDirectory(prefix="loupe-bench-system-") as tmp:
        _setup(tmp)
        import torch

        torch.set_num_threads(2)
        from annotation.models import Image
        from annotation.services.demo import demo_seed
        from evaluation.services import project_scale
        from modeling.critic import runs as critic_runs
        from modeling.critic.services import critic_version_request
        from system_benchmarks.services.execution import benchmark_run_execute
        from system_benchmarks.services.runs import RunSpec, benchmark_run_create, labelled_pool
        from tests.llm_server import FakeLLMServer, Ok

        project = demo_seed(small=True).project
        _labels_write(project, seed=0, raters=3, rating_noise=0.5, n_pairs=150)
        project_scale(project)
        pool = labelled_pool(project=project)
        print(f"demo (small): {Image.objects.filter(project=project).count()} images, {len(pool)} labelled (scaled ratings and pairs)")

        version = critic_version_request(
            project=project, overrides={"optimisation": {"max_steps": steps}, "data": {"heldout_fraction": 0.3}},
        )
        started = time.perf_counter()
        version = critic_runs.critic_version_train(version.pk)
        print(f"tiny critic v{version.number}: {version.status} after {steps} steps in {time.perf_counter() - started:.1f}s")

        spec = RunSpec(system_kind="critic", critic_version_id=version.pk, protocols=list(p.PROTOCOLS), promptings=["standard"],
                       subset_size=len(pool), seed=0, rounds=2, list_size=4)
        run = benchmark_run_create(project=project, user=None, spec=spec)
        started = time.perf_counter()
        run = benchmark_run_execute(run_id=run.pk)
        _print_cells("critic benchmark (against the scaled human scores)", run, time.perf_counter() - started)

        severity = {i: float((truth or {}).get("severity", 0)) for i, truth in Image.objects.filter(project=project).values_list("id", "hidden_ground_truth")}
        rng = np.random.default_rng(0)
        with FakeLLMServer() as server:
            spec = RunSpec(system_kind="endpoint", endpoint_base_url=server.base_url, endpoint_model="simulated-observer",
                           protocols=list(p.PROTOCOLS), promptings=["standard", "chain_of_thought"], subset_size=len(pool), seed=0, rounds=3)
            run = benchmark_run_create(project=project, user=None, spec=spec)
            server.script(*[Ok(_simulated_answer(call, severity, rng)) for call in run.calls.order_by("id")])
            started = time.perf_counter()
            run = benchmark_run_execute(run_id=run.pk)
            _print_cells("simulated endpoint over the loopback server", run, time.perf_counter() - started)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--items", type=int, default=2000)
    parser.add_argument("--demo", action="store_true")
    parser.add_argument("--steps", type=int, default=60)
    args = parser.parse_args()
    core(args.items)
    if args.demo:
        demo(args.steps)


if __name__ == "__main__":
    main()
