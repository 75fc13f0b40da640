"""Output rules: every way an LLM output can break a prompt's rules is reported as a readable problem."""
from __future__ import annotations

import json

import pytest

from modeling.assist.core.validation import OutputRules, parse_json_output, validate, word_count


def test_text_that_follows_the_rules_has_no_problems():
    """An empty problem list means the output passes."""
    rules = OutputRules(forbid_digits=True, min_words=3, max_words=10, required_mentions=(("severe",),))
    assert validate("The image shows severe noise.", rules) == []


def test_each_broken_rule_is_reported():
    """Digits, length and a missing required word each give one problem."""
    rules = OutputRules(forbid_digits=True, min_words=8, required_mentions=(("severe", "heavy"), ("noise",)))
    problems = validate("Quality is 3 of 5.", rules)
    assert problems == [
        "contains digits (3, 5), which this prompt forbids",
        "does not mention “severe” or “heavy”",
        "does not mention “noise”",
        "too short: 5 words, at least 8 expected",
    ]
    assert validate("word " * 11, OutputRules(max_words=10)) == ["too long: 11 words, at most 10 allowed"]
    assert validate("   ", OutputRules()) == ["the output is empty"]


def test_mentions_match_word_starts_case_insensitively():
    """"blur" matches "Blurry" but not "ablur"; a group passes when any alternative appears."""
    rules = OutputRules(required_mentions=(("blur",),))
    assert validate("Blurry edges.", rules) == []
    assert validate("An ablur thing.", rules) == ["does not mention “blur”"]
    assert word_count("Image A's well-exposed sky, 2 clouds.") == 6


def test_json_in_a_code_fence_is_parsed():
    """Models often wrap JSON in ```json fences; one fence is removed."""
    assert parse_json_output('```json\n[{"a": 1}]\n```') == [{"a": 1}]
    assert parse_json_output('[1, 2]') == [1, 2]
    with pytest.raises(ValueError):
        parse_json_output("Here are the questions: [")


def _vqa(*items):
    return json.dumps([dict(zip(("question", "answer", "options"), item)) for item in items])


def test_vqa_yes_no_balance():
    """Yes/no sets must be 1:1 and answered only yes or no."""
    rules = OutputRules(json_shape="vqa", yes_no_balanced=True, min_items=2)
    assert validate(_vqa(("Is it blurry?", "Yes"), ("Is it dark?", "no")), rules) == []
    assert validate(_vqa(("Is it blurry?", "yes"), ("Is it dark?", "yes")), rules) == [
        "yes and no answers must be balanced 1:1; got 2 yes and 0 no"]
    assert "item 2 should be answered yes or no, not 'maybe'" in validate(
        _vqa(("Is it blurry?", "yes"), ("Is it dark?", "maybe")), rules)


def test_vqa_multiple_choice_options_and_question_words():
    """Multiple choice needs enough unique options containing the answer, and what/how questions."""
    rules = OutputRules(json_shape="vqa", min_options=4, question_words=("what", "how"))
    good = _vqa(("What is wrong?", "Noise", ["Blur", "Noise", "Haze", "Banding"]))
    assert validate(good, rules) == []
    problems = validate(_vqa(("Is it noisy?", "Noise", ["Blur", "Blur", "Haze"])), rules)
    assert problems == [
        "item 1 does not start with what / how: 'Is it noisy?'",
        "item 1 has 3 options; at least 4 are needed",
        "item 1 repeats an option",
        "item 1: the answer 'Noise' is not among its options",
    ]
    assert validate(_vqa(("What?", "x")), rules) == ["item 1 needs a list of answer options"]


def test_json_shape_problems():
    """Not JSON, not a list, wrong item counts, malformed items and conversations are reported."""
    vqa = OutputRules(json_shape="vqa", max_items=1)
    assert validate("not json", vqa)[0].startswith("is not valid JSON")
    assert validate('{"question": "q"}', vqa) == ["the JSON must be a list"]
    assert validate(_vqa(("a?", "b"), ("c?", "d")), vqa) == ["has 2 items, at most 1 allowed"]
    assert validate('[{"question": "q"}]', vqa) == ["item 1 has no answer"]
    conversation = OutputRules(json_shape="conversation")
    turns = [{"role": "user", "content": "Why?"}, {"role": "assistant", "content": "Because."}]
    assert validate(json.dumps(turns), conversation) == []
    assert validate(json.dumps(turns[::-1]), conversation) == [
        "turn 1 should be the user's, not 'assistant'",
        "turn 2 should be the assistant's, not 'user'",
        "the conversation must end with the assistant's answer",
    ]
    assert validate('["a", ""]', OutputRules(json_shape="string_list")) == ["item 2 is not a non-empty string"]


def test_rules_round_trip_through_json_and_refuse_nonsense():
    """Rules stored as JSON come back equal; inconsistent rules raise ValueError."""
    rules = OutputRules(forbid_digits=True, json_shape="vqa", yes_no_balanced=True, required_mentions=(("a", "b"),))
    assert OutputRules.from_dict(json.loads(json.dumps(rules.to_dict()))) == rules
    with pytest.raises(ValueError, match="min_words"):
        OutputRules(min_words=10, max_words=5)
    with pytest.raises(ValueError, match="json_shape='vqa'"):
        OutputRules(yes_no_balanced=True)
    with pytest.raises(ValueError, match="unknown output rules"):
        OutputRules.from_dict({"forbid_numbers": True})


def test_required_numbers_each_after_its_name_and_no_other():
    """VisualCritic's quantitative answers: every input number unchanged, after its metric's name, nothing added."""
    rules = OutputRules(required_numbers=(("MOS", 48.86), ("Brightness", 55.4)))
    assert validate("The MOS score of this image is 48.86, and its brightness is 55.40.", rules) == []
    assert validate("Its mean opinion score is 48.86; brightness 55.4.", rules) == []  # an alias, one decimal
    assert validate("The MOS of this image is 48.9 and its brightness is 55.40.", rules) == [
        "states the numbers 48.90, 55.40, but the input's are 48.86, 55.40 (a number was changed, dropped or added)",
        "gives MOS as 48.90, not 48.86",
    ]
    dropped = validate("The MOS of this image is 48.86; it is fairly bright.", rules)
    assert dropped == [
        "states the numbers 48.86, but the input's are 48.86, 55.40 (a number was changed, dropped or added)",
        "does not name Brightness",
    ]
    swapped = validate("The MOS is 55.40 and the brightness is 48.86.", rules)
    assert swapped == ["gives MOS as 55.40, not 48.86", "gives Brightness as 48.86, not 55.40"]
    added = validate("On a 0 to 100 scale, the MOS is 48.86 and the brightness is 55.40.", rules)
    assert added == ["states the numbers 0.00, 48.86, 55.40, 100.00, but the input's are 48.86, 55.40 (a number was changed, dropped or added)"]
    assert validate("Most viewers: brightness 55.40, MOS 48.86.", rules) == []  # "Most" does not name the MOS
    stored = OutputRules.from_dict(json.loads(json.dumps(rules.to_dict())))
    assert stored == rules
