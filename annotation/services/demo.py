"""The demo project: scikit-image's bundled photographs, distorted by annotation.distortions, and demo accounts.

Everything is made offline and reproducibly: the same checkout and library versions give the same pixels,
the same PNG bytes and so the same content hashes, so a second run finds every image already there.
"""
import hashlib
import io
from dataclasses import dataclass, field

import numpy as np
from django.contrib.auth import get_user_model
from django.db import transaction
from django.utils import timezone
from PIL import Image as PILImage

from accounts.models import Role
from annotation.distortions import distort
from annotation.models import Authenticity, Image, ImportBatch, Membership, PairSource, Project, SelectionStrategy, WorkItem
from annotation.services.imports import DUPLICATE, ERROR, IMPORTED, ImageMetadata, ImportResult, image_import
from annotation.services.work import gold_item_add, pairs_generate, project_settings_update, work_items_sync
from annotation.vocabulary import TaskKind
from config.processes import worker_identity

DEMO_PROJECT_SLUG = "demo"
DEMO_PROJECT_NAME = "Demo: distorted photographs"
DEMO_PASSWORD = "loupe-demo"
DEMO_SOURCE_DATASET = "skimage-demo"
# (username, role in the app and in the demo project)
DEMO_ACCOUNTS = (("researcher", Role.RESEARCHER), ("annotator1", Role.ANNOTATOR), ("annotator2", Role.ANNOTATOR))

# Colour photographs that ship inside scikit-image (its `data/` folder): the loaders read the local file
# and only fall back to pooch (a download) if the file is missing, which it is not in a normal install.
DEMO_SOURCES = ("astronaut", "chelsea", "coffee", "rocket", "motorcycle_left", "hubble_deep_field")
# The kinds of annotation.distortions (ImageNet-C parameters), in the demo's order.
DEMO_DISTORTIONS = ("gaussian_noise", "defocus_blur", "motion_blur", "jpeg_compression", "brightness", "contrast", "pixelate")
DEMO_SEVERITIES = (1, 2, 3, 4, 5)
SMALL_SOURCES = DEMO_SOURCES[:2]
SMALL_DISTORTIONS = ("gaussian_noise", "defocus_blur", "jpeg_compression")
# How each distortion looks at severity 5, for the training feedback.
DISTORTION_LOOKS = {
    "gaussian_noise": "strong grainy noise over the whole picture",
    "defocus_blur": "heavy out-of-focus blur: no edge or texture is sharp",
    "motion_blur": "strong motion blur that smears every edge",
    "jpeg_compression": "heavy JPEG compression: 8×8 blocks, ringing and lost texture",
    "brightness": "washed-out over-exposure that burns away detail",
    "contrast": "very low contrast: the picture looks flat and grey",
    "pixelate": "coarse pixelation: the picture is made of large squares",
}
DEMO_TRAINING_SOURCES = 2  # sources whose images make the training round
# The levels between the original (5) and the worst version (1), by the severity that shows them (first source only).
DEMO_TRAINING_MIDDLE_LEVELS = {4: 1, 3: 3, 2: 4}
DEMO_TRAINING_MIDDLE_FEEDBACK = {
    4: "A slight {distortion} shows when you look closely, but the picture is still clear: Good (4). Excellent (5) or Fair (3) count as right too.",
    3: "The {distortion} is plainly visible and lowers the quality, yet the content is easy to make out: Fair (3). Good (4) or Poor (2) count as right too.",
    2: "The {distortion} is strong and spoils much of the detail: Poor (2). Fair (3) or Bad (1) count as right too.",
}
DEMO_PAIRS = {True: 40, False: 300}  # initial comparison pairs, small and full demo
DEMO_PAIR_SEED = 2024
LONG_SIDE = 384
PRISTINE = "none"


