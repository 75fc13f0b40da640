"""How a simulated demo observer answers each task kind from an image's hidden ground truth (no queue, no writes).

The observer (Thurstone Case V, as evaluation/simulation.py): an image's latent quality is
u = -severity + DISTORTION_OFFSETS[distortion], seen through Gaussian noise of the observer's own spread;
ratings, pair choices, pathway texts and description questionnaires all follow from what it sees. Careless
behaviours: "straight-lining" (always the same key), "reversed" (the scale read upside down), "random".
evaluation/demo_observers.py puts these observers to work through the annotation queue.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from annotation.models import Image, Project, WorkItem
from annotation.vocabulary import (
    DISTORTION_SEVERITIES, DISTORTIONS, OVERALL_DISTORTION, TEXTURE_CATEGORIES, TEXTURE_CONDITIONS, TaskKind,
)

#: How much better (+) or worse (-) than its severity alone each distortion looks, in severity steps.
DISTORTION_OFFSETS = {
    "none": 0.0, "gaussian_noise": -0.3, "defocus_blur": -0.2, "motion_blur": -0.2, "jpeg_compression": 0.2,
    "brightness": 0.6, "contrast": 0.3, "pixelate": -0.1,
}
#: What each distortion looks like and what it costs, for pathway texts: (what, consequence).
DISTORTION_PHRASES = {
    "gaussian_noise": ("Gaussian noise across the whole image", "fine texture is lost in the grain"),
    "defocus_blur": ("defocus blur over the whole picture", "edges and fine detail are soft"),
    "motion_blur": ("motion blur smearing the edges", "small details are doubled and streaked"),
    "jpeg_compression": ("JPEG compression artefacts", "blocks and ringing appear around the edges"),
    "brightness": ("over-exposure washing out the picture", "the highlights lose their detail"),
    "contrast": ("loss of contrast", "the picture looks flat and grey"),
    "pixelate": ("pixelation", "edges turn into visible squares"),
}
#: Which DepictQA distortion aspect (annotation.vocabulary.DISTORTIONS) each demo distortion belongs to.
DISTORTION_ASPECTS = {
    "gaussian_noise": "noise", "defocus_blur": "blurriness", "motion_blur": "blurriness", "jpeg_compression": "artifacts",
    "brightness": "brightness", "contrast": "color", "pixelate": "artifacts",
}
#: The main texture of each demo photograph (by the file name's source part).
SOURCE_TEXTURES = {
    "astronaut": "faces", "chelsea": "hairs_furs", "coffee": "object_edges", "rocket": "architectures",
    "motorcycle_left": "object_edges", "hubble_deep_field": "sky_clouds",
}
STRENGTH_WORDS = {1: "Slight", 2: "Mild", 3: "Moderate", 4: "Strong", 5: "Severe"}
LEVEL_WORDS = {1: "bad", 2: "poor", 3: "fair", 4: "good", 5: "excellent"}
#: Ties when the two latent qualities seen differ by less than this (when the project allows ties).
TIE_MARGIN = 0.25
#: The range of honest observers' noise (sd of the latent quality they see, in severity steps).
HONEST_NOISE_SD = (0.5, 0.7)

@dataclass
class SimulatedObserver:
    """One observer's way of answering: honest (Thurstone noise around the truth) or careless."""

    behaviour: str
    noise_sd: float
    bias: float  # rating offset in levels (some people rate harshly, some generously)
    rng: np.random.Generator

    @property
    def skims(self) -> bool:
        """Random and reversed observers do not look closely: they skip what looks like effort, take any kind."""
        return self.behaviour in ("random", "reversed")

    def answer(self, *, item: WorkItem, swap: bool, project: Project, attentive: bool = False) -> dict:
        """The answer in SCREEN terms (for pairs "a" is the left image, i.e. item.image_b when swapped)."""
        behaviour = "honest" if attentive else self.behaviour
        if behaviour == "random":
            return self._random(item=item, project=project)
        if behaviour == "straight-lining":
            return self._straight(item=item, project=project)
        return self._honest(item=item, swap=swap, project=project, reverse=behaviour == "reversed")

    # honest ---------------------------------------------------------------------------------------

    def _seen_quality(self, image: Image, reverse: bool = False) -> float:
        quality = latent_quality(image) + self.rng.normal(0.0, self.noise_sd)
        return -5.0 - quality if reverse else quality

    def _seen_severity(self, image: Image, reverse: bool = False) -> int:
        severity = ground_truth(image)[1]
        if severity == 0:  # a pristine image looks pristine
            seen = 0
        else:
            seen = int(np.clip(round(severity + self.rng.normal(0.0, self.noise_sd * 0.6)), 1, 5))
        return 5 - seen if reverse else seen

    def _level(self, image: Image, reverse: bool = False) -> int:
        return int(np.clip(round(5.0 + 0.8 * self._seen_quality(image, reverse) + self.bias), 1, 5))

    def _honest(self, *, item: WorkItem, swap: bool, project: Project, reverse: bool = False) -> dict:
        image = item.image
        if item.kind == TaskKind.RATING:
            return {"level": self._level(image, reverse)}
        if item.kind == TaskKind.PAIR:
            difference = self._seen_quality(item.image, reverse) - self._seen_quality(item.image_b, reverse)
            if project.pair_allow_tie and abs(difference) < TIE_MARGIN:
                choice = "tie"
            else:
                choice = "a" if difference > 0 else "b"
            if swap and choice != "tie":  # the screen's left image is item.image_b
                choice = "b" if choice == "a" else "a"
            answer = {"choice": choice}
            if project.pair_reasoning:
                answer["reasoning"] = _pair_reasoning(item=item, choice=choice, swap=swap, texture=_texture(image))
            return answer
        distortion, _ = ground_truth(image)
        severity = self._seen_severity(image, reverse)
        if item.kind == TaskKind.PATHWAY:
            level = self._level(image, reverse)
            return {"description": pathway_description(distortion=distortion, severity=severity),
                    "conclusion": f"Overall the quality is {LEVEL_WORDS[level]}.", "level": level}
        return description_answer(distortion=distortion, severity=severity, texture=_texture(image))

    # careless -------------------------------------------------------------------------------------

    def _pick(self, keys):
        return keys[int(self.rng.integers(len(keys)))]

    def _random(self, *, item: WorkItem, project: Project) -> dict:
        if item.kind == TaskKind.RATING:
            return {"level": int(self.rng.integers(1, 6))}
        if item.kind == TaskKind.PAIR:
            answer = {"choice": self._pick(["a", "b", "tie"] if project.pair_allow_tie else ["a", "b"])}
            if project.pair_reasoning:
                answer["reasoning"] = _pair_reasoning(item=item, choice=answer["choice"], swap=False, texture="object_edges")
            return answer
        if item.kind == TaskKind.PATHWAY:
            level = int(self.rng.integers(1, 6))
            distortion = self._pick(sorted(DISTORTION_PHRASES))
            return {"description": pathway_description(distortion=distortion, severity=int(self.rng.integers(0, 6))),
                    "conclusion": f"Overall the quality is {LEVEL_WORDS[level]}.", "level": level}
        keys = lambda choices: [key for key, _ in choices]  # noqa: E731
        return {
            "texture_category": self._pick(keys(TEXTURE_CATEGORIES)),
            "texture_condition": self._pick(keys(TEXTURE_CONDITIONS)),
            "distortions": {aspect: self._pick(keys(DISTORTION_SEVERITIES)) for aspect, _ in DISTORTIONS},
            "overall": self._pick(keys(OVERALL_DISTORTION)),
        }

    def _straight(self, *, item: WorkItem, project: Project) -> dict:
        if item.kind == TaskKind.RATING:
            return {"level": 3}
        if item.kind == TaskKind.PAIR:
            answer = {"choice": "a"}  # always the left image
            if project.pair_reasoning:
                answer["reasoning"] = _pair_reasoning(item=item, choice="a", swap=False, texture="object_edges")
            return answer
        if item.kind == TaskKind.PATHWAY:
            return {"description": "The image looks fine to me, nothing in particular to say about it.",
                    "conclusion": "Overall the quality is fair.", "level": 3}
        return {
            "texture_category": "object_edges", "texture_condition": "clear",
            "distortions": {aspect: "mild" for aspect, _ in DISTORTIONS}, "overall": "mild",
        }


