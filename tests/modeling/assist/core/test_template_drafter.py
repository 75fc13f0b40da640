"""The offline template drafter: deterministic, readable, and within the same rules as model output."""
from __future__ import annotations

import itertools

from modeling.assist.core.default_prompts import default_template
from modeling.assist.core.prompts import COMPARISON_KEYS, DISTORTION_KEYS, OVERALL_COMPARISON_KEYS, OVERALL_KEYS, render_task
from modeling.assist.core.template_drafter import (
    draft_authenticity_sentence,
    draft_comparison_paragraph,
    draft_description_paragraph,
    draft_mos_comparison,
    draft_yes_no_questions,
)
from modeling.assist.core.validation import validate
from tests.modeling.assist.core.test_prompts import DESCRIPTION_ANSWER, PAIR_ANSWER


def test_description_paragraph_golden(labels):
    """The drafter's paragraph for a known answer, word for word."""
    assert draft_description_paragraph(DESCRIPTION_ANSWER, labels) == (
        "Overall, this image shows severe distortion. The most damaging problems are severe color distortion and "
        "severe noise. Brightness, artifacts and blurriness show no visible distortion. The texture of the plants "
        "or foliage is barely identifiable. Therefore, the severe color distortion and severe noise decide the "
        "overall verdict of severe distortion."
    )


def test_comparison_paragraph_golden(labels):
    """The drafter's pair paragraph for a known answer, word for word."""
    assert draft_comparison_paragraph(PAIR_ANSWER, labels) == (
        "Image A is better than Image B. Image A has much less blurriness than Image B, but slightly more "
        "brightness distortion. The two images are about equal in color, noise and artifacts. The texture of the "
        "faces is clearly identifiable in Image A but completely damaged in Image B. Therefore, weighing Image A's "
        "advantage in blurriness against Image B's advantage in brightness distortion, Image A is better than "
        "Image B overall."
    )


def test_drafts_are_deterministic(labels):
    """The same answer always gives the same text."""
    assert {draft_description_paragraph(DESCRIPTION_ANSWER, labels) for _ in range(5)} == {
        draft_description_paragraph(DESCRIPTION_ANSWER, labels)}


def test_every_description_answer_passes_the_template_rules(labels):
    """All 3^5 severity patterns x 3 verdicts x 3 conditions (textures cycled) give drafts that pass validation."""
    template = default_template("description_paragraph")
    textures, conditions = list(labels.texture_categories), list(labels.texture_conditions)
    for number, (severities, overall, condition) in enumerate(
        itertools.product(itertools.product(("undistorted", "mild", "severe"), repeat=5), OVERALL_KEYS, conditions)
    ):
        answer = {"texture_category": textures[number % len(textures)], "texture_condition": condition,
                  "distortions": dict(zip(DISTORTION_KEYS, severities)), "overall": overall}
        text = draft_description_paragraph(answer, labels)
        assert validate(text, render_task(template, answer, labels).rules) == [], (answer, text)


def test_every_comparison_answer_passes_the_template_rules(labels):
    """All 5^5 comparison patterns, verdicts and textures cycled, give drafts that pass validation."""
    template = default_template("comparison_paragraph")
    textures, conditions = list(labels.texture_categories), list(labels.texture_conditions)
    for number, values in enumerate(itertools.product(COMPARISON_KEYS, repeat=5)):
        overall = OVERALL_COMPARISON_KEYS[(number + number // 5) % 5]  # not locked to the last aspect's value
        answer = {"texture_category": textures[number % len(textures)],
                  "texture_a": conditions[number % 3], "texture_b": conditions[(number // 3) % 3],
                  "distortions": dict(zip(DISTORTION_KEYS, values)), "overall": overall}
        text = draft_comparison_paragraph(answer, labels)
        assert validate(text, render_task(template, answer, labels).rules) == [], (answer, text)


def test_visualcritic_sentences_pass_their_rules():
    """MOS comparison and authenticity sentences name the right image and carry no numbers."""
    template = default_template("visualcritic_mos_comparison")
    for pair in [(48.86, 75.57), (63.64, 37.55), (50.0, 50.0)]:
        assert validate(draft_mos_comparison(*pair), render_task(template, pair).rules) == []
    assert draft_mos_comparison(63.64, 37.55) == "The first image has superior quality."
    assert "real photograph" in draft_authenticity_sentence(100)
    assert "AI" in draft_authenticity_sentence(30.34)


def test_offline_yes_no_questions_are_balanced_and_skip_negated_words():
    """Each plainly stated attribute gives a yes question and a no question about its opposite."""
    feedback = {"description": "The photo is blurry and underexposed, but it is not noisy.",
                "conclusion": "Poor overall."}
    items = draft_yes_no_questions(feedback)
    assert items == [
        {"question": "Is the image blurry?", "answer": "yes"},
        {"question": "Is the image sharp?", "answer": "no"},
        {"question": "Is the image underexposed?", "answer": "yes"},
        {"question": "Is the image overexposed?", "answer": "no"},
    ]
    # Both an attribute and its opposite stated (different regions): neither is asked about.
    assert draft_yes_no_questions({"description": "The face is sharp but the background is blurry.",
                                   "conclusion": "Fine."}) == []
