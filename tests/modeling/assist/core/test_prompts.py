"""Prompt templates: rendering answers into chat messages (golden strings), versions, and the default templates."""
from __future__ import annotations

import json

import pytest

from modeling.assist.core.default_prompts import DEFAULT_TEMPLATES, default_template
from modeling.assist.core.prompts import (
    PromptTemplate,
    comparison_input,
    description_input,
    feedback_input,
    mos_pair_input,
    pair_choice_conflict,
    render_task,
    scores_input,
)
from modeling.assist.core.validation import validate

DESCRIPTION_ANSWER = {
    "texture_category": "plants_foliage",
    "texture_condition": "barely",
    "distortions": {"brightness": "undistorted", "color": "severe", "noise": "severe", "artifacts": "undistorted",
                    "blurriness": "undistorted"},
    "overall": "severe",
}
PAIR_ANSWER = {
    "texture_category": "faces",
    "texture_a": "clear",
    "texture_b": "damaged",
    "distortions": {"brightness": "a_more", "color": "equal", "noise": "equal", "artifacts": "equal",
                    "blurriness": "a_much_less"},
    "overall": "a_better",
    "choice": "a",
}
SKY_PAIR_ANSWER = {
    "texture_category": "sky_clouds",
    "texture_a": "barely",
    "texture_b": "barely",
    "distortions": {"brightness": "equal", "color": "a_less", "noise": "a_more", "artifacts": "equal",
                    "blurriness": "equal"},
    "overall": "hard",
    "choice": "tie",
}
EDGES_ANSWER = {
    "texture_category": "object_edges",
    "texture_condition": "clear",
    "distortions": {"brightness": "mild", "color": "undistorted", "noise": "undistorted", "artifacts": "mild",
                    "blurriness": "undistorted"},
    "overall": "mild",
}


def test_description_input_golden(labels):
    """A description questionnaire renders as DepictQA's "Field: value" lines with the vocabulary's labels."""
    assert description_input(DESCRIPTION_ANSWER, labels) == (
        "Texture category: Plants or foliage\n"
        "Texture condition: Barely identifiable\n"
        "Distortions:\n"
        "- Brightness: Undistorted\n"
        "- Color: Severe\n"
        "- Noise: Severe\n"
        "- Artifacts: Undistorted\n"
        "- Blurriness: Undistorted\n"
        "Overall quality: Severe distortion"
    )


def test_comparison_input_golden(labels):
    """A reasoning questionnaire renders each scale label with a plain-words gloss, then verdict and choice."""
    assert comparison_input(PAIR_ANSWER, labels) == (
        "Texture category: Faces\n"
        "Texture of Image A: Clearly identifiable\n"
        "Texture of Image B: Completely damaged\n"
        "Distortions (how much of each Image A has compared with Image B):\n"
        "- Brightness: A slightly worse (Image A has slightly more brightness distortion than Image B)\n"
        "- Color: About equal (Image A and Image B have about the same color distortion)\n"
        "- Noise: About equal (Image A and Image B have about the same noise)\n"
        "- Artifacts: About equal (Image A and Image B have about the same artifacts)\n"
        "- Blurriness: A much better (Image A has much less blurriness than Image B)\n"
        "Overall comparison: A is better than B\n"
        "Forced choice: A is better"
    )


def test_in_context_examples_have_the_exact_shape_of_real_inputs(labels):
    """The examples' inputs are what the renderers produce for the matching answers (no drift between them)."""
    description, comparison = DEFAULT_TEMPLATES["description_paragraph"], DEFAULT_TEMPLATES["comparison_paragraph"]
    assert description.examples[0][0] == description_input(DESCRIPTION_ANSWER, labels)
    assert description.examples[1][0] == description_input(EDGES_ANSWER, labels)
    assert comparison.examples[0][0] == comparison_input(PAIR_ANSWER, labels)
    assert comparison.examples[1][0] == comparison_input(SKY_PAIR_ANSWER, labels)


def test_in_context_examples_obey_their_own_rules(labels):
    """Every default example output passes its template's rules, answer-specific mentions included."""
    answers = {"description_paragraph": [DESCRIPTION_ANSWER, EDGES_ANSWER],
               "comparison_paragraph": [PAIR_ANSWER, SKY_PAIR_ANSWER]}
    for name, template in DEFAULT_TEMPLATES.items():
        for index, (_, output) in enumerate(template.examples):
            if name in answers:
                rules = render_task(template, answers[name][index], labels).rules
            elif template.task == "quantitative":  # each example's own numbers must be stated
                payload = {k: float(v) for k, v in (line.split(": ") for line in template.examples[index][0].splitlines())}
                rules = render_task(template, payload).rules
            else:
                rules = template.rules
            assert validate(output, rules) == [], (name, index)


