"""Test data for the work pages: a project with images, enabled task kinds and work items, made through the services."""
import numpy as np

from annotation.models import Image, Project
from annotation.services import work
from annotation.services.imports import image_import
from tests.factories import image_bytes


def project_images(project: Project, count: int, *, start: int = 0) -> list[Image]:
    """`count` small, distinct images imported into the project (different colours, so they look different)."""
    return [
        image_import(
            project=project,
            name=f"img_{seed}.png",
            data=image_bytes(size=(96, 72), color=((seed * 53) % 256, (seed * 97) % 256, (seed * 29) % 256), seed=seed),
        ).image
        for seed in range(start, start + count)
    ]


def work_project(project: Project, *, kinds: list[str], images: int = 3, pairs: int = 0, **settings) -> list[Image]:
    """Enable `kinds` on the project (no training, no gold, one annotator per item unless `settings` say otherwise),
    import `images` images and make their work items, and `pairs` comparison pairs when pairs are enabled."""
    made = project_images(project, images)
    defaults = {"task_kinds": kinds, "training_required": False, "gold_rate": 0.0, "repeat_rate": 0.0, "overlap": 1}
    work.project_settings_update(project, **{**defaults, **settings})
    if "pair" in kinds:
        work.pairs_generate(project, count=pairs or images * (images - 1) // 2, rng=np.random.default_rng(0))
    project.refresh_from_db()
    return made
