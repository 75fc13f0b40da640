"""Builders for study tests: real images, a study, systems with imported answers, a lease held by an annotator."""
from __future__ import annotations

import json

from annotation.services.imports import image_import
from studies.models import Study
from studies.services.setup import study_create, system_import
from studies.services.voting import trial_next
from tests.factories import image_bytes

#: System names chosen so that a leak is easy to spot in any page or response.
SYSTEM_NAMES = ("zephyr-critic-sysname", "quokka-endpoint-sysname")


def images_add(project, count: int, *, first_seed: int = 100, prefix: str = "sbs"):
    return [image_import(project=project, name=f"{prefix}-{k}.png", data=image_bytes(seed=first_seed + k)).image for k in range(count)]


def answers_jsonl(images, style: str) -> bytes:
    lines = [json.dumps({"image": image.original_name, "answer": f"{style} answer about {image.original_name}: " + "detail " * (k + 1)})
             for k, image in enumerate(images)]
    return ("\n".join(lines) + "\n").encode()


def study_with_systems(*, project, researcher, annotators, n_images: int = 3, names=SYSTEM_NAMES, **options) -> Study:
    """A study over `n_images` new images with one imported system per name (so its trials exist)."""
    images = images_add(project, n_images)
    study = study_create(project=project, name="sbs study", created_by=researcher, annotators=annotators, image_ids=[i.pk for i in images], **options)
    for name in names:
        system_import(study=study, name=name, data=answers_jsonl(images, name.split("-")[0]))
    return study


def study_world(*, project, researcher, annotator) -> dict:
    """URL kwargs for the permission tests: a study, one of its systems, and a trial token the annotator holds."""
    study = study_with_systems(project=project, researcher=researcher, annotators=[annotator], n_images=2)
    trial = trial_next(study=study, annotator=annotator)
    return {"study_id": study.pk, "system_id": study.systems.first().pk, "token": trial.token}
