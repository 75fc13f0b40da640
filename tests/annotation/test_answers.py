"""Answer validation, screen <-> item terms, gold checks and the questionnaire schema (no database)."""
from types import SimpleNamespace

import pytest
from django.core.exceptions import ValidationError

from annotation.services.answers import (
    answer_clean,
    answer_for_screen,
    gold_answer_clean,
    gold_check,
    questionnaire_schema,
)

PROJECT = SimpleNamespace(pair_allow_tie=True, pair_reasoning=False)
NO_TIE = SimpleNamespace(pair_allow_tie=False, pair_reasoning=False)
REASONING = SimpleNamespace(pair_allow_tie=True, pair_reasoning=True)

DESCRIPTION_TEXT = "The left part is underexposed and there is visible noise in the sky."
CONCLUSION_TEXT = "Overall the quality is poor."
DISTORTIONS = {"brightness": "mild", "color": "undistorted", "noise": "severe", "artifacts": "undistorted", "blurriness": "mild"}
DESCRIPTION = {"texture_category": "sky_clouds", "texture_condition": "barely", "distortions": DISTORTIONS, "overall": "severe"}
COMPARISON = {"brightness": "a_much_less", "color": "equal", "noise": "a_less", "artifacts": "a_more", "blurriness": "a_much_more"}
REASONING_ANSWER = {"texture_category": "faces", "texture_a": "clear", "texture_b": "damaged", "distortions": COMPARISON, "overall": "a_slightly_better"}


@pytest.mark.parametrize(
    "kind, answer, expected",
    [
        ("rating", {"level": 1}, {"level": 1}),
        ("rating", {"level": 5}, {"level": 5}),
        ("pathway", {"description": f"  {DESCRIPTION_TEXT}  ", "conclusion": CONCLUSION_TEXT},
         {"description": DESCRIPTION_TEXT, "conclusion": CONCLUSION_TEXT}),
        ("pathway", {"description": DESCRIPTION_TEXT, "conclusion": CONCLUSION_TEXT, "level": 2},
         {"description": DESCRIPTION_TEXT, "conclusion": CONCLUSION_TEXT, "level": 2}),
        ("description", DESCRIPTION, DESCRIPTION),
        ("pair", {"choice": "a"}, {"choice": "a"}),
        ("pair", {"choice": "tie"}, {"choice": "tie"}),
    ],
)
def test_valid_answers_are_kept(kind, answer, expected):
    """Well-formed answers of every kind come back as given (text stripped), in item terms when not swapped."""
    assert answer_clean(kind=kind, answer=answer, project=PROJECT, swap=False).answer == expected


