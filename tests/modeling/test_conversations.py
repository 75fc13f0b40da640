"""Tests for the conversation builders: golden files per conversation type, eq. 1 levels, mixing."""

from __future__ import annotations

import json
import os
from collections import Counter
from pathlib import Path

import numpy as np
import pytest

from modeling import conversations as conv

GOLDEN = Path(__file__).parent / "golden"
# Set LOUPE_UPDATE_GOLDEN=1 to rewrite the golden files after a deliberate format change.
UPDATE = os.environ.get("LOUPE_UPDATE_GOLDEN") == "1"


def _check_golden(name: str, conversations) -> None:
    data = [c.to_dict() for c in conversations]
    path = GOLDEN / f"{name}.json"
    if UPDATE:
        path.write_text(json.dumps(data, indent=2, ensure_ascii=False) + "\n")
    assert data == json.loads(path.read_text())


SCORED = [
    conv.ScoredImage("koniq/1.jpg", 1.0, "koniq"),
    conv.ScoredImage("koniq/2.jpg", 2.2, "koniq"),
    conv.ScoredImage("koniq/3.jpg", 3.0, "koniq"),
    conv.ScoredImage("koniq/4.jpg", 4.5, "koniq"),
    conv.ScoredImage("spaq/1.jpg", 10.0, "spaq"),
    conv.ScoredImage("spaq/2.jpg", 90.0, "spaq"),
]


def test_golden_relativity_from_judgements():
    """Pair judgements become 'which is better' conversations answered first/second (golden file)."""
    judgements = [
        conv.PairJudgement("a.jpg", "b.jpg", "a"),
        conv.PairJudgement("c.jpg", "d.jpg", "b"),
        conv.PairJudgement("e.jpg", "f.jpg", "a"),
    ]
    _check_golden("relativity_judgements", conv.relativity_from_judgements(judgements, rng=np.random.default_rng(0)))


def test_golden_relativity_from_scores():
    """MOS pairs are drawn within one source and labelled by the higher score (golden file)."""
    out = conv.relativity_from_scores(SCORED, n_pairs=4, rng=np.random.default_rng(1))
    _check_golden("relativity_scores", out)
    for c in out:
        a, b = (next(s for s in SCORED if s.image == key) for key in c.images)
        assert a.source == b.source
        assert (" first " in c.answer) == (a.score > b.score)


def test_golden_scoring():
    """Scores become 'The quality of the image is <level>.' per source's range (golden file)."""
    config = conv.ConversationConfig(scoring_system_prompt=True)
    _check_golden("scoring", conv.scoring_conversations(SCORED, rng=np.random.default_rng(2), config=config))


def test_golden_description():
    """Pathway feedback and revised paragraphs are the answers of describe-quality turns (golden file)."""
    items = [
        conv.ImageDescription("p.jpg", "The sky is noisy and the edges are soft. Thus the quality is poor."),
        conv.ImageDescription("q.jpg", "  Sharp, well exposed, vivid colours; the quality is excellent.  "),
    ]
    _check_golden("description", conv.description_conversations(items, rng=np.random.default_rng(3)))


def test_golden_comparison_reasoning():
    """Comparison reasoning wraps each image in its unique paper 002 tag (golden file)."""
    items = [
        conv.ComparisonReasoning("a.jpg", "b.jpg", "Image A is sharper; Image B is noisy. A is better.", "ref.jpg"),
        conv.ComparisonReasoning("c.jpg", "d.jpg", "Image B keeps the texture. B is better."),
    ]
    out = conv.comparison_reasoning_conversations(items, rng=np.random.default_rng(4))
    _check_golden("comparison_reasoning", out)
    user = out[0].messages[0]["content"]
    texts = [seg.get("text") for seg in user[:9]]
    assert texts == ["<Img-Reference>", None, "</Img-Reference>", "<Img-A>", None, "</Img-A>", "<Img-B>", None, "</Img-B>"]
    assert out[0].images == ("ref.jpg", "a.jpg", "b.jpg")


def test_golden_authenticity():
    """Authenticity labels become yes/no AI-generated answers with <AUTHENTICITY> (golden file)."""
    labels = [conv.AuthenticityLabel("photo.jpg", True), conv.AuthenticityLabel("gen.png", False)]
    config = conv.ConversationConfig(short_answer=True)
    _check_golden("authenticity", conv.authenticity_conversations(labels, rng=np.random.default_rng(5), config=config))


def test_golden_llm_written_answers():
    """LLM-written answers (paper 000, Fig. 3): an authenticity sentence replaces the fixed answer; a MOS-pair
    sentence adds to the fixed relativity answer the pair scorer reads only what is not the verdict again (golden file)."""
    rng = np.random.default_rng(6)
    labels = [conv.AuthenticityLabel("gen.png", False, sentence="It looks very much like an AI-created image.")]
    pairs = [
        conv.SentencePair("koniq/1.jpg", "koniq/2.jpg", False, "The latter image has clearly superior quality."),
        conv.SentencePair("koniq/3.jpg", "koniq/4.jpg", True, "The first image is sharper than the second. Its colours are richer."),
        conv.SentencePair("koniq/5.jpg", "koniq/6.jpg", True, "The latter image is better. Its colours are richer."),
    ]
    out = conv.authenticity_conversations(labels, rng=rng) + conv.relativity_from_sentences(pairs, rng=rng)
    _check_golden("llm_answers", out)
    assert out[0].answer == "It looks very much like an AI-created image."
    assert out[1].answer == conv.pair_answer(False)  # the verdict once, not "... The latter image has ... superior quality."
    assert out[2].answer == conv.pair_answer(True) + " Its colours are richer."
    assert out[3].answer == conv.pair_answer(True)  # a sentence contradicting the MOS order is dropped whole
    with pytest.raises(ValueError):
        conv.SentencePair("a", "b", True, "  ")


