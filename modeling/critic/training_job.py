"""A critic version's training on its `gpu` worker: in this process, or on all the host's GPUs through torchrun; resumable.

What a run needs to resume is kept in its artifact folder: the training set it was built from (`training_set.pkl`,
so a resumed run trains on exactly the same conversations), the base model's held-out metrics, and the last
checkpoint (`checkpoint/`, every `optimisation.checkpoint_every` steps). A redelivered task, or the sweep's
re-queue, finds them there and goes on from the checkpoint instead of starting over.
"""
from __future__ import annotations

import json
import pickle
import subprocess
from dataclasses import replace
from pathlib import Path

from django.conf import settings

from config.env import BASE_DIR
from modeling.critic.data import CriticDataError

CHECKPOINT_DIR = "checkpoint"
TRAINING_SET_FILE = "training_set.pkl"
BASE_METRICS_FILE = "base_metrics.json"
JOB_FILE = "training_job.pkl"
RESULT_FILE = "training_result.json"
LAUNCH_LOG = "launch.log"


def checkpoint_path(folder: Path) -> Path:
    return Path(folder) / CHECKPOINT_DIR


def can_resume(folder: Path) -> bool:
    """True when the folder holds a checkpoint and the training set it was taken on."""
    from modeling.critic.core.checkpoint import checkpoint_exists

    folder = Path(folder)
    checkpoint = checkpoint_path(folder)
    return (folder / TRAINING_SET_FILE).is_file() and (
        checkpoint_exists(checkpoint) or checkpoint_exists(checkpoint.with_name(CHECKPOINT_DIR + ".old"))
    )


def version_resumes(version) -> bool:
    """A stale training version is taken over by the next delivery when its folder holds a checkpoint."""
    from modeling.critic.models import CriticVersion
    from modeling.critic.storage import version_path

    return version.status == CriticVersion.Status.TRAINING and can_resume(version_path(version))


def version_requeue(version) -> bool:
    """A stale training version with a checkpoint goes back to the queue and its task is sent again (the sweep)."""
    from django.db import transaction
    from django.utils import timezone

    from config.queues import Queue
    from modeling.critic.models import CriticVersion

    if not version_resumes(version):
        return False
    requeued = CriticVersion.objects.filter(pk=version.pk, status=version.status, heartbeat_at=version.heartbeat_at).update(
        status=CriticVersion.Status.QUEUED, worker="", updated_at=timezone.now(),
    )
    if requeued:
        from config.celery import app

        transaction.on_commit(lambda: app.send_task("modeling.critic_retrain", args=[version.pk], queue=Queue.GPU.value))
    return bool(requeued)


def training_processes(chosen: dict) -> int:
    """Processes to train with: `distributed.processes` of the version, else LOUPE_CRITIC_TRAIN_PROCESSES ("all": every GPU)."""
    explicit = (chosen.get("distributed") or {}).get("processes")
    configured = str(explicit or settings.LOUPE_CRITIC_TRAIN_PROCESSES).strip().lower()
    if configured == "all":
        import torch

        return max(1, torch.cuda.device_count())
    try:
        processes = int(configured)
    except ValueError:
        raise CriticDataError(f"training processes must be a whole number or 'all', not {configured!r}") from None
    if processes < 1:
        raise CriticDataError("training processes must be at least 1")
    return processes


def training_strategy(chosen: dict, processes: int, stages) -> str:
    """`distributed.strategy` of the version: "ddp" (the default) or "fsdp", refused with the reason where it cannot run.

    FSDP runs through Accelerate, which applies it to CUDA processes only (on CPU it would quietly train with DDP),
    so it needs 2 or more processes on as many GPUs; it writes no checkpoints and does not load 4-/8-bit bases here.
    """
    from modeling.critic.core.distributed import FSDP_NEEDS_CUDA, STRATEGIES  # torch: on the worker only

    strategy = str((chosen.get("distributed") or {}).get("strategy") or "ddp").strip().lower()
    if strategy not in STRATEGIES:
        raise CriticDataError(f"distributed.strategy must be one of {', '.join(STRATEGIES)}, not {strategy!r}")
    if strategy == "ddp":
        return strategy
    import torch

    if processes < 2:
        raise CriticDataError(
            "distributed.strategy \"fsdp\" shards the model over 2 or more GPU processes: set distributed.processes "
            "(or LOUPE_CRITIC_TRAIN_PROCESSES) to 2 or more, or use \"ddp\""
        )
    if torch.cuda.device_count() < processes:
        raise CriticDataError(f"{FSDP_NEEDS_CUDA} This worker sees {torch.cuda.device_count()} GPUs for {processes} processes.")
    if chosen.get("quantization"):
        raise CriticDataError("distributed.strategy \"fsdp\" does not load a 4-/8-bit base here: drop quantization, or use \"ddp\"")
    if any(stage.config.checkpoint_every for stage in stages):
        raise CriticDataError(
            "distributed.strategy \"fsdp\" writes no checkpoints yet: set optimisation.checkpoint_every to 0 (a killed run "
            "then starts over), or use \"ddp\""
        )
    return strategy


