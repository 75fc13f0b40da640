"""Create, cancel and resume benchmark runs: the labelled pool snapshot and every call row, made up front."""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from django.db import transaction
from django.utils import timezone

from annotation.models import Image, Project
from config.egress import EgressRefused, validate_endpoint
from config.runs import run_cancel_stale
from evaluation import protocols as p
from evaluation.models import ItemScore
from evaluation.selectors import scaling_run_current
from system_benchmarks.models import BenchmarkCall, BenchmarkRun

MAX_SUBSET = 2000
MAX_CALLS = 50_000
MIN_LABELLED = 4  # PLCC's logistic needs four items
N_EXEMPLARS = 2


class BenchmarkError(ValueError):
    """A request that cannot be carried out as asked; the message says why."""


@dataclass(frozen=True)
class RunSpec:
    """What a researcher asks for; validated in __post_init__ (one help text per field lives on the model)."""

    system_kind: str
    protocols: list[str]
    promptings: list[str]
    subset_size: int = 50
    seed: int = 0
    list_size: int = 4
    rounds: int = 2
    endpoint_base_url: str = ""
    endpoint_model: str = ""
    endpoint_key_env: str = ""
    requests_per_minute: float = 0.0
    critic_version_id: int | None = None
    name: str = ""
    full_reference: bool = False

    def __post_init__(self):
        if self.system_kind not in BenchmarkRun.SystemKind.values:
            raise BenchmarkError(f"system_kind must be one of {', '.join(BenchmarkRun.SystemKind.values)}")
        if not self.protocols or set(self.protocols) - set(p.PROTOCOLS):
            raise BenchmarkError(f"choose protocols among {', '.join(p.PROTOCOLS)}")
        if not self.promptings or set(self.promptings) - set(p.PROMPTINGS):
            raise BenchmarkError(f"choose promptings among {', '.join(p.PROMPTINGS)}")
        if not 1 <= self.subset_size <= MAX_SUBSET:
            raise BenchmarkError(f"subset_size must be between 1 and {MAX_SUBSET}")
        if self.seed < 0:
            raise BenchmarkError("seed must be >= 0")
        if not p.MIN_LIST_SIZE <= self.list_size <= p.MAX_LIST_SIZE:
            raise BenchmarkError(f"list_size must be between {p.MIN_LIST_SIZE} and {p.MAX_LIST_SIZE}")
        if not 1 <= self.rounds <= 20:
            raise BenchmarkError("rounds must be between 1 and 20")
        if self.system_kind == BenchmarkRun.SystemKind.ENDPOINT:
            if not self.endpoint_base_url.startswith(("http://", "https://")):
                raise BenchmarkError("the endpoint's base URL must be an http(s) URL, e.g. https://api.openai.com/v1")
            if not self.endpoint_model.strip():
                raise BenchmarkError("the endpoint needs a model name")
            try:
                validate_endpoint(self.endpoint_base_url.strip(), self.endpoint_key_env.strip())
            except EgressRefused as error:
                raise BenchmarkError(str(error)) from None
            if self.requests_per_minute < 0:
                raise BenchmarkError("requests_per_minute must be >= 0")
        elif self.critic_version_id is None:
            raise BenchmarkError("choose a critic version")


# ------------------------------------------------------------------------------------------ the pool


def labelled_pool(*, project: Project) -> list[dict]:
    """Every image of the project with a human score on 0-100 and its spread.

    The image's MOS (normalised to 0-100; spread: its standard deviation rescaled likewise) where it has
    one; otherwise its score in the current scaling run, if people compared or rated it (`score_0_100`;
    spread: the Laplace standard deviation on the same 0-100 mapping). Sorted by image id.
    """
    pool = {}
    for image_id, mos, std, low, high in Image.objects.filter(project=project, mos_normalised__isnull=False).values_list(
        "id", "mos_normalised", "mos_std", "mos_scale_min", "mos_scale_max",
    ):
        spread = None
        if std is not None and low is not None and high is not None and high > low:
            spread = float(std) * 100.0 / (high - low)
        pool[image_id] = {"image_id": image_id, "score": float(mos), "std": spread, "source": "mos"}
    run = scaling_run_current(project=project)
    if run is not None:
        rows = list(ItemScore.objects.filter(run=run).values_list("image_id", "score", "variance", "n_comparisons", "n_ratings", named=True))
        scores = [row.score for row in rows]
        span = (max(scores) - min(scores)) if scores else 0.0
        low = min(scores) if scores else 0.0
        for image_id, score, variance, n_comparisons, n_ratings in rows:
            if image_id in pool or n_comparisons + n_ratings == 0 or span <= 0:
                continue
            pool[image_id] = {
                "image_id": image_id, "score": 100.0 * (score - low) / span,
                "std": math.sqrt(max(variance, 0.0)) * 100.0 / span, "source": "scaling",
            }
    return [pool[key] for key in sorted(pool)]