@dataclass(frozen=True)
class DemoImageSpec:
    """One demo image to make: a source photograph, a distortion (or "none") and its severity (0 for none)."""

    source: str
    distortion: str
    severity: int
    with_reference: bool

    @property
    def name(self) -> str:
        # Opaque but stable: the file name is shown in places where the distortion and severity (the hidden
        # ground truth) must not be, so it carries only the source and a digest.
        return f"{self.source}_{_digest(f'name/{self.source}/{self.distortion}/{self.severity}')[:8]}.png"

    @property
    def ground_truth(self) -> dict:
        return {"distortion": self.distortion, "severity": self.severity}


@dataclass
class DemoAccount:
    username: str
    role: str
    created: bool


@dataclass
class DemoSummary:
    """What demo_seed did: created or found the project, accounts and images."""

    project: Project
    project_created: bool
    accounts: list[DemoAccount]
    memberships_created: int
    batch: ImportBatch | None  # None when every image was already there
    imported: int = 0
    already_present: int = 0
    errors: list[str] = field(default_factory=list)
    password: str = DEMO_PASSWORD


def demo_plan(*, small: bool = False) -> list[DemoImageSpec]:
    """Every demo image in import order: each source's pristine image first, then its distorted versions.

    Sources alternate: the distorted versions of the 1st, 3rd, ... source get the pristine image as their
    reference (full-reference), those of the 2nd, 4th, ... get none (no-reference).
    """
    sources, distortions = (SMALL_SOURCES, SMALL_DISTORTIONS) if small else (DEMO_SOURCES, DEMO_DISTORTIONS)
    plan = []
    for index, source in enumerate(sources):
        with_reference = index % 2 == 0
        plan.append(DemoImageSpec(source=source, distortion=PRISTINE, severity=0, with_reference=False))
        for distortion in distortions:
            for severity in DEMO_SEVERITIES:
                plan.append(DemoImageSpec(source=source, distortion=distortion, severity=severity, with_reference=with_reference))
    return plan


def demo_source_pixels(*, source: str) -> np.ndarray:
    """The source photograph, centre-cropped to 3:2, 2:3 or 1:1 and resized to LONG_SIDE: uint8 [h, w, 3]."""
    if source not in DEMO_SOURCES:
        raise ValueError(f"unknown demo source {source!r}; choose from {', '.join(DEMO_SOURCES)}")
    import skimage.data

    if source == "motorcycle_left":
        pixels = skimage.data.stereo_motorcycle()[0]
    else:
        pixels = getattr(skimage.data, source)()
    image = PILImage.fromarray(np.ascontiguousarray(pixels[..., :3])).convert("RGB")
    width, height = image.size
    ratio = width / height
    aspect = 1.5 if ratio >= 1.25 else (2 / 3 if ratio <= 0.8 else 1.0)  # target width / height
    crop_w, crop_h = (round(height * aspect), height) if ratio > aspect else (width, round(width / aspect))
    left, top = (width - crop_w) // 2, (height - crop_h) // 2
    image = image.crop((left, top, left + crop_w, top + crop_h))
    size = (LONG_SIDE, round(LONG_SIDE / aspect)) if aspect >= 1 else (round(LONG_SIDE * aspect), LONG_SIDE)
    return np.asarray(image.resize(size, PILImage.Resampling.LANCZOS), dtype=np.uint8)


def demo_distorted_pixels(*, source: str, distortion: str, severity: int, pixels: np.ndarray | None = None) -> np.ndarray:
    """The source photograph with one distortion at severity 1..5: uint8 [h, w, 3].

    The same (source, distortion, severity) always gives the same pixels: the random kinds draw from a
    Generator seeded from those three, never from numpy's global random state. `pixels` saves reloading
    the source when the caller has it.
    """
    if distortion not in DEMO_DISTORTIONS:
        raise ValueError(f"unsupported demo distortion {distortion!r}; choose from {', '.join(DEMO_DISTORTIONS)}")
    if severity not in DEMO_SEVERITIES:
        raise ValueError("severity must be an integer from 1 to 5")
    if pixels is None:
        pixels = demo_source_pixels(source=source)
    seed = int.from_bytes(hashlib.sha256(f"seed/{source}/{distortion}/{severity}".encode()).digest()[:4], "big")
    return distort(np.ascontiguousarray(pixels, dtype=np.uint8), distortion, severity, np.random.default_rng(seed))


