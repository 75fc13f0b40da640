"""The critic's runs on a `gpu` worker: train and evaluate a version, write descriptions (pool scoring: pool_scoring.py).

Each run takes a version id (the task's argument), claims the row, reads the database into the
Django-free core (:mod:`modeling.critic`), and writes progress and results back on the row. A run never
touches which version is active: only the promotion and rollback in modeling.critic.services do.

Redelivery (acks_late with reject_on_worker_lost): a training task whose worker was killed comes back
and finds its version still `training`. If the process that claimed it is gone (same host, pid dead) or
has stopped beating (config.runs, the one stale rule), the version is marked failed and the task stops; it does not
silently train again, since Retry makes a fresh version that starts clean. If that process is alive, the
message is a duplicate (a broker redelivering a long task) and is dropped.
"""
from __future__ import annotations

import logging
import shutil
import time
from dataclasses import replace
from functools import lru_cache

import numpy as np
from django.core.files.storage import default_storage
from django.db import transaction
from django.utils import timezone

from annotation.models import Image, Judgement
from config.runs import run_claim, run_fail, run_heartbeat, run_keepalive
from annotation.vocabulary import TaskKind
from modeling.critic.data import (
    CriticDataError,
    CriticDataSettings,
    judgement_ids_save,
    scorer_config,
    training_set_build,
)
from modeling.critic.models import CriticText, CriticVersion
from modeling.critic.selectors import MIN_METRIC_N
from modeling.critic.storage import critic_tiny_base_ensure, tiny_base_default, version_path

logger = logging.getLogger(__name__)

PROGRESS_EVERY_S = 1.0  # row writes (and cancel checks) at most this often
SCORE_CHUNK = 256  # images per scoring chunk: one bulk write and one heartbeat each
IMAGE_MAX_SIDE = 1024  # images are shrunk to this on load; the processors resize far below it anyway
IMAGE_CACHE = 1024
ADAPTER_DIR = "adapter"
JUDGEMENTS_FILE = "judgement_ids.npz"


def image_loader(names: dict[str, str], *, crop: int | None = None, random_crop: bool = False, seed: int = 0, files=None):
    """Key (str(image id)) -> RGB PIL image read from storage, shrunk to IMAGE_MAX_SIDE, cached per run.

    `crop` (the tiny demo model, see `input_crop`): a square of that many stored pixels instead of the whole
    image, so blur and noise survive the processor's shrink to the model's small input; at a fresh random
    place on every call with `random_crop` (training sees new crops each step), else the centre (scoring).
    """
    from PIL import Image as PILImage

    @lru_cache(maxsize=IMAGE_CACHE)
    def load(key: str):
        if files and key in files:  # general-purpose data (paper 001's D3): files under LOUPE_GENERAL_DATA_DIR
            with PILImage.open(files[key]) as opened:
                return opened.convert("RGB")
        with default_storage.open(names[key], "rb") as handle:
            image = PILImage.open(handle)
            image.load()
        image = image.convert("RGB")
        image.thumbnail((IMAGE_MAX_SIDE, IMAGE_MAX_SIDE))
        return image

    if not crop:
        return load
    rng = np.random.default_rng(seed)

    def cropped(key: str):
        image = load(key)
        side = min(int(crop), *image.size)
        room_x, room_y = image.size[0] - side, image.size[1] - side
        if random_crop:
            left, top = int(rng.integers(room_x + 1)), int(rng.integers(room_y + 1))
        else:
            left, top = room_x // 2, room_y // 2
        return image.crop((left, top, left + side, top + side))

    return cropped


def input_crop(version: CriticVersion) -> int | None:
    """The version's input crop side (`training_settings["input"]["crop"]`), None for whole images."""
    side = (version.training_settings.get("input") or {}).get("crop")
    return int(side) if side else None


def image_names(image_ids) -> dict[str, str]:
    """Key (str(image id)) -> the stored file's name, what `image_loader` reads."""
    return {str(i): name for i, name in Image.objects.filter(id__in=list(image_ids)).values_list("id", "file")}


# ------------------------------------------------------------------------------------------ training


def _claim(version_id: int) -> CriticVersion | None:
    """Mark a queued version training for this process; None when there is nothing (more) to do (config.runs.run_claim)."""
    return run_claim(CriticVersion, version_id)


