"""Challenge sets: hard, diverse, consistently rated images chosen from a finished run (paper 004, eq. 5)."""
from __future__ import annotations

import csv
import io

import numpy as np
from django.core.files.storage import default_storage
from django.db import transaction

from annotation.models import Image
from annotation.spreadsheet import csv_safe
from evaluation.difficulty import DEFAULT_EPSILON, DEFAULT_LAMBDA, difficult_select_grouped, difficult_select_nr, normalised_error
from evaluation.metrics import LogisticFitError, logistic4_fit
from system_benchmarks.models import BenchmarkRun, ChallengeSet
from system_benchmarks.services.runs import BenchmarkError

FEATURE_SIDE = 8  # Div's features: the image shrunk to 8 x 8 RGB, values in [0, 1] (192 numbers)
CHALLENGE_FIELDS = ["rank", "image_id", "reference_id", "human", "std", "expert", "difficulty", "diversity"]


def image_features(image_ids: list[int]) -> np.ndarray:
    """A small appearance vector per image for the diversity term: its 8 x 8 RGB thumbnail in [0, 1].

    The paper measures diversity in CLIP's feature space; Loupe downloads no model, so a coarse colour
    layout stands in for it (documented in evaluation/difficulty.py). Shape [n_images, 192].
    """
    from PIL import Image as PILImage

    names = dict(Image.objects.filter(id__in=image_ids).values_list("id", "file"))
    rows = []
    for image_id in image_ids:
        with default_storage.open(names[image_id], "rb") as handle, PILImage.open(handle) as opened:
            small = opened.convert("RGB").resize((FEATURE_SIDE, FEATURE_SIDE))
        rows.append(np.asarray(small, dtype=float).ravel() / 255.0)
    return np.asarray(rows)


def _expert_on_human_scale(expert: np.ndarray, human: np.ndarray) -> np.ndarray:
    """The expert's scores mapped onto the human 0-100 scale by the 4-parameter logistic (linear if it will not fit)."""
    try:
        return logistic4_fit(expert, human)(expert)
    except (ValueError, LogisticFitError):
        slope, intercept = np.polyfit(expert, human, 1) if np.ptp(expert) > 0 else (0.0, float(np.mean(human)))
        return slope * expert + intercept


def challenge_set_create(
    *, run: BenchmarkRun, cell: str, n_select: int, user=None, name: str = "",
    lam: float = DEFAULT_LAMBDA, epsilon: float = DEFAULT_EPSILON, per_reference: int | None = None,
) -> ChallengeSet:
    """Choose hard, diverse images of the run's pool with the run's ``cell`` ("protocol:prompting") as the expert.

    No-reference (default): ``n_select`` images by eq. 5. Full-reference (``per_reference`` = K): ``n_select``
    reference images by eq. 3 (mean normalised error of their distorted images in the pool, plus λ times the
    diversity of the references' own features), then the K hardest images of each by eq. 4; images without a
    reference are left out. The expert's predictions are first mapped onto the human scale (4-parameter
    logistic); ``σ`` is the pool's human spread (0 where unknown). Raises BenchmarkError on a run that is not
    done, an unknown cell, or more images (references) than there are.
    """
    if run.status != BenchmarkRun.Status.DONE:
        raise BenchmarkError(f"run #{run.pk} is {run.get_status_display().lower()}: choose from a finished run")
    predictions = (run.predictions or {}).get(cell)
    if predictions is None:
        raise BenchmarkError(f"run #{run.pk} has no predictions for {cell!r}")
    if not (lam >= 0 and epsilon > 0):
        raise BenchmarkError("λ must be >= 0 and ε > 0")
    if per_reference is not None and per_reference < 1:
        raise BenchmarkError("images per reference must be >= 1")
    rows = [row for row in run.pool if str(row["image_id"]) in predictions]
    references = dict(Image.objects.filter(id__in=[row["image_id"] for row in rows]).values_list("id", "reference_id"))
    if per_reference is not None:
        rows = [row for row in rows if references.get(row["image_id"])]
        n_available, unit = len({references[row["image_id"]] for row in rows}), "references"
    else:
        n_available, unit = len(rows), "images"
    if not 1 <= n_select <= n_available:
        raise BenchmarkError(f"choose between 1 and {n_available} {unit} (those {cell} predicted)")
    image_ids = [row["image_id"] for row in rows]
    human = np.asarray([row["score"] for row in rows], dtype=float)
    std = np.asarray([row["std"] or 0.0 for row in rows], dtype=float)
    expert = _expert_on_human_scale(np.asarray([predictions[str(i)] for i in image_ids], dtype=float), human)
    gain = normalised_error(expert, human, std, epsilon=epsilon)
    if per_reference is None:
        selection = difficult_select_nr(
            expert, human, std, n_select=n_select, features=image_features(image_ids), lam=lam, epsilon=epsilon,
        )
        chosen = list(zip(selection.indices.tolist(), selection.diversity.tolist()))
    else:
        groups = np.asarray([references[i] for i in image_ids], dtype=np.int64)
        distinct = np.unique(groups)  # ascending, as difficult_select_grouped expects its group features
        picked, by_reference = difficult_select_grouped(
            expert, human, std, groups, n_groups=n_select, per_group=per_reference,
            group_features=image_features(distinct.tolist()), lam=lam, epsilon=epsilon,
        )
        diversity_of = {int(distinct[k]): float(d) for k, d in zip(by_reference.indices, by_reference.diversity)}
        chosen = [(i, diversity_of[int(groups[i])]) for i in picked.tolist()]
    items = [
        {
            "image_id": image_ids[i], "reference_id": references.get(image_ids[i]), "human": float(human[i]), "std": float(std[i]),
            "expert": float(expert[i]), "difficulty": float(gain[i]), "diversity": float(diversity),
        }
        for i, diversity in chosen
    ]
    scenario = f"{n_select} references × {per_reference}" if per_reference else f"{n_select}"
    with transaction.atomic():
        return ChallengeSet.objects.create(
            project=run.project, source_run=run, source_cell=cell, created_by=user if getattr(user, "is_authenticated", False) else None,
            name=(name or f"Hard {scenario} from run #{run.pk} ({cell})")[:200], lam=lam, epsilon=epsilon,
            per_reference=per_reference, image_ids=[item["image_id"] for item in items], items=items,
        )


def challenge_set_csv(*, challenge: ChallengeSet) -> str:
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=CHALLENGE_FIELDS, extrasaction="ignore", lineterminator="\n")
    writer.writeheader()
    for rank, item in enumerate(challenge.items, start=1):
        writer.writerow({"rank": rank, **{key: csv_safe(value) for key, value in item.items()}})
    return buffer.getvalue()


def challenge_set_json(*, challenge: ChallengeSet) -> dict:
    return {
        "id": challenge.pk, "name": challenge.name, "project_id": challenge.project_id, "source_run_id": challenge.source_run_id,
        "source_cell": challenge.source_cell, "lambda": challenge.lam, "epsilon": challenge.epsilon,
        "per_reference": challenge.per_reference,
        "image_ids": challenge.image_ids, "items": challenge.items,
    }