def demo_png_bytes(*, pixels: np.ndarray) -> bytes:
    """Encode uint8 RGB pixels as PNG with fixed settings and no metadata, so equal pixels give equal bytes."""
    buffer = io.BytesIO()
    PILImage.fromarray(np.ascontiguousarray(pixels, dtype=np.uint8)).save(buffer, format="PNG", optimize=False, compress_level=1)
    return buffer.getvalue()


def demo_seed(*, small: bool = False, password: str = DEMO_PASSWORD) -> DemoSummary:
    """Create (or complete) the demo project, its accounts and its images; a second run changes nothing.

    Existing accounts and memberships are left as they are (their passwords are not reset). Demo images
    already in the project are skipped; the new ones go into one ImportBatch (source DEMO) through
    image_import, the same validation and storage path as any other import.
    """
    from django.conf import settings

    if not password:
        raise ValueError("the demo password must not be empty")
    if settings.PRODUCTION and password == DEMO_PASSWORD:
        raise ValueError("refusing to create demo accounts with the published default password in production; choose another")

    with transaction.atomic():
        users, accounts = _demo_accounts_ensure(password=password)
        project, project_created = Project.objects.get_or_create(
            slug=DEMO_PROJECT_SLUG,
            defaults={
                "name": DEMO_PROJECT_NAME,
                "created_by": users["researcher"],
                "description": (
                    "Photographs bundled with scikit-image, with ImageNet-C style distortions at "
                    "severities 1-5. Some have their pristine image as a reference, some do not."
                ),
            },
        )
        memberships_created = 0
        for username, role in DEMO_ACCOUNTS:
            _, created = Membership.objects.get_or_create(project=project, user=users[username], defaults={"role": role})
            memberships_created += created

    summary = DemoSummary(
        project=project,
        project_created=project_created,
        accounts=accounts,
        memberships_created=memberships_created,
        batch=None,
        password=password,
    )
    _demo_images_import(summary=summary, small=small, created_by=users["researcher"])
    _demo_work_setup(project=project, small=small)
    return summary


def _demo_accounts_ensure(*, password: str) -> tuple[dict, list[DemoAccount]]:
    user_model = get_user_model()
    users, accounts = {}, []
    for username, role in DEMO_ACCOUNTS:
        user, created = user_model.objects.get_or_create(
            username=username, defaults={"role": role, "email": f"{username}@demo.invalid"}
        )
        if created:
            user.set_password(password)
            user.save(update_fields=["password"])
        users[username] = user
        accounts.append(DemoAccount(username=username, role=role, created=created))
    return users, accounts


