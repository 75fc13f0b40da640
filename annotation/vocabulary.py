"""The fixed answer vocabularies of Loupe's task kinds, in one place.

Sources (papers by number, docs/references.md): the ITU five-level scale and Q-SiT's pathway feedback and reference
attribute set (paper 001, §III-A1, §III-B2-B3), DepictQA's questionnaires (paper 002, Fig. 2, §3.2).
Stored answers use the keys (the first element of each pair); pages and the API show the labels.
"""

from django.db import models


class TaskKind(models.TextChoices):
    PATHWAY = "pathway", "Pathway feedback"
    DESCRIPTION = "description", "Quality description questionnaire"
    PAIR = "pair", "Pairwise comparison"
    RATING = "rating", "Single-stimulus rating"


#: Kinds shown one image at a time; a pair shows two.
SINGLE_IMAGE_KINDS = (TaskKind.PATHWAY, TaskKind.DESCRIPTION, TaskKind.RATING)

#: The five ITU absolute category levels, 1 (bad) to 5 (excellent).
LEVELS = [(1, "Bad"), (2, "Poor"), (3, "Fair"), (4, "Good"), (5, "Excellent")]
LEVEL_LABELS = dict(LEVELS)

#: Q-SiT's reference attribute set, shown to annotators as helpers for pathway feedback.
PATHWAY_ATTRIBUTES = [
    "blur", "motion blur", "out of focus", "noise", "grain", "exposure", "underexposed", "overexposed",
    "brightness", "contrast", "colour", "saturation", "colour cast", "sharpness", "clarity", "detail",
    "texture", "compression artefacts", "blockiness", "ringing", "banding", "aliasing", "lighting",
    "composition", "focus", "haze",
]
#: Context and position words that make a description precise ("the left part is underexposed").
PATHWAY_CONTEXT_HINTS = ["the left part", "the right part", "the top", "the bottom", "the centre", "the background",
                         "the foreground", "the main subject", "the sky", "edges"]
PATHWAY_MIN_DESCRIPTION_CHARS = 40
PATHWAY_MIN_CONCLUSION_CHARS = 15

#: DepictQA Task-1: the 11 typical texture types.
TEXTURE_CATEGORIES = [
    ("object_edges", "Object edges"),
    ("bricks", "Bricks"),
    ("fabrics", "Fabrics"),
    ("plants_foliage", "Plants or foliage"),
    ("architectures", "Architectures"),
    ("artificial_strips", "Artificial strips"),
    ("hairs_furs", "Hairs or furs"),
    ("faces", "Faces"),
    ("sky_clouds", "Sky or clouds"),
    ("stones_ground", "Stones or ground"),
    ("water_surface", "Water surface"),
]
TEXTURE_CONDITIONS = [
    ("clear", "Clearly identifiable"),
    ("barely", "Barely identifiable"),
    ("damaged", "Completely damaged"),
]
#: The five distortion aspects of DepictQA's questionnaires.
DISTORTIONS = [
    ("brightness", "Brightness"),
    ("color", "Color"),
    ("noise", "Noise"),
    ("artifacts", "Artifacts"),
    ("blurriness", "Blurriness"),
]
DISTORTION_SEVERITIES = [("undistorted", "Undistorted"), ("mild", "Mild"), ("severe", "Severe")]
OVERALL_DISTORTION = [
    ("nearly_undistorted", "Nearly undistorted"),
    ("mild", "Mild distortion"),
    ("severe", "Severe distortion"),
]

#: DepictQA Task-3, per distortion: how A compares with B. The keys say how much of the distortion A has
#: ("a_much_less": A is far less distorted); the labels say it in words, since the paper's symbols point the
#: other way (Fig. 2c: "A >> B" is "superior", A far less distorted; "A < B" is "slightly inferior").
COMPARISON_SCALE = [
    ("a_much_less", "A much better"),
    ("a_less", "A slightly better"),
    ("equal", "About equal"),
    ("a_more", "A slightly worse"),
    ("a_much_more", "A much worse"),
]
#: DepictQA Task-3 overall comparison, five-way.
OVERALL_COMPARISON = [
    ("a_better", "A is better than B"),
    ("a_slightly_better", "A is slightly better"),
    ("hard", "Hard to decide"),
    ("a_slightly_worse", "A is slightly worse"),
    ("a_worse", "A is worse than B"),
]


class PairChoice(models.TextChoices):
    """Which image of a pair has better quality. A and B are the item's images, never screen sides."""

    A = "a", "A is better"
    B = "b", "B is better"
    TIE = "tie", "Hard to decide"