@pytest.mark.parametrize(
    "kind, answer, project, field, message",
    [
        ("rating", {}, PROJECT, "level", "Choose a quality level"),
        ("rating", {"level": 0}, PROJECT, "level", "from 1 (bad) to 5"),
        ("rating", {"level": 6}, PROJECT, "level", "from 1 (bad) to 5"),
        ("rating", {"level": "3"}, PROJECT, "level", "whole number"),
        ("rating", {"level": 3.0}, PROJECT, "level", "whole number"),
        ("rating", {"level": True}, PROJECT, "level", "whole number"),
        ("rating", {"level": 3, "score": 70}, PROJECT, "score", "Unexpected field"),
        ("rating", [3], PROJECT, "answer", "must be an object"),
        ("pathway", {"conclusion": CONCLUSION_TEXT}, PROJECT, "description", "in at least 40 characters"),
        ("pathway", {"description": "blurry", "conclusion": CONCLUSION_TEXT}, PROJECT, "description",
         "Describe the low-level attributes (blur, noise, exposure…) in at least 40 characters."),
        ("pathway", {"description": " " * 60, "conclusion": CONCLUSION_TEXT}, PROJECT, "description", "at least 40"),
        ("pathway", {"description": DESCRIPTION_TEXT, "conclusion": "bad"}, PROJECT, "conclusion", "at least 15 characters"),
        ("pathway", {"description": DESCRIPTION_TEXT, "conclusion": 12345}, PROJECT, "conclusion", "must be text"),
        ("pathway", {"description": DESCRIPTION_TEXT, "conclusion": CONCLUSION_TEXT, "level": 9}, PROJECT, "level", "1 (bad) to 5"),
        ("description", {**DESCRIPTION, "texture_category": "clouds"}, PROJECT, "texture_category", "Unknown texture category"),
        ("description", {**DESCRIPTION, "overall": None}, PROJECT, "overall", "Choose the overall distortion"),
        ("description", {**DESCRIPTION, "distortions": {**DISTORTIONS, "noise": "extreme"}}, PROJECT, "distortions.noise", "Unknown severity"),
        ("description", {**DESCRIPTION, "distortions": {k: v for k, v in DISTORTIONS.items() if k != "color"}}, PROJECT,
         "distortions.color", "Choose the severity"),
        ("description", {**DESCRIPTION, "distortions": "mild"}, PROJECT, "distortions", "must be an object"),
        ("description", {**DESCRIPTION, "distortions": {**DISTORTIONS, "haze": "mild"}}, PROJECT, "distortions.haze", "Unexpected"),
        ("pair", {}, PROJECT, "choice", "Choose the better image"),
        ("pair", {"choice": "left"}, PROJECT, "choice", "Unknown better image"),
        ("pair", {"choice": 1}, PROJECT, "choice", "Unknown better image"),
        ("pair", {"choice": "tie"}, NO_TIE, "choice", "Unknown better image"),
        ("pair", {"choice": "a", "reasoning": REASONING_ANSWER}, PROJECT, "reasoning", "does not ask"),
        ("pair", {"choice": "a"}, REASONING, "reasoning", "Answer the comparison questionnaire"),
        ("pair", {"choice": "a", "reasoning": {**REASONING_ANSWER, "overall": "a_best"}}, REASONING, "reasoning.overall", "Unknown"),
        ("pair", {"choice": "a", "reasoning": {**REASONING_ANSWER, "distortions": {**COMPARISON, "noise": "a_equal"}}}, REASONING,
         "reasoning.distortions.noise", "Unknown comparison"),
        ("pair", {"choice": "a", "reasoning": "better"}, REASONING, "reasoning", "must be an object"),
    ],
)
def test_invalid_answers_are_refused_with_a_message_per_field(kind, answer, project, field, message):
    """Wrong types, unknown keys or choices, out-of-range levels, missing parts and short text name the field and say why."""
    with pytest.raises(ValidationError) as caught:
        answer_clean(kind=kind, answer=answer, project=project, swap=False)
    errors = caught.value.message_dict
    assert field in errors, errors
    assert message in " ".join(errors[field]), errors


@pytest.mark.parametrize(
    "choice, overall, agrees",
    [
        ("a", "a_better", True), ("a", "a_slightly_better", True), ("a", "hard", True),
        ("a", "a_slightly_worse", False), ("a", "a_worse", False),
        ("b", "a_worse", True), ("b", "a_slightly_worse", True), ("b", "hard", True),
        ("b", "a_better", False), ("b", "a_slightly_better", False),
        ("tie", "hard", True), ("tie", "a_slightly_better", True),
    ],
)
def test_overall_comparison_must_agree_with_the_choice(choice, overall, agrees):
    """An overall comparison that says the opposite of the choice is refused on reasoning.overall, naming both answers."""
    answer = {"choice": choice, "reasoning": {**REASONING_ANSWER, "overall": overall}}
    if agrees:
        assert answer_clean(kind="pair", answer=answer, project=REASONING, swap=True).answer["reasoning"]["overall"]
        return
    with pytest.raises(ValidationError) as caught:
        answer_clean(kind="pair", answer=answer, project=REASONING, swap=False)
    message = " ".join(caught.value.message_dict["reasoning.overall"])
    assert "agree" in message and ("B (right) is better" if choice == "b" else "A (left) is better") in message


def test_comparison_labels_follow_the_papers_direction():
    """Each comparison label says in words which image is better: "A much better" is the key for A far less distorted."""
    from annotation.vocabulary import COMPARISON_SCALE

    labels = dict(COMPARISON_SCALE)
    assert labels["a_much_less"] == "A much better" and labels["a_more"] == "A slightly worse"
    assert not any(symbol in label for label in labels.values() for symbol in "<>≪≫")


def test_all_problems_are_reported_at_once():
    """A questionnaire with several mistakes reports each of them, not only the first."""
    with pytest.raises(ValidationError) as caught:
        answer_clean(kind="description", answer={"overall": "worst"}, project=PROJECT, swap=False)
    assert {"texture_category", "texture_condition", "distortions", "overall"} <= set(caught.value.message_dict)


