"""One process of a multi-process critic training run, as torchrun starts it from the `gpu` task.

`python -m modeling.critic.train_process VERSION_ID JOB.pkl`: sets Django up, trains the pickled job on this process's
GPU (modeling.critic.core.distributed.job_run); only process 0 writes progress and reads cancel on the version's row.
"""
from __future__ import annotations

import os
import pickle
import sys


def main(argv: list[str]) -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    import django

    django.setup()
    from modeling.critic.core.launch import job_run
    from modeling.critic.runs import TrainingProgress

    version_id, job_path = int(argv[0]), argv[1]
    with open(job_path, "rb") as handle:
        job = pickle.load(handle)
    progress = TrainingProgress(version_id)
    job_run(job, progress=progress, on_stage=progress.stage_started, should_cancel=progress.should_cancel)


if __name__ == "__main__":
    main(sys.argv[1:])