def _spread(rows: list[dict], n: int, rng: np.random.Generator) -> list[dict]:
    """`n` rows spread over the score range (lowest, highest and evenly between), in a random attached order."""
    ranked = sorted(rows, key=lambda row: (row["score"], row["image_id"]))
    picked = [ranked[round(k * (len(ranked) - 1) / (n - 1))] for k in range(n)]
    return [picked[i] for i in rng.permutation(n).tolist()] if n > 2 or picked[0]["score"] != picked[-1]["score"] else picked


def _exemplar_rows(source: list[dict], n: int, full_reference: bool, rng: np.random.Generator) -> list[dict] | None:
    """`n` distinct exemplars from `source`; full-reference: all of one reference (the one whose scores spread most)."""
    if not full_reference:
        return _spread(source, n, rng) if len(source) >= n else None
    by_reference: dict[int, list[dict]] = {}
    for row in source:
        by_reference.setdefault(row["reference_id"], []).append(row)
    groups = [rows for rows in by_reference.values() if len(rows) >= n]
    if not groups:
        return None
    widest = max(groups, key=lambda rows: (max(r["score"] for r in rows) - min(r["score"] for r in rows), -min(r["image_id"] for r in rows)))
    return _spread(widest, n, rng)


def _exemplars(pool: list[dict], chosen: list[dict], protocols: list[str], *, full_reference: bool, rng) -> list[dict]:
    """In-context exemplars per protocol (paper 004, Fig. 3c), from labelled images outside the subset where possible.

    Single stimulus: the lowest- and highest-scored images; double: one labelled pair; multiple: one ranked list of
    four. Full-reference pairs and lists share one reference (`reference_id`), as the test groups do.
    """
    chosen_ids = {row["image_id"] for row in chosen}
    outside = [row for row in pool if row["image_id"] not in chosen_ids]
    out = []
    for protocol in protocols:
        n = p.n_exemplars_for(protocol) or N_EXEMPLARS
        if protocol == p.SINGLE:
            source = outside if len(outside) >= n else pool
            ranked = sorted(source, key=lambda row: (row["score"], row["image_id"]))
            rows = [ranked[0], ranked[-1]]
        else:
            rows = _exemplar_rows(outside, n, full_reference, rng) or _exemplar_rows(pool, n, full_reference, rng)
        if rows is None:
            unit = " of one reference" if full_reference else ""
            raise BenchmarkError(f"in-context {protocol}-stimulus prompting needs {n} labelled images{unit} for its exemplar")
        out += [{"image_id": row["image_id"], "score": row["score"], "protocol": protocol} for row in rows]
    return out


def _design(protocol: str, chosen: list[dict], spec: RunSpec, rng: np.random.Generator) -> list[list[int]]:
    n_items = len(chosen)
    if protocol == p.SINGLE:
        return [[i] for i in range(n_items)]
    size = 2 if protocol == p.DOUBLE else spec.list_size
    if spec.full_reference:  # same-content pairs and lists (paper 004, §3.1)
        groups, _ = p.groups_design_by_reference([row["reference_id"] for row in chosen], size, spec.rounds, rng=rng)
        if not len(groups):
            raise BenchmarkError(f"the full-reference {protocol}-stimulus protocol needs {size} images of one reference in the subset")
        return groups.tolist()
    if n_items < size:
        raise BenchmarkError(f"the {protocol}-stimulus protocol needs at least {size} labelled images in the subset")
    return p.groups_design(n_items, size, spec.rounds, rng=rng).tolist()


# ------------------------------------------------------------------------------------------ services