def _demo_images_import(*, summary: DemoSummary, small: bool, created_by) -> None:
    """Import the planned images not yet in the project, recording them in one batch made on first need."""
    project = summary.project
    plan = demo_plan(small=small)
    # A demo image already seeded is found by its name (a digest of source, distortion and severity), so a
    # re-run skips it without making its pixels, and still skips it if a library upgrade (numpy, zlib)
    # changed its bytes slightly. Content seeded under another name is caught by image_import as a duplicate.
    seeded = {
        image.original_name: image
        for image in Image.objects.filter(
            project=project, source_dataset=DEMO_SOURCE_DATASET, original_name__in=[spec.name for spec in plan]
        )
    }
    pristine_images: dict[str, Image | None] = {}
    source_pixels: dict[str, np.ndarray] = {}
    batch = None
    try:
        for spec in plan:
            if spec.name in seeded:
                summary.already_present += 1
                if spec.distortion == PRISTINE:
                    pristine_images[spec.source] = seeded[spec.name]
                continue
            if spec.source not in source_pixels:
                source_pixels = {spec.source: demo_source_pixels(source=spec.source)}  # one source at a time
            pixels = source_pixels[spec.source]
            if spec.distortion != PRISTINE:
                pixels = demo_distorted_pixels(source=spec.source, distortion=spec.distortion, severity=spec.severity, pixels=pixels)
            data = demo_png_bytes(pixels=pixels)
            if batch is None:
                batch = ImportBatch.objects.create(
                    project=project,
                    created_by=created_by,
                    source=ImportBatch.Source.DEMO,
                    status=ImportBatch.Status.RUNNING,
                    # Claimed by this process (config/runs.py); the seed's transaction hides it until it ends.
                    attempt=1, worker=worker_identity(), heartbeat_at=timezone.now(), started_at=timezone.now(),
                    options={"source_dataset": DEMO_SOURCE_DATASET, "small": small},
                )
                summary.batch = batch
            reference = pristine_images.get(spec.source) if spec.with_reference else None
            metadata = ImageMetadata(
                source_dataset=DEMO_SOURCE_DATASET,
                reference=reference,
                authenticity=Authenticity.PHOTOGRAPHIC,
                hidden_ground_truth=spec.ground_truth,
            )
            result = image_import(project=project, name=spec.name, data=data, batch=batch, metadata=metadata)
            _batch_record(batch=batch, result=result)
            if result.status == ERROR:
                summary.errors.append(f"{spec.name}: {result.message}")
            elif result.status == DUPLICATE:
                summary.already_present += 1
            else:
                summary.imported += 1
            if spec.distortion == PRISTINE:
                pristine_images[spec.source] = result.image
    except BaseException as exc:
        if batch is not None:
            batch.status = ImportBatch.Status.FAILED
            batch.error = f"The demo seed stopped: {exc!r}"
            batch.finished_at = timezone.now()
            batch.save(update_fields=["status", "error", "finished_at"])
        raise
    if batch is not None:
        batch.status = ImportBatch.Status.DONE
        batch.finished_at = timezone.now()
        batch.save(update_fields=["status", "finished_at"])


def _demo_work_setup(*, project: Project, small: bool) -> None:
    """Enable every task kind (first run only), then add what is missing: work items, the training round,
    gold items and, unless the active selector proposes them (the demo's default: `manage.py refill_pairs demo`
    and then the worker after each batch), the first comparison pairs. All derived from the hidden severity: pristine photographs
    are excellent, severity-5 versions bad, and a pristine photograph beats its severity-5 version."""
    if not project.task_kinds:
        project = project_settings_update(
            project, task_kinds=list(TaskKind.values), overlap=2, pair_source=PairSource.PROPOSED,
            selection_strategy=SelectionStrategy.EIG_PRIOR, pair_batch_size=20, pair_reasoning=False, pair_allow_tie=True, gold_rate=0.1, training_required=True, training_pass_mark=0.7,
        )
    else:
        work_items_sync(project)
    pristine: dict[str, Image] = {}
    severe: dict[str, list[Image]] = {}
    by_truth: dict[tuple[str, str, int], Image] = {}
    for image in Image.objects.filter(project=project, source_dataset=DEMO_SOURCE_DATASET).order_by("id"):
        truth = image.hidden_ground_truth or {}
        source = image.original_name.rsplit("_", 1)[0]
        by_truth[(source, truth.get("distortion"), truth.get("severity"))] = image
        if truth.get("distortion") == PRISTINE:
            pristine[source] = image
        elif truth.get("severity") == 5:
            severe.setdefault(source, []).append(image)
    sources = [source for source in DEMO_SOURCES if source in pristine and severe.get(source)]
    with transaction.atomic():
        for index, source in enumerate(sources):
            clean, worst = pristine[source], severe[source]
            if index < DEMO_TRAINING_SOURCES:
                _demo_training_items(project=project, clean=clean, bad=worst[0])
            if index == 0:
                _demo_training_middle_levels(project=project, source=source, distortion=worst[0].hidden_ground_truth["distortion"], by_truth=by_truth)
            _demo_gold_item(project=project, kind=TaskKind.RATING, image=clean, gold_answer={"level": 5})
            for bad in worst[1:]:
                _demo_gold_item(project=project, kind=TaskKind.RATING, image=bad, gold_answer={"level": 1})
                _demo_gold_item(project=project, kind=TaskKind.DESCRIPTION, image=bad, gold_answer={"overall": "severe"})
                _demo_gold_item(project=project, kind=TaskKind.PAIR, image=clean, image_b=bad, gold_answer={"choice": "a"})
        has_pairs = WorkItem.objects.filter(project=project, kind=TaskKind.PAIR, purpose=WorkItem.Purpose.WORK).exists()
        if not has_pairs and project.pair_source != PairSource.PROPOSED:
            pairs_generate(project, count=DEMO_PAIRS[small], rng=np.random.default_rng(DEMO_PAIR_SEED))