def test_render_messages_puts_examples_before_the_real_input(labels):
    """System, then each example as user/assistant turns, then the instruction with the real input."""
    template = default_template("description_paragraph")
    rendered = render_task(template, EDGES_ANSWER, labels)
    roles = [message["role"] for message in rendered.messages]
    assert roles == ["system", "user", "assistant", "user", "assistant", "user"]
    assert rendered.messages[0]["content"].startswith("You help image-quality annotators write quality descriptions.")
    assert rendered.messages[-1]["content"] == (
        "Write the quality description paragraph for these questionnaire answers.\n\nInput:\n"
        + description_input(EDGES_ANSWER, labels)
    )
    assert rendered.messages[2]["content"] == template.examples[0][1]
    assert rendered.rules.required_mentions == (("mild",),)


def test_answer_specific_rules(labels):
    """Severe aspects and the verdict word must be mentioned; pair paragraphs must name both images."""
    rules = render_task(default_template("description_paragraph"), DESCRIPTION_ANSWER, labels).rules
    assert rules.required_mentions == (("severe",), ("color", "colour"), ("nois", "grain"))
    pair_rules = render_task(default_template("comparison_paragraph"), {**PAIR_ANSWER, "overall": "a_slightly_better"},
                             labels).rules
    assert ("Image A",) in pair_rules.required_mentions and ("Image B",) in pair_rules.required_mentions
    assert any("slightly" in group for group in pair_rules.required_mentions)


def test_visualcritic_and_feedback_inputs_golden(labels):
    """Metric lines as in VisualCritic Fig. 3; pathway feedback with its level label."""
    assert scores_input({"MOS": 48.857, "Sharpness": 42.5}) == "MOS: 48.86\nSharpness: 42.50"
    assert mos_pair_input(48.86, 75.57) == "MOS of image1: 48.86\nMOS of image2: 75.57"
    rendered = render_task(default_template("visualcritic_mos_comparison"), (48.86, 75.57))
    assert rendered.rules.required_mentions == (("latter", "second"),)
    assert feedback_input({"description": " Blurry. ", "conclusion": "Poor.", "level": 2}, labels) == (
        "Description: Blurry.\nConclusion: Poor.\nQuality level: Poor")


def test_bad_answers_are_refused_with_the_field_named(labels):
    """Unknown keys and missing fields raise ValueError that says which."""
    with pytest.raises(ValueError, match="texture categories 'lava'"):
        description_input({**DESCRIPTION_ANSWER, "texture_category": "lava"}, labels)
    with pytest.raises(ValueError, match="lacks overall"):
        description_input({k: v for k, v in DESCRIPTION_ANSWER.items() if k != "overall"}, labels)
    with pytest.raises(ValueError, match="distortion 'noise'"):
        description_input({**DESCRIPTION_ANSWER, "distortions": {**DESCRIPTION_ANSWER["distortions"], "noise": "a_less"}},
                          labels)


def test_pair_choice_conflict():
    """Choosing A while saying A is worse is flagged; agreeing or tie answers are not."""
    assert pair_choice_conflict({**PAIR_ANSWER, "choice": "b"}) is not None
    assert pair_choice_conflict(PAIR_ANSWER) is None
    assert pair_choice_conflict({**PAIR_ANSWER, "choice": "tie"}) is None


def test_templates_round_trip_and_version():
    """Templates survive JSON storage unchanged; next_version raises the number and applies edits."""
    for template in DEFAULT_TEMPLATES.values():
        assert PromptTemplate.from_dict(json.loads(json.dumps(template.to_dict()))) == template
    edited = default_template("qsit_yes_no").next_version(instruction="Ask four questions.")
    assert (edited.version, edited.label, edited.instruction) == (2, "qsit_yes_no@2", "Ask four questions.")
    with pytest.raises(ValueError, match="task"):
        PromptTemplate(name="x", version=1, task="poetry", system="", instruction="Write.")
    with pytest.raises(KeyError, match="known"):
        default_template("nope")
