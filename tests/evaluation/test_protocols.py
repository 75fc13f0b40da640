"""The prompting systems' core: prompts, answer parsing on realistic answers, design and aggregation maths."""
import numpy as np
import pytest

from evaluation import protocols as p
from evaluation.scaling import thurstone_map_pairwise

SINGLE_ANSWERS = [
    ("63", 63.0),
    ("  72.5\n", 72.5),
    ("Score: 80", 80.0),
    ("I would rate this image 7/10.", 70.0),
    ("The quality score is 4 out of 5.", 80.0),
    ("85%", 85.0),
    ("Quality: good", 75.0),
    ("The image quality is excellent.", 100.0),
    ("Score: 64,5", 64.5),
    (
        "Sharpness: the edges are soft. Noise: 2 visible grain patches. Exposure is fine.\n"
        "Overall the image is fair.\nScore: 48",
        48.0,
    ),
    ("The 1920x1080 photo is blurry; overall I would rate it 35 out of 100.", 35.0),
    ("Final score: 90/100", 90.0),
]
SINGLE_UNPARSEABLE = [
    ("", "empty"),
    ("I cannot assess images.", "no score"),
    ("Score: 150", "outside 0-100"),
    ("It has 3 artifacts and 2 blurry regions", "no single score"),
    ("It is good in parts and bad elsewhere", "several quality levels"),
]
DOUBLE_ANSWERS = [
    ("Image A", "a"),
    ("image b", "b"),
    ("Same", "same"),
    ("B", "b"),
    ("The first image.", "a"),
    ("The second one has better quality.", "b"),
    ("They are comparable.", "same"),
    ("Image A is sharper than Image B.", "a"),
    ("Image B is worse than Image A because of heavy noise.", "a"),
    ("Image A shows blur, while Image B has noise.\nAnswer: Image B", "b"),
    ("Both have mild blur and equal exposure. Answer: Same", "same"),
    ("Answer: A", "a"),
]
DOUBLE_UNPARSEABLE = [
    ("I like the colours.", "neither"),
    ("Image A has noise and Image B has blur.", "both images"),
    ("", "empty"),
]
MULTIPLE_ANSWERS = [
    ("C > A > B > D", (2, 0, 1, 3)),
    ("Ranking: D, C, B, A", (3, 2, 1, 0)),
    ("1. Image C\n2. Image A\n3. Image D\n4. Image B", (2, 0, 3, 1)),
    ("Image B shows blur; Image A is clean.\nRanking: A > C > D > B", (0, 2, 3, 1)),
    ("image b > image a > image d > image c", (1, 0, 3, 2)),
]
MULTIPLE_UNPARSEABLE = [
    ("C > A > B", "3 of the 4"),
    ("C > A > E > B", "only A-D"),
    ("C > A > A > B", "more than once"),
    ("They all look fine to me.", "no ranking"),
]


@pytest.mark.parametrize("text,value", SINGLE_ANSWERS)
def test_single_stimulus_answers_parse(text, value):
    """Scores in various formats (plain, x/10, x out of 5, %, levels, CoT ending in 'Score:') read as 0-100."""
    parsed = p.answer_parse("single", text, n_images=1)
    assert parsed.ok, parsed.reason
    assert parsed.value == pytest.approx(value)


@pytest.mark.parametrize("text,reason", SINGLE_UNPARSEABLE)
def test_single_stimulus_garbage_is_unparseable_with_a_reason(text, reason):
    """Refusals, out-of-range scores and ambiguous numbers are counted as unparseable, never guessed."""
    parsed = p.answer_parse("single", text, n_images=1)
    assert not parsed.ok and reason in parsed.reason


@pytest.mark.parametrize("text,value", DOUBLE_ANSWERS)
def test_double_stimulus_answers_parse(text, value):
    """'Image A'/'first', 'B', 'same', comparative sentences and CoT ending in 'Answer:' all read."""
    parsed = p.answer_parse("double", text, n_images=2)
    assert parsed.value == value, parsed.reason


@pytest.mark.parametrize("text,reason", DOUBLE_UNPARSEABLE)
def test_double_stimulus_unclear_answers_are_unparseable(text, reason):
    """An answer that names no image, or both without a verdict, is unparseable."""
    parsed = p.answer_parse("double", text, n_images=2)
    assert not parsed.ok and reason in parsed.reason


@pytest.mark.parametrize("text,value", MULTIPLE_ANSWERS)
def test_multiple_stimulus_rankings_parse(text, value):
    """Rankings with '>', commas, numbered lists or a final 'Ranking:' line read as positions best first."""
    parsed = p.answer_parse("multiple", text, n_images=4)
    assert parsed.value == value, parsed.reason
    assert parsed.as_json() == list(value)


@pytest.mark.parametrize("text,reason", MULTIPLE_UNPARSEABLE)
def test_multiple_stimulus_bad_rankings_are_unparseable(text, reason):
    """Missing, unknown or repeated images make a ranking unparseable."""
    parsed = p.answer_parse("multiple", text, n_images=4)
    assert not parsed.ok and reason in parsed.reason


