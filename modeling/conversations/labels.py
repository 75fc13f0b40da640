"""The plain label dataclasses the conversation builders read: pairs, scores, texts, authenticity, sentences."""
from __future__ import annotations

import math
from dataclasses import dataclass


@dataclass(frozen=True)
class PairJudgement:
    """One human judgement of two images of the same source; ``winner`` is ``"a"`` or ``"b"``."""

    image_a: str
    image_b: str
    winner: str

    def __post_init__(self):
        if self.winner not in ("a", "b"):
            raise ValueError("winner must be 'a' or 'b'")
        if self.image_a == self.image_b:
            raise ValueError("a pair needs two different images")


@dataclass(frozen=True)
class ScoredImage:
    """An image with a human score (MOS or a rating) from one source dataset or project."""

    image: str
    score: float
    source: str = "default"

    def __post_init__(self):
        if not math.isfinite(self.score):
            raise ValueError("score must be finite")


@dataclass(frozen=True)
class ImageDescription:
    """Human text about one image: pathway feedback or a revised questionnaire paragraph.

    ``reference``: the pristine reference of a full-reference image; the conversation then shows it with
    paper 002's ``<Img-Reference>`` tag before the image (tagged ``<Img-A>``).
    """

    image: str
    text: str
    reference: str | None = None

    def __post_init__(self):
        if not self.text.strip():
            raise ValueError("text must not be empty")


@dataclass(frozen=True)
class ComparisonReasoning:
    """A reasoned comparison of images A and B, optionally against a reference image.

    ``winner``: "a" or "b" when the annotator chose one (brief answers need it), else None.
    """

    image_a: str
    image_b: str
    text: str
    reference: str | None = None
    winner: str | None = None

    def __post_init__(self):
        if not self.text.strip():
            raise ValueError("text must not be empty")


@dataclass(frozen=True)
class AuthenticityLabel:
    """Whether an image is a photograph (``True``) or AI-generated (``False``).

    ``sentence``: an LLM-written answer (paper 000, Fig. 3 authenticity prompt) used instead of the fixed one.
    """

    image: str
    is_photograph: bool
    sentence: str | None = None


@dataclass(frozen=True)
class SentencePair:
    """Two images in shown order, which is better by MOS, and an LLM-written comparison sentence (paper 000, Fig. 3)."""

    first: str
    second: str
    first_is_better: bool
    sentence: str

    def __post_init__(self):
        if self.first == self.second:
            raise ValueError("a pair needs two different images")
        if not self.sentence.strip():
            raise ValueError("sentence must not be empty")