def training_stages(chosen: dict, conversations, optimisation):
    """The run's stages: one of all conversations, or `stages` [{name, tasks, max_steps, learning_rate, ...}] in order.

    Each stage trains the conversations whose `task` it lists, with the version's optimisation and the stage's own
    values on top (its own schedule). A stage that selects nothing is skipped (the
    project has no such data); if every stage selects nothing, the run is refused with a message naming them.
    """
    from modeling.critic.core.training import TrainingConfig, TrainingStage

    listed = chosen.get("stages") or []
    if not listed:
        return [TrainingStage("train", list(conversations), optimisation)]
    stages, skipped = [], []
    for number, entry in enumerate(listed, start=1):
        entry = dict(entry)
        name = str(entry.pop("name", "") or f"stage {number}")
        tasks = entry.pop("tasks", None)
        if not tasks:
            raise CriticDataError(f"stage {name!r} lists no tasks (e.g. \"tasks\": [\"scoring\"])")
        chosen_conversations = [c for c in conversations if c.task in set(tasks)]
        if not chosen_conversations:  # e.g. VisualCritic's descriptions stage on a project without text: skipped
            skipped.append(name)
            continue
        unknown = set(entry) - set(TrainingConfig.__dataclass_fields__)
        if unknown:
            raise CriticDataError(f"stage {name!r}: unknown settings {', '.join(sorted(unknown))}")
        try:
            config = replace(optimisation, **entry)
        except (TypeError, ValueError) as error:
            raise CriticDataError(f"stage {name!r}: {error}") from None
        stages.append(TrainingStage(name, chosen_conversations, config))
    if not stages:
        raise CriticDataError(f"no training conversations for any stage ({', '.join(skipped)})")
    return stages


def save_training_set(folder: Path, training_set, base_metrics) -> None:
    with (Path(folder) / TRAINING_SET_FILE).open("wb") as handle:
        pickle.dump(training_set, handle)
    (Path(folder) / BASE_METRICS_FILE).write_text(json.dumps(base_metrics))


def load_training_set(folder: Path):
    """(training set, base metrics) saved by the run's first attempt."""
    with (Path(folder) / TRAINING_SET_FILE).open("rb") as handle:
        training_set = pickle.load(handle)
    base_path = Path(folder) / BASE_METRICS_FILE
    return training_set, (json.loads(base_path.read_text()) if base_path.is_file() else None)


class StorageImages:
    """A picklable image loader for the processes torchrun starts: `factory(names, crop=, random_crop=, seed=, files=)` built on
    first use in each process (modeling.critic.runs.image_loader, a module-level function, pickles by name)."""

    def __init__(self, factory, names: dict[str, str], *, crop, random_crop: bool, seed: int, files=None):
        self.factory, self.names, self.crop, self.random_crop, self.seed = factory, names, crop, random_crop, seed
        self.files = files  # general-purpose data's image files (paper 001's D3), by key
        self._load = None

    def __getstate__(self):
        return {**self.__dict__, "_load": None}

    def __call__(self, key: str):
        if self._load is None:
            self._load = self.factory(self.names, crop=self.crop, random_crop=self.random_crop, seed=self.seed, files=self.files)
        return self._load(key)


def train_launched(version_id: int, folder: Path, job, *, processes: int) -> dict:
    """Run `job` in `processes` processes (torchrun, this host) and wait; returns the main process's result figures.

    The processes load the base on their own GPU, train with DDP, and process 0 writes progress and reads cancel on
    the version's row (modeling.critic.train_process). A non-zero exit raises with the end of their log.
    """
    from modeling.critic.core.launch import launch_command

    folder = Path(folder)
    with (folder / JOB_FILE).open("wb") as handle:
        pickle.dump(job, handle)
    log_path = folder / LAUNCH_LOG
    command = launch_command(folder / JOB_FILE, processes=processes, module="modeling.critic.train_process", args=[version_id])
    with log_path.open("wb") as log:
        finished = subprocess.run(command, cwd=BASE_DIR, stdout=log, stderr=subprocess.STDOUT, check=False)
    if finished.returncode != 0:
        tail = log_path.read_text(errors="replace")[-3000:]
        if "TrainingCancelled" in tail:
            from modeling.critic.core.training import TrainingCancelled

            raise TrainingCancelled("cancelled in a launched process")
        raise RuntimeError(f"training in {processes} processes exited with {finished.returncode}:\n{tail}")
    return json.loads((folder / RESULT_FILE).read_text())


def resume_files_remove(folder: Path) -> None:
    """Delete what only a resume needs (checkpoint, saved training set, job), so the artifact's checksum covers the rest."""
    import shutil

    folder = Path(folder)
    for name in (CHECKPOINT_DIR, CHECKPOINT_DIR + ".partial", CHECKPOINT_DIR + ".old"):
        shutil.rmtree(folder / name, ignore_errors=True)
    for name in (TRAINING_SET_FILE, BASE_METRICS_FILE, JOB_FILE, RESULT_FILE):
        (folder / name).unlink(missing_ok=True)


def device_memory_release() -> None:
    """Give the GPU memory of a model this process no longer holds back, before the launched processes load theirs."""
    import gc

    import torch

    gc.collect()
    if torch.cuda.is_available():
        torch.cuda.empty_cache()