class TrainingProgress:
    """The training loop's callbacks: throttled row writes (step, loss, ETA, stage, heartbeat) and cancel checks."""

    def __init__(self, version_id: int):
        self.version_id = version_id
        self.last_write = 0.0
        self.last_check = 0.0
        self.cancelled = False
        self.stage = None  # (index, count, name, steps, steps before it) of a stage-wise run

    def stage_started(self, index: int, count: int, name: str, steps: int, before: int) -> None:
        self.stage = (index, count, name, steps, before) if count > 1 else None

    def __call__(self, step: int, total: int, loss: float, eta: float) -> None:
        from modeling.critic.core.training import stage_label

        now = time.monotonic()
        if now - self.last_write < PROGRESS_EVERY_S and step < total:
            return
        self.last_write = now
        label = ""
        if self.stage is not None:
            index, count, name, steps, before = self.stage
            label = stage_label(index, count, name, min(max(step - before, 0), steps), steps)
        run_heartbeat(
            CriticVersion, self.version_id, step=step, total_steps=total, loss=float(loss) if np.isfinite(loss) else None, eta_s=float(eta),
            stage=label,
        )

    def should_cancel(self) -> bool:
        now = time.monotonic()
        if not self.cancelled and now - self.last_check >= PROGRESS_EVERY_S:
            self.last_check = now
            self.cancelled = CriticVersion.objects.filter(pk=self.version_id, cancel_requested=True).exists()
        return self.cancelled


def _heartbeat(version_id: int, **fields) -> None:
    run_heartbeat(CriticVersion, version_id, **fields)


def critic_version_train(version_id: int) -> CriticVersion | None:
    """Train, save, checksum and evaluate a queued version; it ends ready, failed or cancelled.

    The artifact folder is emptied first, so a version starts clean, unless this attempt takes over a run
    that left a checkpoint (modeling.critic.training_job): then it resumes from there. Returns the version,
    or None when the claim found nothing to do (see the module docstring).
    """
    from modeling.critic.core.loading import QuantizationUnavailable
    from modeling.critic.core.training import TrainingCancelled
    from modeling.critic import training_job

    version = _claim(version_id)
    if version is None:
        return None
    started = time.perf_counter()
    folder = version_path(version)
    keepalive = run_keepalive(CriticVersion, version.pk)
    try:
        resume = version.attempt > 1 and training_job.can_resume(folder)
        if not resume:
            shutil.rmtree(folder, ignore_errors=True)
        folder.mkdir(parents=True, exist_ok=True)
        critic, training_set, result, base_metrics = _train(version, folder, resume=resume)
        training_job.resume_files_remove(folder)  # the artifact is what counts now
        _heartbeat(version.pk, status=CriticVersion.Status.EVALUATING)
        metrics = heldout_evaluate(critic, version=version, heldout_image_ids=training_set.heldout_image_ids)
        if base_metrics is not None:
            metrics["base"] = base_metrics
        metrics["train_seconds"] = round(result.seconds, 3)
        metrics["optimizer_steps"], metrics["resumed_from_step"] = result.steps, result.resumed_from_step
        metrics["processes"], metrics["global_batch_size"] = result.processes, result.global_batch_size
        if len(result.stages) > 1:
            metrics["stages"] = result.stages
        metrics["final_loss"] = float(np.mean(result.losses[-5:])) if result.losses else None
        metrics["first_loss"] = float(np.mean(result.losses[:5])) if result.losses else None
        if result.warmup_losses:
            metrics["vision_warmup"] = {
                "steps": len(result.warmup_losses), "first_loss": float(np.mean(result.warmup_losses[:5])),
                "final_loss": float(np.mean(result.warmup_losses[-5:])),
            }
        if training_set.answer_text:
            metrics["answer_text"] = training_set.answer_text
        from modeling.critic.core.training import artifact_sha256

        digest, _ = artifact_sha256(folder)
        with transaction.atomic():
            current = CriticVersion.objects.select_for_update().get(pk=version.pk)
            if current.status != CriticVersion.Status.EVALUATING:
                return current  # marked failed meanwhile (its heartbeat went stale): leave it so
            current.status = CriticVersion.Status.READY
            current.metrics, current.artifact_sha256, current.finished_at = metrics, digest, timezone.now()
            current.heartbeat_at, current.eta_s = timezone.now(), 0.0
            current.save(update_fields=["status", "metrics", "artifact_sha256", "finished_at", "heartbeat_at", "eta_s", "updated_at"])
        logger.info("Critic v%s of project %s ready in %.1fs: %s", current.number, current.project_id, time.perf_counter() - started, metrics)
        return current
    except TrainingCancelled:
        shutil.rmtree(folder, ignore_errors=True)
        return _finish(version.pk, CriticVersion.Status.CANCELLED, "Cancelled by a researcher; nothing was saved.")
    except (CriticDataError, QuantizationUnavailable) as error:
        shutil.rmtree(folder, ignore_errors=True)
        return _finish(version.pk, CriticVersion.Status.FAILED, str(error))
    except Exception as error:
        training_job.resume_files_remove(folder)  # a failed run is never resumed
        _finish(version.pk, CriticVersion.Status.FAILED, f"{type(error).__name__}: {error}")
        raise
    finally:
        keepalive.stop()


