"""The demo's side-by-side study: two offline "systems" whose answers are written from the images' hidden ground truth.

No GPU and no network: a detailed describer (names the distortion and how strong it is, reasons, concludes) and a
terse one (short, and wrong about the distortion on every third image) are imported as JSONL through the same
path as any researcher's file. annotator1 and annotator2 vote; the results page then shows which one people prefer.
"""
from __future__ import annotations

import json

from django.db import transaction

from annotation.models import Image, Project
from studies.models import Study
from studies.services.setup import study_create, system_import

DEMO_STUDY_NAME = "Demo: detailed vs terse quality descriptions"
DEMO_STUDY_IMAGES = 12
DEMO_ANNOTATORS = ("annotator1", "annotator2")

_PLAIN = {
    "gaussian_noise": "grainy noise", "defocus_blur": "out-of-focus blur", "motion_blur": "motion blur",
    "jpeg_compression": "JPEG compression artefacts", "brightness": "over-exposure", "contrast": "low contrast",
    "pixelate": "pixelation",
}
_STRENGTH = {1: "very slight", 2: "slight", 3: "moderate", 4: "strong", 5: "severe"}
_VERDICT = {1: "good", 2: "fair", 3: "fair", 4: "poor", 5: "bad"}


def detailed_answer(truth: dict) -> str:
    """A description in the DepictQA style: the main issue, how strong, its effect, and a conclusion that agrees."""
    distortion, severity = truth.get("distortion", "none"), int(truth.get("severity", 0))
    if distortion == "none" or not severity:
        return ("The image is clean: edges are sharp, textures are preserved and the exposure is balanced. "
                "I see no noticeable distortion. Overall, the quality is excellent.")
    plain = _PLAIN.get(distortion, distortion.replace("_", " "))
    return (f"The most noticeable issue is {_STRENGTH[severity]} {plain}. It affects the whole picture and "
            f"{'hides fine texture and detail' if severity >= 3 else 'is visible mainly in smooth areas'}. "
            f"Colours and framing are otherwise fine. Overall, the quality is {_VERDICT[severity]}.")


def terse_answer(truth: dict, index: int) -> str:
    """A short answer that misnames the distortion on every third image (a worse system on purpose)."""
    distortion, severity = truth.get("distortion", "none"), int(truth.get("severity", 0))
    if distortion == "none" or not severity:
        return "Looks fine."
    names = list(_PLAIN)
    if index % 3 == 2:
        distortion = names[(names.index(distortion) + 1) % len(names)] if distortion in names else "gaussian_noise"
    return f"Some {_PLAIN.get(distortion, distortion)}. Quality {_VERDICT[severity]}."


def _jsonl(images, answer) -> bytes:
    return "\n".join(json.dumps({"content_hash": image.content_hash, "answer": answer(image, k)}) for k, image in enumerate(images)).encode()


def demo_study_seed(*, project: Project) -> Study | None:
    """Create the demo study once (a second run returns the existing one); None when the project has no images."""
    from django.contrib.auth import get_user_model

    existing = Study.objects.filter(project=project, name=DEMO_STUDY_NAME).first()
    if existing is not None:
        return existing
    images = list(Image.objects.filter(project=project).exclude(hidden_ground_truth={}).order_by("original_name"))
    # Every other distorted image in name order (names are hashes, so sources and distortions mix), capped.
    images = [image for image in images if image.hidden_ground_truth.get("distortion") != "none"][::2][:DEMO_STUDY_IMAGES]
    if len(images) < 2:
        return None
    users = get_user_model().objects
    annotators = list(users.filter(username__in=DEMO_ANNOTATORS))
    researcher = users.filter(username="researcher").first()
    with transaction.atomic():
        study = study_create(project=project, name=DEMO_STUDY_NAME, created_by=researcher, annotators=annotators,
                             image_ids=[image.pk for image in images], votes_per_trial=2, ask_criteria=True)
        system_import(study=study, name="Detailed describer (offline)", data=_jsonl(images, lambda im, k: detailed_answer(im.hidden_ground_truth)))
        system_import(study=study, name="Terse describer (offline)", data=_jsonl(images, lambda im, k: terse_answer(im.hidden_ground_truth, k)))
    return study