def test_swapped_pair_is_stored_in_item_terms_and_shown_back_in_screen_terms():
    """With B shown on the left, choice, texture conditions and every comparison are mirrored, and back again."""
    screen = {"choice": "a", "reasoning": REASONING_ANSWER}
    clean = answer_clean(kind="pair", answer=screen, project=REASONING, swap=True)

    assert clean.choice == "b"
    assert clean.answer["reasoning"] == {
        "texture_category": "faces", "texture_a": "damaged", "texture_b": "clear",
        "distortions": {"brightness": "a_much_more", "color": "equal", "noise": "a_more", "artifacts": "a_less", "blurriness": "a_much_less"},
        "overall": "a_slightly_worse",
    }
    assert answer_for_screen(kind="pair", answer=clean.answer, swap=True) == screen
    assert answer_clean(kind="pair", answer={"choice": "tie"}, project=PROJECT, swap=True).choice == "tie"


def test_level_and_choice_columns_are_filled():
    """The clean answer carries the level (rating, pathway) and the pair choice for the judgement's columns."""
    assert answer_clean(kind="rating", answer={"level": 4}, project=PROJECT, swap=False).level == 4
    pathway = answer_clean(kind="pathway", answer={"description": DESCRIPTION_TEXT, "conclusion": CONCLUSION_TEXT}, project=PROJECT, swap=False)
    assert pathway.level is None and pathway.choice == ""
    assert answer_clean(kind="pair", answer={"choice": "b"}, project=PROJECT, swap=False).choice == "b"


@pytest.mark.parametrize(
    "kind, answer, gold, expected",
    [
        ("rating", {"level": 4}, {"level": 5}, True),
        ("rating", {"level": 3}, {"level": 5}, False),
        ("pathway", {"level": 2}, {"level": 1}, True),
        ("pathway", {"description": "x"}, {"level": 1}, None),
        ("pair", {"choice": "a"}, {"choice": "a"}, True),
        ("pair", {"choice": "tie"}, {"choice": "a"}, False),
        ("description", DESCRIPTION, {"overall": "severe"}, True),
        ("description", DESCRIPTION, {"overall": "mild"}, False),
        ("rating", {"level": 4}, {}, None),
    ],
)
def test_gold_check(kind, answer, gold, expected):
    """Levels count within one of gold, pairs by choice, descriptions by overall; None when gold does not say."""
    assert gold_check(kind, answer, gold) is expected


@pytest.mark.parametrize(
    "kind, gold",
    [("rating", {"level": 0}), ("rating", {"level": True}), ("pair", {"choice": "left"}), ("description", {"overall": "bad"}),
     ("rating", {"level": 3, "extra": 1}), ("rating", "5")],
)
def test_bad_gold_answers_are_refused(kind, gold):
    """A gold answer must use the kind's key and one of its values."""
    with pytest.raises(ValidationError):
        gold_answer_clean(kind=kind, gold_answer=gold)


def test_questionnaire_schema_lists_choices_and_follows_the_project():
    """The schema offers a tie and the reasoning questionnaire only when the project does, with keys and labels."""
    pair = questionnaire_schema("pair", REASONING)
    choice = pair["fields"][0]
    assert [c["key"] for c in choice["choices"]] == ["a", "b", "tie"]
    assert pair["fields"][1]["name"] == "reasoning" and pair["fields"][1]["required"] is True
    assert [c["key"] for c in questionnaire_schema("pair", NO_TIE)["fields"][0]["choices"]] == ["a", "b"]
    rating = questionnaire_schema("rating", PROJECT)["fields"][0]
    assert rating["type"] == "level" and [c["label"] for c in rating["choices"]] == ["Bad", "Poor", "Fair", "Good", "Excellent"]
    pathway = questionnaire_schema("pathway", PROJECT)
    assert pathway["fields"][0]["min_length"] == 40 and "blur" in pathway["helpers"]["attributes"]
    description = questionnaire_schema("description", PROJECT)
    assert len(description["fields"][0]["choices"]) == 11
    assert [f["name"] for f in description["fields"][2]["fields"]] == ["brightness", "color", "noise", "artifacts", "blurriness"]