def _finish(version_id: int, status: str, error: str) -> CriticVersion:
    run_fail(CriticVersion, version_id, error, status=status)
    return CriticVersion.objects.get(pk=version_id)


def _train(version: CriticVersion, folder, *, resume: bool = False):
    """Build the data, snapshot the judgements, load the base, score it, train; returns (critic, set, result, base metrics).

    The untrained base (with the run's adapter settings applied, so LoRA adds nothing yet) is scored on the
    held-out images first, so the version shows before -> after on the same images (`evaluate_base`, on by
    default; off, the base metrics are None). With `resume`, the training set and base metrics saved by the
    first attempt are read back and training goes on from the checkpoint. With more than one process
    (modeling.critic.training_job.training_processes) the training itself runs in processes torchrun starts.
    """
    import torch  # noqa: F401  (fail here, not half-way, if the worker cannot import it)

    from modeling.critic.core.loading import load_critic
    from modeling.critic.core.lora import CriticTrainingSettings, apply_training_settings
    from modeling.critic.core.training import TrainingConfig, train_critic
    from modeling.critic import training_job

    chosen = version.training_settings
    data = CriticDataSettings(**chosen["data"])
    adapter = dict(chosen["adapter"], projections=tuple(chosen["adapter"]["projections"]))
    adapter_settings = CriticTrainingSettings(**adapter)
    try:
        optimisation = TrainingConfig(**chosen["optimisation"])
    except (TypeError, ValueError) as error:
        raise CriticDataError(f"optimisation settings: {error}") from None
    processes = training_job.training_processes(chosen)
    quantization = chosen.get("quantization") or None

    if resume:
        training_set, base_metrics = training_job.load_training_set(folder)
    else:
        with transaction.atomic():
            last_id = version.last_judgement_id or 0
            training_set = training_set_build(project=version.project, last_judgement_id=last_id, data=data)
        digest = judgement_ids_save(folder / JUDGEMENTS_FILE, training_set.judgement_ids)
        _heartbeat(
            version.pk, n_judgements=int(training_set.judgement_ids.size), judgements_file=JUDGEMENTS_FILE, judgements_sha256=digest,
            heldout_image_ids=training_set.heldout_image_ids.tolist(), n_training_images=int(training_set.training_image_ids.size),
            n_conversations=len(training_set.conversations), conversation_counts=training_set.counts,
            training_composition=training_set.composition,
        )
    stages = training_job.training_stages(chosen, training_set.conversations, optimisation)
    strategy = training_job.training_strategy(chosen, processes, stages)
    global_batch = optimisation.batch_size * processes * optimisation.gradient_accumulation_steps
    # What this run trains with (a Retry copies the settings, so the worker's own choice is not written into `distributed`).
    recorded = {**chosen, "scale": {"processes": processes, "strategy": strategy, "global_batch_size": global_batch,
                                    "gradient_accumulation_steps": optimisation.gradient_accumulation_steps}}
    CriticVersion.objects.filter(pk=version.pk).update(training_settings=recorded)
    version.training_settings = recorded

    base = critic_base_dir_for(version)
    loader = training_job.StorageImages(
        image_loader, training_set.image_names, crop=input_crop(version), random_crop=bool((chosen.get("input") or {}).get("random_crop")), seed=optimisation.seed,
        files=training_set.image_files,
    )
    critic = None
    if processes == 1 or (chosen.get("evaluate_base", True) and not resume):
        critic = load_critic(base, gradient_checkpointing=bool(chosen.get("gradient_checkpointing")), quantization=quantization)
        if adapter_settings.vision_feature_layer is not None and not hasattr(critic.model.config, "vision_feature_layer"):
            adapter_settings = replace(adapter_settings, vision_feature_layer=None)  # families without one (Qwen2-VL)
        apply_training_settings(critic, adapter_settings)
        CriticVersion.objects.filter(pk=version.pk).update(model_type=critic.model_type)
    if not resume:
        base_metrics = None
        if chosen.get("evaluate_base", True):
            base_metrics = heldout_evaluate(critic, version=version, heldout_image_ids=training_set.heldout_image_ids)
            base_metrics.pop("evaluated", None)
        training_job.save_training_set(folder, training_set, base_metrics)
    progress = TrainingProgress(version.pk)
    checkpoints = training_job.checkpoint_path(folder)
    if processes == 1:
        result = train_critic(
            critic, output_dir=folder / ADAPTER_DIR, config=optimisation, stages=stages, image_loader=loader, progress=progress,
            on_stage=progress.stage_started, should_cancel=progress.should_cancel, checkpoint_dir=checkpoints,
        )
        return critic, training_set, result, base_metrics
    from types import SimpleNamespace

    from modeling.critic.core.launch import TrainingJob

    del critic  # the processes load their own copy, one per GPU
    training_job.device_memory_release()
    job = TrainingJob(
        base_dir=str(base), adapter=adapter_settings, stages=stages, config=optimisation, output_dir=str(folder / ADAPTER_DIR),
        image_loader=loader, checkpoint_dir=str(checkpoints), gradient_checkpointing=bool(chosen.get("gradient_checkpointing")),
        quantization=quantization, result_path=str(folder / training_job.RESULT_FILE), strategy=strategy,
    )
    result = SimpleNamespace(**training_job.train_launched(version.pk, folder, job, processes=processes))
    critic = load_critic(base, adapter_directory=folder / ADAPTER_DIR)
    CriticVersion.objects.filter(pk=version.pk).update(model_type=critic.model_type)
    return critic, training_set, result, base_metrics