def ground_truth(image: Image) -> tuple[str, float]:
    """(distortion, severity) from the image's hidden ground truth; ("none", 2.5) when it has none."""
    truth = image.hidden_ground_truth or {}
    severity = truth.get("severity")
    if isinstance(severity, bool) or not isinstance(severity, (int, float)):
        return str(truth.get("distortion") or "none"), 2.5
    return str(truth.get("distortion") or "none"), severity


def looks_hard(item: WorkItem) -> bool:
    """Whether an item needs a closer look: an image (or either image of a pair) with a middling distortion
    (severity 2-4). Skimmers skip these; pristine and badly distorted images, hidden gold among them, they answer."""
    images = [item.image] + ([item.image_b] if item.image_b_id else [])
    return any(2 <= ground_truth(image)[1] <= 4 for image in images)


def latent_quality(image: Image) -> float:
    """The observer model's true quality of an image: -severity plus its distortion's offset."""
    distortion, severity = ground_truth(image)
    return -float(severity) + DISTORTION_OFFSETS.get(distortion, 0.0)


def _texture(image: Image) -> str:
    return SOURCE_TEXTURES.get(image.original_name.rsplit("_", 1)[0], "object_edges")


def pathway_description(*, distortion: str, severity: int) -> str:
    """A short template sentence on what is seen, e.g. "Strong Gaussian noise across the whole image; fine texture is lost."."""
    if severity <= 0 or distortion not in DISTORTION_PHRASES:
        return "The image is sharp and clean, with no visible noise, blur or compression artefacts, and is well exposed."
    what, consequence = DISTORTION_PHRASES[distortion]
    return f"{STRENGTH_WORDS[int(severity)]} {what}; {consequence}."


def description_answer(*, distortion: str, severity: int, texture: str) -> dict:
    """The DepictQA description questionnaire as an honest observer fills it in for a seen severity 0..5."""
    condition = "clear" if severity <= 2 else ("barely" if severity <= 4 else "damaged")
    aspect = DISTORTION_ASPECTS.get(distortion)
    aspect_severity = "undistorted" if severity == 0 else ("mild" if severity <= 3 else "severe")
    overall = "nearly_undistorted" if severity <= 1 else ("mild" if severity <= 3 else "severe")
    return {
        "texture_category": texture,
        "texture_condition": condition,
        "distortions": {key: (aspect_severity if key == aspect else "undistorted") for key, _ in DISTORTIONS},
        "overall": overall,
    }


def _pair_reasoning(*, item: WorkItem, choice: str, swap: bool, texture: str) -> dict:
    """A comparison questionnaire consistent with `choice` (screen terms), for projects that ask for one."""
    overall = {"a": "a_better", "b": "a_worse", "tie": "hard"}[choice]
    return {
        "texture_category": texture, "texture_a": "clear", "texture_b": "clear",
        "distortions": {key: "equal" for key, _ in DISTORTIONS}, "overall": overall,
    }