def test_prompts_name_the_images_and_the_answer_format():
    """Each system's text names its test images, its answer format, and (in-context) the exemplar scores."""
    assert "Score:" in p.prompt_build("single", "chain_of_thought", n_images=1)
    assert "Image A, Image B, Same" in p.prompt_build("double", "standard", n_images=2)
    ranked = p.prompt_build("multiple", "standard", n_images=4)
    assert "A, B, C, D" in ranked and "D > C > B > A" in ranked
    context = p.prompt_build("single", "in_context", n_images=1, exemplar_scores=[20.0, 85.0])
    assert "example 1: 20" in context and "example 2: 85" in context


@pytest.mark.parametrize(
    "kwargs,message",
    [
        ({"protocol": "triple", "prompting": "standard", "n_images": 1}, "protocol must be"),
        ({"protocol": "single", "prompting": "clever", "n_images": 1}, "prompting must be"),
        ({"protocol": "double", "prompting": "standard", "n_images": 3}, "exactly 2"),
        ({"protocol": "multiple", "prompting": "standard", "n_images": 9}, "3 to 8"),
        ({"protocol": "single", "prompting": "in_context", "n_images": 1}, "exemplar"),
        ({"protocol": "single", "prompting": "standard", "n_images": 1, "exemplar_scores": [3.0]}, "in-context prompting only"),
    ],
)
def test_prompt_build_refuses_bad_input(kwargs, message):
    """Unknown systems and wrong image counts raise a clear ValueError."""
    with pytest.raises(ValueError, match=message):
        p.prompt_build(kwargs.pop("protocol"), kwargs.pop("prompting"), **kwargs)


def test_groups_design_covers_every_item_each_round_without_repeats():
    """Each round shows every item once (a short last group is filled with others); no group repeats an item."""
    groups = p.groups_design(10, 4, 3, rng=np.random.default_rng(0))
    assert groups.shape == (9, 4)  # ceil(10 / 4) = 3 groups per round
    assert all(len(set(group)) == 4 for group in groups.tolist())
    counts = np.bincount(groups.ravel(), minlength=10)
    assert counts.min() >= 3
    assert np.array_equal(groups, p.groups_design(10, 4, 3, rng=np.random.default_rng(0)))
    with pytest.raises(ValueError, match="at least 4 items"):
        p.groups_design(3, 4, 1, rng=np.random.default_rng(0))


def test_single_scores_are_means_per_item():
    """Hand-computed: item 0 gets (40 + 60) / 2, item 2 gets 90, item 1 has no answer (NaN)."""
    scores = p.scores_from_singles(3, [0, 0, 2], [40.0, 60.0, 90.0])
    assert scores[0] == 50.0 and np.isnan(scores[1]) and scores[2] == 90.0


def test_double_choices_become_comparisons_with_ties():
    """'a' makes the A item win, 'b' the B item, 'same' is a tie."""
    comparisons = p.comparisons_from_choices([(3, 5), (5, 3), (1, 2)], ["a", "a", "same"])
    assert comparisons.winners.tolist() == [3, 5, 1]
    assert comparisons.losers.tolist() == [5, 3, 2]
    assert comparisons.ties.tolist() == [False, False, True]
    with pytest.raises(ValueError, match="'a', 'b' or 'same'"):
        p.comparisons_from_choices([(0, 1)], ["left"])


def test_a_ranking_gives_all_its_pairs():
    """Ranking (2, 0, 1) gives the 3 preferences 2>0, 2>1, 0>1."""
    comparisons = p.comparisons_from_rankings([(2, 0, 1)])
    assert list(zip(comparisons.winners.tolist(), comparisons.losers.tolist())) == [(2, 0), (2, 1), (0, 1)]


def test_two_item_thurstone_map_matches_the_hand_solution():
    """Item 0 beats item 1 once, prior N(0,1): the MAP solves s = phi(2s)/Phi(2s) with s_1 = -s_0 (hand: s_0 = 0.3826)."""
    comparisons = p.comparisons_from_choices([(0, 1)], ["a"])
    scores = p.scores_from_comparisons(3, comparisons)
    from scipy.stats import norm

    s = scores[0]
    assert s == pytest.approx(norm.pdf(2 * s) / norm.cdf(2 * s), abs=1e-6)
    assert s == pytest.approx(0.3826, abs=1e-4) and scores[1] == pytest.approx(-s)
    assert np.isnan(scores[2])  # never compared


def test_rankings_aggregate_like_the_equivalent_pairs():
    """Aggregating rankings equals thurstone_map_pairwise on the pairs they imply."""
    rankings = [(0, 1, 2), (1, 0, 2), (0, 2, 1)]
    from_rankings = p.scores_from_comparisons(3, p.comparisons_from_rankings(rankings))
    direct = thurstone_map_pairwise(3, [0, 0, 1, 1, 1, 0, 0, 0, 2], [1, 2, 2, 0, 2, 2, 2, 1, 1]).scores
    assert np.allclose(from_rankings, direct)
    assert from_rankings[0] > from_rankings[1] > from_rankings[2]