def critic_base_dir_for(version: CriticVersion):
    """The version's base checkpoint; the default tiny one is built on first use."""
    from pathlib import Path

    base = Path(version.base_model_dir)
    if base == tiny_base_default():
        critic_tiny_base_ensure(base)
    if not (base / "config.json").is_file():
        raise FileNotFoundError(f"No checkpoint at {base} (config.json missing): check LOUPE_CRITIC_BASE_DIR on this worker.")
    return base


# ---------------------------------------------------------------------------------------- evaluation


def _score_chunks(critic, image_ids, *, batch_size: int, version_id: int | None = None, crop: int | None = None, config=None):
    """Yield (image ids, LevelScores) chunk by chunk, with a heartbeat on the version after each (centre crops with `crop`)."""
    from modeling.critic.core.scoring import score_images

    load = image_loader(image_names(image_ids), crop=crop)
    ids = [int(i) for i in image_ids]
    for start in range(0, len(ids), SCORE_CHUNK):
        chunk = ids[start : start + SCORE_CHUNK]
        result = score_images(critic, [load(str(i)) for i in chunk], batch_size=batch_size, **({"config": config} if config else {}))
        if version_id is not None:
            _heartbeat(version_id)
        yield chunk, result


def heldout_evaluate(critic, *, version: CriticVersion, heldout_image_ids) -> dict:
    """The trained critic against people on the held-out images, which never entered training.

    - `scaling`: SRCC and PLCC (after the 4-parameter logistic) against the current scaling run's scores
      of held-out images that people compared or rated;
    - `mos`: the same against the images' MOS (0-100) where they have one;
    - `pairwise`: share of the held-out pair judgements (both images held out, not excluded, no ties)
      whose winner the critic scores higher;
    - `demo_hidden_severity`: SRCC against minus the hidden severity of generated demo images. DEMO ONLY:
      a known truth that real data never has, shown to check the loop learns.
    Each block has `n`, and `too_few` when n < MIN_METRIC_N (the pages then show "too few to judge", not the
    number); a metric that cannot be computed (too few items, constant scores) is null.
    """
    from evaluation.metrics import plcc, srcc
    from evaluation.models import ItemScore
    from evaluation.selectors import scaling_run_current

    ids = np.asarray(sorted(int(i) for i in heldout_image_ids), dtype=np.int64)
    batch_size = int(version.training_settings.get("scoring_batch_size", 16))
    predicted, variances = {}, []
    for chunk, result in _score_chunks(critic, ids, batch_size=batch_size, version_id=version.pk, crop=input_crop(version),
                                       config=scorer_config(version.training_settings)):
        predicted.update(zip(chunk, result.scores.tolist()))
        variances += result.variances.tolist()

    def correlations(pairs):
        pred = np.asarray([predicted[i] for i, _ in pairs], dtype=float)
        target = np.asarray([t for _, t in pairs], dtype=float)
        return {"n": len(pairs), "srcc": _safe(srcc, pred, target), "plcc": _safe(plcc, pred, target), "too_few": len(pairs) < MIN_METRIC_N}

    metrics = {"evaluated": True, "n_heldout_images": int(ids.size), "mean_variance": float(np.mean(variances)) if variances else None}
    run = scaling_run_current(project=version.project)
    human = []
    if run is not None:
        human = [
            (image_id, score) for image_id, score, n_comp, n_rat in ItemScore.objects.filter(run=run, image_id__in=ids.tolist())
            .values_list("image_id", "score", "n_comparisons", "n_ratings") if n_comp + n_rat > 0
        ]
    metrics["scaling"] = {**correlations(human), "run_id": run.pk if run else None}
    mos = list(Image.objects.filter(id__in=ids.tolist(), mos_normalised__isnull=False).values_list("id", "mos_normalised"))
    metrics["mos"] = correlations(mos)
    held = set(ids.tolist())
    pairs = [
        (a, b, choice) for a, b, choice in Judgement.objects.filter(
            project=version.project, kind=TaskKind.PAIR, excluded=False, is_repeat=False, choice__in=("a", "b"),
        ).values_list("item__image_id", "item__image_b_id", "choice") if a in held and b in held
    ]
    agree = [1.0 if predicted[a] > predicted[b] else 0.5 if predicted[a] == predicted[b] else 0.0
             for a, b, choice in ((a, b, c) if c == "a" else (b, a, c) for a, b, c in pairs)]
    metrics["pairwise"] = {"n": len(agree), "accuracy": float(np.mean(agree)) if agree else None, "too_few": len(agree) < MIN_METRIC_N}
    severity = [
        (image_id, -float(truth["severity"])) for image_id, truth in Image.objects.filter(id__in=ids.tolist()).values_list("id", "hidden_ground_truth")
        if isinstance(truth, dict) and isinstance(truth.get("severity"), (int, float))
    ]
    if severity:
        metrics["demo_hidden_severity"] = {**correlations(severity), "note": "demo only: against generated images' hidden severity"}
    return metrics


