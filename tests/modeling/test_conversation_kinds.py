"""The conversation kinds beyond paper 000's five tasks (golden files), authenticity answer forms, and Q-SiT's group mixing."""
from __future__ import annotations

from collections import Counter

import numpy as np
import pytest

from modeling import conversation_kinds as kinds
from modeling import conversations as conv
from modeling.conversation_prompts import AUTHENTICITY_FORMS, BRIEF_PROMPT, QUESTION_POOLS
from tests.modeling.test_conversations import _check_golden


def test_golden_perception_from_vqa_items():
    """Reviewed yes/no, multiple-choice and conversation items become perception conversations (golden file)."""
    items = [
        kinds.VQAExample("koniq/1.jpg", question="Is the image blurry?", answer="Yes"),
        kinds.VQAExample("koniq/1.jpg", question="What distortion is most visible?", answer="noise",
                         options=("noise", "blur", "overexposure", "compression")),
        kinds.VQAExample("koniq/2.jpg", turns=(("user", "How is the lighting?"), ("assistant", "Dim, with a dark background."),
                                               ("user", "Is the subject sharp?"), ("assistant", "Yes, the face is in focus."))),
    ]
    out = kinds.perception_conversations(items, rng=np.random.default_rng(0))
    _check_golden("perception", out)
    assert [c.task for c in out] == ["perception"] * 3
    assert "A. " in out[1].messages[0]["content"][1]["text"] and out[1].answer == "noise"
    assert len(out[2].messages) == 4 and out[2].messages[0]["content"][0] == {"type": "image", "index": 0}


def test_vqa_examples_refuse_broken_shapes():
    """A conversation must alternate user/assistant from a user turn to an answer; a question needs an answer."""
    with pytest.raises(ValueError):
        kinds.VQAExample("a", turns=(("assistant", "hi"), ("user", "x")))
    with pytest.raises(ValueError):
        kinds.VQAExample("a", turns=(("user", "a"), ("user", "b"), ("assistant", "c")))
    with pytest.raises(ValueError):
        kinds.VQAExample("a", question="Is it sharp?", answer=" ")


def test_golden_numeric_mos_and_attributes():
    """MOS and the five attribute scores become VisualCritic's numeric answers (golden file)."""
    items = [
        kinds.NumericScores("koniq/1.jpg", 72.346),
        kinds.NumericScores("koniq/2.jpg", 31.0, (("brightness", 40.0), ("colorfulness", 55.5), ("contrast", 60.0),
                                                  ("noisiness", 20.25), ("sharpness", 70.0))),
    ]
    out = kinds.numeric_conversations(items, rng=np.random.default_rng(1))
    _check_golden("numeric", out)
    assert out[0].answer == "The MOS of the image is 72.35."
    assert out[1].answer.startswith("The MOS of the image is 31.00; its brightness is 40.00, colorfulness is 55.50")
    with pytest.raises(ValueError):
        kinds.NumericScores("x", 50.0, (("saturation", 1.0),))


def test_golden_full_reference_description_keeps_the_reference():
    """A full-reference image's description shows its reference first, in paper 002's tags (golden file)."""
    items = [conv.ImageDescription("dist/1.png", "Heavy blocking on the sky compared with the reference.", reference="ref/1.png"),
             conv.ImageDescription("plain.png", "Sharp and well exposed.")]
    out = conv.description_conversations(items, rng=np.random.default_rng(2))
    _check_golden("description_reference", out)
    texts = [seg.get("text") for seg in out[0].messages[0]["content"]]
    assert out[0].images == ("ref/1.png", "dist/1.png")
    assert texts[:3] == ["<Img-Reference>", None, "</Img-Reference>"] and texts[3:6] == ["<Img-A>", None, "</Img-A>"]
    assert out[1].images == ("plain.png",)


def test_golden_brief_comparison_answers():
    """A chosen comparison gets a brief conversation (short-answer prompt, answer from the pool); no choice, none (golden file)."""
    items = [
        conv.ComparisonReasoning("a.png", "b.png", "A is sharper; B is noisy.", reference="r.png", winner="a"),
        conv.ComparisonReasoning("c.png", "d.png", "D keeps more detail.", winner="b"),
        conv.ComparisonReasoning("e.png", "f.png", "They look alike.", winner=None),
    ]
    rng = np.random.default_rng(3)
    detailed = conv.comparison_reasoning_conversations(items, rng=rng)
    brief = kinds.brief_comparison_conversations(items, rng=rng)
    _check_golden("brief_answers", brief)
    assert len(brief) == 2 and brief[0].images == ("r.png", "a.png", "b.png")
    assert all(BRIEF_PROMPT in c.messages[0]["content"][-1]["text"] for c in brief)
    assert "A" in brief[0].answer and "B" in brief[1].answer
    asked = detailed + brief  # about half the comparison questions carry the short-answer prompt
    assert sum(BRIEF_PROMPT in c.messages[0]["content"][-1]["text"] for c in asked) == 2


def test_golden_general_records():
    """LLaVA-style records become general conversations with one image segment per <image> (golden file)."""
    records = [
        {"id": "1", "image": "coco/1.jpg", "conversations": [
            {"from": "human", "value": "<image>\nWhat is on the table?"}, {"from": "gpt", "value": "A red teapot."},
            {"from": "human", "value": "What colour is the wall?"}, {"from": "gpt", "value": "White."}]},
        {"id": "2", "conversations": [{"from": "human", "value": "Name a primary colour."}, {"from": "gpt", "value": "Blue."}]},
    ]
    out = kinds.general_conversations(records, image_key=lambda path: f"general:{path}")
    _check_golden("general", out)
    assert out[0].images == ("general:coco/1.jpg",) and out[1].images == ()