def benchmark_run_create(*, project: Project, user, spec: RunSpec) -> BenchmarkRun:
    """Snapshot the pool, draw the subset (seeded), make every call row, and queue the run on commit."""
    from modeling.critic.models import CriticVersion

    version = None
    if spec.system_kind == BenchmarkRun.SystemKind.CRITIC:
        version = CriticVersion.objects.filter(pk=spec.critic_version_id, project=project).first()
        if version is None:
            raise BenchmarkError("no such critic version in this project")
        if not version.artifact_sha256 or version.status not in (
            CriticVersion.Status.READY, CriticVersion.Status.ACTIVE, CriticVersion.Status.RETIRED,
        ):
            raise BenchmarkError(f"critic v{version.number} is {version.get_status_display().lower()}: only a trained version can be benchmarked")
    pool = labelled_pool(project=project)
    if spec.full_reference:  # only distorted images with their reference, which is shown with them
        references = dict(Image.objects.filter(project=project, reference__isnull=False).values_list("id", "reference_id"))
        pool = [{**row, "reference_id": references[row["image_id"]]} for row in pool if row["image_id"] in references]
    if len(pool) < MIN_LABELLED:
        scope = " with a reference image" if spec.full_reference else ""
        raise BenchmarkError(
            f"the project has {len(pool)} labelled images{scope} (MOS or scaled comparisons/ratings); a benchmark needs at least {MIN_LABELLED}"
        )
    rng = np.random.default_rng(spec.seed)
    size = min(spec.subset_size, len(pool))
    chosen = [pool[i] for i in sorted(rng.choice(len(pool), size=size, replace=False).tolist())]
    protocols = [name for name in p.PROTOCOLS if name in spec.protocols]
    promptings = [name for name in p.PROMPTINGS if name in spec.promptings]
    exemplars = _exemplars(pool, chosen, protocols, full_reference=spec.full_reference, rng=rng) if p.IN_CONTEXT in promptings else []
    designs = {protocol: _design(protocol, chosen, spec, rng) for protocol in protocols}
    n_calls = sum(len(groups) for groups in designs.values()) * len(promptings)
    if n_calls > MAX_CALLS:
        raise BenchmarkError(f"this would make {n_calls} calls; at most {MAX_CALLS} (choose a smaller subset or fewer rounds)")

    with transaction.atomic():
        run = BenchmarkRun.objects.create(
            project=project, created_by=user if getattr(user, "is_authenticated", False) else None,
            name=spec.name[:200], system_kind=spec.system_kind, endpoint_base_url=spec.endpoint_base_url.strip(),
            endpoint_model=spec.endpoint_model.strip(), endpoint_key_env=spec.endpoint_key_env.strip(),
            requests_per_minute=spec.requests_per_minute, critic_version=version, protocols=protocols,
            promptings=promptings, subset_size=spec.subset_size, seed=spec.seed, list_size=spec.list_size,
            rounds=spec.rounds, pool=chosen, exemplars=exemplars, n_calls=n_calls, full_reference=spec.full_reference,
        )
        calls = []
        for protocol in protocols:
            for prompting in promptings:
                for index, group in enumerate(designs[protocol]):
                    text = p.prompt_build(
                        protocol, prompting, n_images=len(group), reference=spec.full_reference,
                        exemplar_scores=[row["score"] for row in exemplars if row["protocol"] == protocol] if prompting == p.IN_CONTEXT else (),
                    )
                    calls.append(BenchmarkCall(
                        run=run, key=f"{protocol}:{prompting}:{index:05d}", protocol=protocol, prompting=prompting,
                        image_ids=[chosen[i]["image_id"] for i in group], prompt=text,
                        reference_id=chosen[group[0]]["reference_id"] if spec.full_reference else None,
                    ))
        BenchmarkCall.objects.bulk_create(calls, batch_size=1000)
        _enqueue(run)
    return run


def _enqueue(run: BenchmarkRun) -> None:
    from system_benchmarks.tasks import benchmark_run_critic, benchmark_run_endpoint

    task = benchmark_run_critic if run.system_kind == BenchmarkRun.SystemKind.CRITIC else benchmark_run_endpoint
    run_id = run.pk
    transaction.on_commit(lambda: task.delay(run_id))


def benchmark_run_cancel(*, run: BenchmarkRun) -> BenchmarkRun:
    """A queued run is cancelled now; a running one stops before its next call. Finished calls are kept."""
    with transaction.atomic():
        run = BenchmarkRun.objects.select_for_update().get(pk=run.pk)
        if not run.is_active:
            raise BenchmarkError(f"run #{run.pk} is {run.get_status_display().lower()}: nothing to cancel")
        run.cancel_requested = True
        fields = ["cancel_requested", "updated_at"]
        if run.status == BenchmarkRun.Status.QUEUED:
            run.status, run.finished_at = BenchmarkRun.Status.CANCELLED, timezone.now()
            fields += ["status", "finished_at"]
        run.save(update_fields=fields)
        run_cancel_stale(run)  # a run that lost its worker ends now
    return run


def benchmark_run_resume(*, run: BenchmarkRun) -> BenchmarkRun:
    """Queue a failed or cancelled run again, or a running one whose worker went silent; only its pending calls are made.

    A run still `running` whose worker stopped answering (config.runs.run_is_stale) lost its worker and its message (a
    broker that does not redeliver): it may be resumed too. Answered calls are kept.
    """
    with transaction.atomic():
        run = BenchmarkRun.objects.select_for_update().get(pk=run.pk)
        if run.status not in (BenchmarkRun.Status.FAILED, BenchmarkRun.Status.CANCELLED) and not run.is_silent:
            raise BenchmarkError(f"run #{run.pk} is {run.get_status_display().lower()}: only a failed, cancelled or silent run resumes")
        # Calls that failed get another chance; answered ones (parseable or not) are final.
        BenchmarkCall.objects.filter(run=run, status=BenchmarkCall.Status.FAILED).update(status=BenchmarkCall.Status.PENDING, reason="")
        run.status, run.cancel_requested, run.error, run.finished_at = BenchmarkRun.Status.QUEUED, False, "", None
        run.save(update_fields=["status", "cancel_requested", "error", "finished_at", "updated_at"])
        _enqueue(run)
    return run