def _safe(metric, pred, target):
    try:
        value = float(metric(pred, target))
    except (ValueError, RuntimeError):
        return None
    return value if np.isfinite(value) else None


def load_trained(version: CriticVersion):
    """The version's critic with its adapter, after checking the artifact's checksum."""
    from modeling.critic.core.loading import load_critic
    from modeling.critic.core.training import artifact_sha256

    folder = version_path(version)
    digest, _ = artifact_sha256(folder)
    if digest != version.artifact_sha256:
        raise RuntimeError(f"The artifact in {folder} does not match v{version.number}'s checksum: it changed or is incomplete.")
    return load_critic(critic_base_dir_for(version), adapter_directory=folder / ADAPTER_DIR)


# ------------------------------------------------------------------------------------------ texts
# Pool scoring lives in modeling.critic.pool_scoring (chunks across the `gpu` workers).


def critic_texts_generate(version_id: int, image_ids: list[int], *, max_new_tokens: int = 96) -> int:
    """Free-text quality descriptions by the version (generate_answers), one CriticText per image.

    Safe to run twice: images that already have a description from this version are skipped.
    """
    from modeling.critic.core.scoring import generate_answers

    version = CriticVersion.objects.filter(pk=version_id).first()
    if version is None or not version.artifact_sha256:
        return 0
    have = set(CriticText.objects.filter(version=version, task="description").values_list("image_id", flat=True))
    ids = [int(i) for i in Image.objects.filter(project_id=version.project_id, id__in=image_ids).order_by("id").values_list("id", flat=True)
           if int(i) not in have]
    if not ids:
        return 0
    critic = load_trained(version)
    load = image_loader(image_names(ids), crop=input_crop(version))
    written = 0
    for start in range(0, len(ids), SCORE_CHUNK):
        chunk = ids[start : start + SCORE_CHUNK]
        texts = generate_answers(critic, [[load(str(i))] for i in chunk], task="description", max_new_tokens=max_new_tokens)
        CriticText.objects.bulk_create(
            [CriticText(version=version, image_id=i, task="description", text=text) for i, text in zip(chunk, texts)],
            ignore_conflicts=True,
        )
        written += len(chunk)
    return written