@pytest.mark.parametrize("record, message", [
    ({"image": "a.jpg", "conversations": [{"from": "human", "value": "No token"}, {"from": "gpt", "value": "x"}]}, "0 <image> tokens for 1"),
    ({"conversations": [{"from": "gpt", "value": "x"}, {"from": "human", "value": "y"}]}, "expected a non-empty \"human\" turn"),
    ({"conversations": [{"from": "human", "value": "x"}]}, "in pairs"),
    ({"image": 3, "conversations": []}, "must be a path"),
    ("text", "not an object"),
])
def test_general_records_are_refused_with_the_record_named(record, message):
    """A broken record is refused with its number and what is wrong."""
    with pytest.raises(kinds.GeneralDataError, match="record 1") as raised:
        kinds.general_conversations([record], image_key=str)
    assert message in str(raised.value)


# Every question of the pool, with the answer a photograph and an AI-generated image must get.
AUTHENTICITY_EXPECTED = {
    "Is this image an AI-generated image or not?": ("No", "Yes"),
    "Was this image generated by an AI model?": ("No", "Yes"),
    "Is this a real photograph or an AI-generated image?": ("It is a real photograph", "It is an AI-generated image"),
    "Tell me whether this picture is AI-generated.": ("This image is a real photograph", "This image is AI-generated"),
    "Is this image synthetic or a photograph?": ("It is a real photograph", "It is an AI-generated image"),
    "Could this image have been produced by a generative model?": ("No", "Yes"),
    "Determine whether this image is AI-generated.": ("This image is a real photograph", "This image is AI-generated"),
    "Is this picture a photograph taken with a camera?": ("Yes", "No"),
    "Does this image come from an AI image generator?": ("No", "Yes"),
    "Is the image authentic or generated by AI?": ("It is a real photograph", "It is an AI-generated image"),
}


@pytest.mark.parametrize("index", range(len(QUESTION_POOLS["authenticity"])))
@pytest.mark.parametrize("is_photograph", [True, False])
def test_each_authenticity_phrasing_gets_its_correct_answer(index, is_photograph):
    """Each question phrasing is answered in its own form and with the label's truth (the camera question is not inverted)."""
    question = QUESTION_POOLS["authenticity"][index]
    expected = AUTHENTICITY_EXPECTED[question][0 if is_photograph else 1]
    answer = conv.authenticity_answer(is_photograph, AUTHENTICITY_FORMS[index])
    assert answer.startswith(expected)
    # and the builder pairs that question with that answer
    rng = np.random.default_rng(0)
    seen = {}
    for _ in range(40):
        c = conv.authenticity_conversations([conv.AuthenticityLabel("x", is_photograph)], rng=rng)[0]
        seen[c.messages[0]["content"][1]["text"].removeprefix("<AUTHENTICITY> ")] = c.answer
    assert question in seen and seen[question].startswith(expected)


def test_llm_authenticity_sentences_only_answer_statement_questions():
    """An LLM sentence (a statement) is never the answer of a yes/no question."""
    rng = np.random.default_rng(4)
    label = conv.AuthenticityLabel("x", False, sentence="The smooth textures suggest an AI-generated image.")
    allowed = {q for q, form in zip(QUESTION_POOLS["authenticity"], AUTHENTICITY_FORMS) if form in ("either", "statement")}
    for _ in range(30):
        c = conv.authenticity_conversations([label], rng=rng)[0]
        assert c.messages[0]["content"][1]["text"].removeprefix("<AUTHENTICITY> ") in allowed


def _pool(task: str, n: int) -> list[conv.Conversation]:
    return [conv.Conversation(task, (f"{task}{i}",), (
        {"role": "user", "content": [{"type": "image", "index": 0}, {"type": "text", "text": "q"}]},
        {"role": "assistant", "content": [{"type": "text", "text": "a"}]})) for i in range(n)]


def test_mix_groups_follow_the_configured_ratios_within_five_percent():
    """Algorithm 1's mixture: the built set's group shares are within ±5% of the configured D1:D2:D3."""
    pools = {"scoring": _pool("scoring", 120), "relativity": _pool("relativity", 80), "perception": _pool("perception", 30),
             "description": _pool("description", 40), "general": _pool("general", 25)}
    out, composition = kinds.mix_groups(pools, ratios=kinds.QSIT_GROUP_RATIOS, n_conversations=None, rng=np.random.default_rng(0))
    total = sum(kinds.QSIT_GROUP_RATIOS.values())
    group_of = {t: g for g, tasks in kinds.GROUP_TASKS.items() for t in tasks}
    built = Counter(group_of[c.task] for c in out)
    for group, ratio in kinds.QSIT_GROUP_RATIOS.items():
        assert abs(built[group] / len(out) - ratio / total) <= 0.05
        assert composition["actual"][group] == pytest.approx(built[group] / len(out), abs=1e-4)
    assert len(out) == 295 and composition["missing"] == []


def test_mix_groups_without_general_data_keep_the_others_proportions():
    """A group without data is named as missing; the others keep their ratio to each other."""
    pools = {"scoring": _pool("scoring", 50), "perception": _pool("perception", 50)}
    out, composition = kinds.mix_groups(pools, ratios={"assessment": 1.0, "perception": 2.5, "general": 1.04},
                                        n_conversations=350, rng=np.random.default_rng(1))
    assert composition["missing"] == ["general"] and composition["counts"] == {"assessment": 100, "perception": 250, "general": 0}
    with pytest.raises(ValueError, match="unknown groups"):
        kinds.mix_groups(pools, ratios={"vision": 1.0}, n_conversations=None, rng=np.random.default_rng(1))