def test_extra_questions_join_the_pool_but_not_the_scorers_question():
    """LLM paraphrases are drawn like the built-in ones; without an rng the scorer's first question is unchanged."""
    extra = ("Please predict the MOS of this picture.",)
    config = conv.ConversationConfig(extra_questions=(("scoring", extra),))
    rng = np.random.default_rng(0)
    drawn = {conv.instruction("scoring", config, rng) for _ in range(200)}
    assert f"{conv.TASK_IDENTIFIERS['scoring']} {extra[0]}" in drawn
    assert conv.instruction("scoring", config) == conv.instruction("scoring")
    with pytest.raises(ValueError):
        conv.ConversationConfig(extra_questions=(("poetry", extra),))


@pytest.mark.parametrize(
    "score, level",
    [(0.0, "bad"), (20.0, "bad"), (20.001, "poor"), (40.0, "poor"), (50.0, "fair"), (60.0, "fair"),
     (79.9, "good"), (80.0, "good"), (80.5, "excellent"), (100.0, "excellent"), (120.0, "excellent"), (-5.0, "bad")],
)
def test_level_from_score_equal_intervals(score, level):
    """Eq. 1 of paper 001: five equal, left-open intervals; the ends clamp."""
    assert conv.level_from_score(score, low=0.0, high=100.0) == level


def test_level_from_score_rejects_empty_range():
    """A range with high <= low is refused."""
    with pytest.raises(ValueError):
        conv.level_from_score(1.0, low=2.0, high=2.0)


def test_levels_from_scores_uses_min_and_max():
    """Without a range the scores' own min and max are the ends of the scale."""
    assert conv.levels_from_scores([1, 2, 3, 4, 5]) == ["bad", "poor", "fair", "good", "excellent"]


def test_instruction_paraphrases_are_seeded():
    """The same seed draws the same questions; the pool has ten paraphrases per task."""
    assert all(len(pool) == 10 and len(set(pool)) == 10 for pool in conv.QUESTION_POOLS.values())
    first = [conv.instruction("scoring", rng=np.random.default_rng(7)) for _ in range(3)]
    second = [conv.instruction("scoring", rng=np.random.default_rng(7)) for _ in range(3)]
    assert first == second
    many = {conv.instruction("scoring", rng=np.random.default_rng(s)) for s in range(40)}
    assert len(many) > 5
    assert conv.instruction("scoring") == "<IQA_QUANT> " + conv.QUESTION_POOLS["scoring"][0]


def test_relativity_order_is_shuffled_and_labels_follow():
    """Shuffling who is shown first keeps the answer right and balances first/second."""
    judgements = [conv.PairJudgement(f"a{i}", f"b{i}", "a") for i in range(200)]
    out = conv.relativity_from_judgements(judgements, rng=np.random.default_rng(0))
    for c in out:
        winner_first = c.images[0].startswith("a")
        assert (" first " in c.answer) == winner_first
    firsts = sum(" first " in c.answer for c in out)
    assert 70 < firsts < 130


def test_mix_conversations_follows_ratios():
    """A stage mix draws tasks in the given proportions and reuses small pools."""
    rng = np.random.default_rng(0)
    scoring = conv.scoring_conversations(SCORED, rng=rng)
    pairs = conv.relativity_from_scores(SCORED, n_pairs=10, rng=rng)
    out = conv.mix_conversations(
        {"scoring": scoring, "relativity": pairs}, mix={"scoring": 0.75, "relativity": 0.25}, n_conversations=40, rng=rng
    )
    assert Counter(c.task for c in out) == {"scoring": 30, "relativity": 10}


def test_curriculum_stages_in_order():
    """The default curriculum runs relativity, then scoring, then descriptions."""
    rng = np.random.default_rng(0)
    pools = {
        "relativity": conv.relativity_from_scores(SCORED, n_pairs=6, rng=rng),
        "scoring": conv.scoring_conversations(SCORED, rng=rng),
        "description": conv.description_conversations([conv.ImageDescription("x", "Fine.")], rng=rng),
    }
    stages = conv.curriculum_conversations(pools, rng=rng)
    assert [name for name, _ in stages] == ["relativity", "scoring", "descriptions"]
    assert {c.task for c in stages[0][1]} == {"relativity"}
    assert "scoring" in {c.task for c in stages[1][1]}


def test_curriculum_stage_validation():
    """Unknown tasks and negative weights are refused."""
    with pytest.raises(ValueError):
        conv.CurriculumStage("x", {"nonsense": 1.0})
    with pytest.raises(ValueError):
        conv.CurriculumStage("x", {"scoring": -1.0})


def test_conversation_round_trips_through_dict():
    """to_dict/from_dict keep a conversation intact."""
    c = conv.scoring_conversations(SCORED[:2], rng=np.random.default_rng(0))[0]
    assert conv.Conversation.from_dict(json.loads(json.dumps(c.to_dict()))) == c
