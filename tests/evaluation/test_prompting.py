"""Paper 004's full-reference prompts and in-context exemplars as the authors use them (a pair; a ranked list of four)."""
import numpy as np
import pytest

from evaluation import protocols as p


def test_double_stimulus_exemplar_is_one_labelled_pair_with_the_peoples_verdict():
    """Two exemplar scores are one pair: the text gives the verdict in the answer's own words, and both scores."""
    text = p.prompt_build("double", "in_context", n_images=2, exemplar_scores=[31.0, 78.0])
    assert "example pair, Example A and Example B" in text and "Their answer: Image B" in text and "A 31, B 78" in text
    assert p.exemplar_answer("double", [50, 50]) == "Same" and p.exemplar_answer("double", [60, 10]) == "Image A"


def test_multiple_stimulus_exemplar_is_one_ranked_list_of_four():
    """Four exemplar scores are one list: the text gives the people's ranking best first (ties in attached order)."""
    text = p.prompt_build("multiple", "in_context", n_images=4, exemplar_scores=[40.0, 10.0, 90.0, 40.0])
    assert "example list, Example A to Example D" in text and "Their ranking: C > A > D > B" in text
    assert p.n_exemplars_for("multiple") == 4 and p.n_exemplars_for("double") == 2 and p.n_exemplars_for("single") is None


@pytest.mark.parametrize("protocol, n_images, scores", [("double", 2, [1.0, 2.0, 3.0]), ("multiple", 3, [1.0, 2.0])])
def test_wrong_exemplar_counts_are_refused(protocol, n_images, scores):
    """A double-stimulus exemplar is exactly a pair, a multiple-stimulus one exactly four images."""
    with pytest.raises(ValueError, match="in-context prompting shows"):
        p.prompt_build(protocol, "in_context", n_images=n_images, exemplar_scores=scores)


@pytest.mark.parametrize("protocol, n_images", [("single", 1), ("double", 2), ("multiple", 4)])
def test_full_reference_prompts_name_the_reference_before_the_test_images(protocol, n_images):
    """With a reference the text says it is attached right before the test images and asks to judge against it."""
    text = p.prompt_build(protocol, "chain_of_thought", n_images=n_images, reference=True)
    assert "attached right before the test images is the Reference" in text and "perceptual difference to the Reference" in text
    assert "and with the Reference" in text
    assert text.index("Reference") < text.index("The test image")
    assert "Reference" not in p.prompt_build(protocol, "standard", n_images=n_images)


def test_full_reference_groups_share_one_reference():
    """Pairs and lists are drawn within each reference's images; a reference with too few images is left out."""
    references = [7, 7, 7, 7, 9, 9, 9, 9, 9, 3]
    groups, left_out = p.groups_design_by_reference(references, 4, 2, rng=np.random.default_rng(1))
    assert groups.shape[1] == 4 and len(groups) == 2 + 4  # 1 group a round for ref 7, 2 for ref 9
    assert all(len({references[i] for i in group}) == 1 for group in groups.tolist())
    assert left_out.tolist() == [9]
    pairs, _ = p.groups_design_by_reference(references, 2, 1, rng=np.random.default_rng(1))
    assert all(references[a] == references[b] for a, b in pairs.tolist())