def _demo_training_items(*, project: Project, clean: Image, bad: Image) -> None:
    looks = DISTORTION_LOOKS.get(bad.hidden_ground_truth.get("distortion"), "a severe distortion")
    training = WorkItem.Purpose.TRAINING
    _demo_gold_item(
        project=project, kind=TaskKind.RATING, image=clean, gold_answer={"level": 5}, purpose=training,
        feedback="This is the original photograph: sharp, clean and well exposed, so it is Excellent (5). Good (4) counts as right too.",
    )
    _demo_gold_item(
        project=project, kind=TaskKind.RATING, image=bad, gold_answer={"level": 1}, purpose=training,
        feedback=f"This version has {looks}, so it is Bad (1). Poor (2) counts as right too.",
    )
    _demo_gold_item(
        project=project, kind=TaskKind.PAIR, image=clean, image_b=bad, gold_answer={"choice": "a"}, purpose=training,
        feedback=f"The original photograph is clearly better: the other has {looks}.",
    )
    _demo_gold_item(
        project=project, kind=TaskKind.DESCRIPTION, image=bad, gold_answer={"overall": "severe"}, purpose=training,
        feedback=f"The overall distortion is severe: {looks}.",
    )


def _demo_training_middle_levels(*, project: Project, source: str, distortion: str, by_truth: dict) -> None:
    """Training items for Good, Fair and Poor (levels 4, 3, 2): milder versions of one photograph, so that the
    training page shows an example of every level, not only the original (5) and the worst version (1)."""
    name = distortion.replace("_", " ")
    for level, severity in sorted(DEMO_TRAINING_MIDDLE_LEVELS.items(), reverse=True):
        image = by_truth.get((source, distortion, severity))
        if image is None:
            continue
        _demo_gold_item(
            project=project, kind=TaskKind.RATING, image=image, gold_answer={"level": level}, purpose=WorkItem.Purpose.TRAINING,
            feedback=DEMO_TRAINING_MIDDLE_FEEDBACK[level].format(distortion=name),
        )


def _demo_gold_item(*, project: Project, kind: str, image: Image, gold_answer: dict, image_b: Image | None = None,
                    purpose: str = WorkItem.Purpose.GOLD, feedback: str = "") -> None:
    """Add one gold or training item unless the project has it already (so a re-run adds nothing)."""
    first, second = (image, image_b) if image_b is None or image.pk < image_b.pk else (image_b, image)
    if WorkItem.objects.filter(project=project, kind=kind, purpose=purpose, image=first, image_b=second).exists():
        return
    gold_item_add(project, kind=kind, image=image, image_b=image_b, gold_answer=gold_answer, purpose=purpose, feedback=feedback)


def _batch_record(*, batch: ImportBatch, result: ImportResult) -> None:
    """Append one report entry and bump its counter, saved at once so the batch page shows progress."""
    batch.report.append(result.as_report_entry())
    counter = {IMPORTED: "imported_count", DUPLICATE: "duplicate_count", ERROR: "error_count"}.get(result.status)
    if counter:
        setattr(batch, counter, getattr(batch, counter) + 1)
    batch.save(update_fields=["report", "imported_count", "duplicate_count", "error_count"])


def _digest(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()
