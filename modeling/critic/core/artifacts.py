"""A trained critic's artifact checksums, and its agreement with held-out human scores."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from modeling.critic.core.model import Critic
from modeling.critic.core.scoring import score_images

__all__ = ["artifact_sha256", "heldout_metrics"]


def artifact_sha256(directory) -> tuple[str, dict[str, str]]:
    """SHA-256 of every file under ``directory`` and one digest over (path, digest) pairs in order.

    Returns
    -------
    (str, dict)
        The overall hex digest, and relative path -> hex digest per file.
    """
    directory = Path(directory)
    files = {}
    for path in sorted(p for p in directory.rglob("*") if p.is_file()):
        digest = hashlib.sha256()
        with path.open("rb") as handle:
            for chunk in iter(lambda: handle.read(1 << 20), b""):
                digest.update(chunk)
        files[path.relative_to(directory).as_posix()] = digest.hexdigest()
    overall = hashlib.sha256("".join(f"{k}\0{v}\n" for k, v in files.items()).encode())
    return overall.hexdigest(), files


def heldout_metrics(critic: Critic, images: Sequence, targets, *, batch_size: int = 8) -> dict:
    """Agreement of the critic's level scores with held-out human scores.

    Returns
    -------
    dict
        ``srcc`` (Spearman, :func:`evaluation.metrics.srcc`; NaN when the critic's
        scores are all equal, where rank correlation is undefined), ``n``, and the
        mean predicted ``variance``.
    """
    from evaluation.metrics import srcc

    predicted = score_images(critic, images, batch_size=batch_size)
    targets = np.asarray(targets, dtype=float)
    try:
        rho = srcc(predicted.scores, targets)
    except ValueError:
        # Constant predictions (an untrained model can give them): no ranking at all.
        rho = float("nan")
    return {"srcc": rho, "n": int(targets.size), "mean_variance": float(predicted.variances.mean())}
