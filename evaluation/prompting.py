"""The prompting systems' text (paper 004, §3.1-3.2, Fig. 2-3): protocols, prompting styles, exemplars, the reference.

Django-free core beside :mod:`evaluation.protocols` (which parses and aggregates the answers). Images are attached
after the text in this order: in-context exemplars, then the reference image (full-reference runs), then the test
images, which the text calls Image A, Image B, ...

In-context exemplars follow the protocol, as paper 004 shows them (Fig. 3c): single stimulus, labelled single images
(each with its human score); double stimulus, one labelled pair (the people's verdict and both scores); multiple
stimulus, one ranked list of four (the people's ranking and the scores). In the full-reference scenario (Fig. 2) the
test images share one reference, which is shown and named, and the task is judged against it.
"""
from __future__ import annotations

import string
from collections.abc import Sequence

SINGLE, DOUBLE, MULTIPLE = "single", "double", "multiple"
STANDARD, IN_CONTEXT, CHAIN_OF_THOUGHT = "standard", "in_context", "chain_of_thought"
PROTOCOLS = (SINGLE, DOUBLE, MULTIPLE)
PROMPTINGS = (STANDARD, IN_CONTEXT, CHAIN_OF_THOUGHT)
#: Images per stimulus of each protocol (multiple: 3 to 8, the run chooses).
MIN_LIST_SIZE, MAX_LIST_SIZE = 3, 8
#: The ITU five-level words, read as scores when an answer gives a level instead of a number.
LEVEL_SCORES = {"bad": 0.0, "poor": 25.0, "fair": 50.0, "good": 75.0, "excellent": 100.0}

A_BETTER, B_BETTER, SAME = "a", "b", "same"


def image_label(position: int) -> str:
    """``"A"`` for the first test image, ``"B"`` for the second, ..."""
    if not 0 <= position < MAX_LIST_SIZE:
        raise ValueError(f"position must be in [0, {MAX_LIST_SIZE}), got {position}")
    return string.ascii_uppercase[position]


def _check(protocol: str, prompting: str) -> None:
    if protocol not in PROTOCOLS:
        raise ValueError(f"protocol must be one of {', '.join(PROTOCOLS)}; got {protocol!r}")
    if prompting not in PROMPTINGS:
        raise ValueError(f"prompting must be one of {', '.join(PROMPTINGS)}; got {prompting!r}")


def _n_images_for(protocol: str, n_images: int) -> int:
    if protocol == SINGLE and n_images != 1:
        raise ValueError("the single-stimulus protocol shows exactly 1 test image")
    if protocol == DOUBLE and n_images != 2:
        raise ValueError("the double-stimulus protocol shows exactly 2 test images")
    if protocol == MULTIPLE and not MIN_LIST_SIZE <= n_images <= MAX_LIST_SIZE:
        raise ValueError(f"the multiple-stimulus protocol shows {MIN_LIST_SIZE} to {MAX_LIST_SIZE} test images")
    return n_images


# ------------------------------------------------------------------------------------------ prompts

_TASK = {
    SINGLE: "Rate the perceptual quality of Image A on a scale from 0 (worst) to 100 (best).",
    DOUBLE: "Compare the perceptual quality of Image A and Image B: which one has better quality, or is it the same?",
    MULTIPLE: "Rank the perceptual quality of the images {labels} from best to worst.",
}
_STANDARD_FORMAT = {
    SINGLE: "Answer with the score only, for example: 63",
    DOUBLE: "Answer with exactly one of: Image A, Image B, Same",
    MULTIPLE: "Answer with the ranking only, best first, for example: {example}",
}
_FINAL_FORMAT = {
    SINGLE: "End with a final line of the form: Score: <number from 0 to 100>",
    DOUBLE: "End with a final line of the form: Answer: Image A, Answer: Image B or Answer: Same",
    MULTIPLE: "End with a final line of the form: Ranking: {example}",
}
_COT = (
    "First examine the visual attributes that matter for quality one by one (sharpness and blur, noise, "
    "compression artifacts, exposure and contrast, colour), describe what you see{compare}, and then "
    "integrate this analysis into an overall judgement."
)


#: In-context exemplars each protocol shows: labelled images (single, at least one), one pair, one list of four.
EXEMPLARS_PAIR, EXEMPLARS_LIST = 2, 4
_REFERENCE = (
    "The image attached right before the test images is the Reference: the undistorted original that the test "
    "image{s} {were} made from. Judge {them} by {their} perceptual difference to the Reference."
)


def n_exemplars_for(protocol: str) -> int | None:
    """How many exemplar images in-context prompting shows for `protocol`: 2 (a pair), 4 (a list), None (1 or more)."""
    _check(protocol, IN_CONTEXT)
    return {DOUBLE: EXEMPLARS_PAIR, MULTIPLE: EXEMPLARS_LIST}.get(protocol)


def exemplar_answer(protocol: str, scores: Sequence[float]) -> str:
    """The people's answer for an exemplar pair or list, in the protocol's own answer format.

    A pair: ``"Image A"``, ``"Image B"`` or ``"Same"`` (equal scores); a list: its labels best first, ties kept in
    attached order (``"C > A > D > B"``).
    """
    scores = [float(score) for score in scores]
    if protocol == DOUBLE:
        if len(scores) != EXEMPLARS_PAIR:
            raise ValueError("a double-stimulus exemplar is one pair (2 scores)")
        return "Same" if scores[0] == scores[1] else "Image A" if scores[0] > scores[1] else "Image B"
    if protocol == MULTIPLE:
        if len(scores) != EXEMPLARS_LIST:
            raise ValueError("a multiple-stimulus exemplar is one list of 4 (4 scores)")
        order = sorted(range(len(scores)), key=lambda i: (-scores[i], i))
        return " > ".join(image_label(i) for i in order)
    raise ValueError("only double- and multiple-stimulus exemplars have an answer")


def _exemplar_text(protocol: str, scores: Sequence[float]) -> str:
    shown = ", ".join(f"{image_label(i)} {float(score):.0f}" for i, score in enumerate(scores))
    if protocol == SINGLE:
        listed = "; ".join(f"example {i + 1}: {float(score):.0f}" for i, score in enumerate(scores))
        return (
            f"The first {len(scores)} attached image(s) are examples rated by people on a scale from 0 (worst) "
            f"to 100 (best): {listed}. Use them to calibrate your judgement. The images after them are not examples."
        )
    if protocol == DOUBLE:
        return (
            "The first 2 attached images are an example pair, Example A and Example B, that people compared. "
            f"Their answer: {exemplar_answer(protocol, scores)} (mean scores from 0 to 100: {shown}). "
            "Use it to calibrate your judgement. The images after them are not examples."
        )
    return (
        "The first 4 attached images are an example list, Example A to Example D, that people ranked from best to worst. "
        f"Their ranking: {exemplar_answer(protocol, scores)} (mean scores from 0 to 100: {shown}). "
        "Use it to calibrate your judgement. The images after them are not examples."
    )


def prompt_build(
    protocol: str, prompting: str, *, n_images: int, exemplar_scores: Sequence[float] = (), reference: bool = False,
) -> str:
    """The user text of one prompting system (paper 004, Fig. 3); the images are attached after it.

    Parameters
    ----------
    protocol : {"single", "double", "multiple"}
    prompting : {"standard", "in_context", "chain_of_thought"}
    n_images : int
        Test images: 1 (single), 2 (double), 3 to 8 (multiple).
    exemplar_scores : sequence of float
        In-context prompting only: the human scores (0-100) of the exemplar images, attached first in this order:
        one or more labelled images (single), one pair (double, 2 scores), one list of four (multiple, 4 scores).
    reference : bool
        Full-reference scenario: one reference image, the test images' undistorted original, is attached after the
        exemplars and before the test images.

    Returns
    -------
    str

    Raises
    ------
    ValueError
        Unknown protocol or prompting, a wrong number of images or exemplars, stray exemplars.
    """
    _check(protocol, prompting)
    _n_images_for(protocol, n_images)
    if prompting == IN_CONTEXT and not exemplar_scores:
        raise ValueError("in-context prompting needs at least one exemplar score")
    if prompting != IN_CONTEXT and exemplar_scores:
        raise ValueError("exemplar scores are for in-context prompting only")
    wanted = n_exemplars_for(protocol)
    if exemplar_scores and wanted is not None and len(exemplar_scores) != wanted:
        raise ValueError(f"{protocol}-stimulus in-context prompting shows {wanted} exemplars, got {len(exemplar_scores)}")
    labels = [image_label(i) for i in range(n_images)]
    example = " > ".join(reversed(labels)) if n_images > 2 else ""
    parts = [_exemplar_text(protocol, exemplar_scores)] if exemplar_scores else []
    if reference:
        many = n_images > 1
        parts.append(_REFERENCE.format(s="s" if many else "", were="were" if many else "was", them="them" if many else "it",
                                       their="their" if many else "its"))
    test = "The test image is Image A." if n_images == 1 else (
        f"The test images are, in the order attached, {', '.join(labels[:-1])} and {labels[-1]}."
    )
    parts.append(test)
    parts.append(_TASK[protocol].format(labels=", ".join(labels)))
    if prompting == CHAIN_OF_THOUGHT:
        compare = ("" if n_images == 1 else ", comparing the images") + (" and with the Reference" if reference else "")
        parts.append(_COT.format(compare=compare))
        parts.append(_FINAL_FORMAT[protocol].format(example=example))
    else:
        parts.append(_STANDARD_FORMAT[protocol].format(example=example))
    return " ".join(parts)
