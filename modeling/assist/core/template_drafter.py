"""The offline drafter: deterministic paragraphs from questionnaire answers when no language model is configured.

Django-free core. Its output is labelled ``model="loupe-template-drafter"`` so that nobody takes
it for a model's, and it passes the same :mod:`modeling.assist.core.validation` rules as model output
(a test checks every combination of answers). It also writes VisualCritic-style sentences
(MOS comparison, authenticity) and, from pathway feedback, balanced yes/no questions about
attribute words the feedback mentions (each "yes" paired with a "no" about the opposite
attribute), and a plain description of quality scores (VisualCritic's scores prompt) from fixed
phrases per fifth of the 0-100 scale. Multiple-choice questions, conversations and instruction
paraphrases have no offline version: they need a model.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence

from modeling.assist.core.prompts import (
    DISTORTION_KEYS,
    QuestionnaireLabels,
    aspect_noun,
    comparison_degree,
    comparison_input,
    description_input,
)

__all__ = [
    "DEFAULT_CONTRASTS",
    "TEMPLATE_DRAFTER_MODEL",
    "draft_authenticity_sentence",
    "draft_comparison_paragraph",
    "draft_description_paragraph",
    "draft_mos_comparison",
    "draft_scores_description",
    "draft_yes_no_questions",
]

TEMPLATE_DRAFTER_MODEL = "loupe-template-drafter"

#: Opposite attributes for "no" questions (Q-SiT's "contrasting information"). Callers may pass their own.
DEFAULT_CONTRASTS: dict[str, str] = {
    "blurry": "sharp",
    "sharp": "blurry",
    "out of focus": "in focus",
    "in focus": "out of focus",
    "underexposed": "overexposed",
    "overexposed": "underexposed",
    "noisy": "noise-free",
    "dark": "bright",
    "bright": "dark",
    "oversaturated": "desaturated",
    "desaturated": "oversaturated",
    "high contrast": "low contrast",
    "low contrast": "high contrast",
    "well exposed": "badly exposed",
    "grainy": "clean",
    "hazy": "clear",
}
_NEGATIONS = {"not", "no", "never", "without", "isn't", "aren't", "hardly", "barely", "nor", "lacks", "lack"}


def _join(items: Sequence[str]) -> str:
    """"a", "a and b", "a, b and c"."""
    items = list(items)
    if len(items) <= 1:
        return "".join(items)
    return f"{', '.join(items[:-1])} and {items[-1]}"


def _capitalise(text: str) -> str:
    return text[:1].upper() + text[1:]


def draft_description_paragraph(answer: Mapping, labels: QuestionnaireLabels) -> str:
    """A paragraph for a description questionnaire (paper 002, Fig. 2a), in the style of the in-context examples."""
    description_input(answer, labels)  # validates the answer; ValueError names what is wrong
    by_severity: dict[str, list[str]] = {"undistorted": [], "mild": [], "severe": []}
    for aspect in DISTORTION_KEYS:
        by_severity[answer["distortions"][aspect]].append(aspect)
    severe = [f"severe {aspect_noun(a, labels)}" for a in by_severity["severe"]]
    mild = [f"mild {aspect_noun(a, labels)}" for a in by_severity["mild"]]
    clean = [labels.label("distortions", a).lower() for a in by_severity["undistorted"]]
    overall = answer["overall"]
    overall_label = labels.label("overall_distortion", overall).lower()
    texture = labels.label("texture_categories", answer["texture_category"]).lower()
    condition = labels.label("texture_conditions", answer["texture_condition"]).lower()

    if overall == "nearly_undistorted":
        sentences = [f"Overall, this image is {overall_label}."]
    else:
        sentences = [f"Overall, this image shows {overall_label}."]
    if severe:
        sentences.append(f"The most damaging problem{'s are' if len(severe) > 1 else ' is'} {_join(severe)}.")
    if mild:
        lead = "In addition, there" if severe else "There"
        sentences.append(f"{lead} {'are' if len(mild) > 1 else 'is'} {_join(mild)}.")
    if clean and len(clean) < len(DISTORTION_KEYS):
        sentences.append(f"{_capitalise(_join(clean))} {'show' if len(clean) > 1 else 'shows'} no visible distortion.")
    elif clean:
        sentences.append(f"None of the aspects checked ({_join(clean)}) shows visible distortion.")
    sentences.append(f"The texture of the {texture} is {condition}.")
    if severe:
        sentences.append(f"Therefore, the {_join(severe)} {'decide' if len(severe) > 1 else 'decides'} "
                         f"the overall verdict of {overall_label}.")
    elif mild:
        sentences.append(f"Therefore, with only {_join(mild)} to weigh, the overall verdict is {overall_label}.")
    else:
        sentences.append(f"Therefore, with no distortion to weigh against it, the image is judged {overall_label}.")
    return " ".join(sentences)


_VERDICT = {
    "a_better": "Image A is better than Image B",
    "a_slightly_better": "Image A is slightly better than Image B",
    "hard": "It is hard to decide which of Image A and Image B is better",
    "a_slightly_worse": "Image A is slightly worse than Image B",
    "a_worse": "Image A is worse than Image B",
}


def draft_comparison_paragraph(answer: Mapping, labels: QuestionnaireLabels) -> str:
    """A paragraph for a comparison-reasoning questionnaire (paper 002, Fig. 2c)."""
    comparison_input(answer, labels, choice=None)  # validates the answer
    distortions = answer["distortions"]
    a_better = [a for a in DISTORTION_KEYS if distortions[a] in ("a_much_less", "a_less")]
    b_better = [a for a in DISTORTION_KEYS if distortions[a] in ("a_more", "a_much_more")]
    equal = [labels.label("distortions", a).lower() for a in DISTORTION_KEYS if distortions[a] == "equal"]

    sentences = [f"{_VERDICT[answer['overall']]}."]
    # Strongest differences first: "much less blurriness and slightly fewer artifacts".
    order = {"a_much_less": 0, "a_much_more": 0, "a_less": 1, "a_more": 1}
    pros = [f"{comparison_degree(distortions[a], a)} {aspect_noun(a, labels)}"
            for a in sorted(a_better, key=lambda a: order[distortions[a]])]
    cons = [f"{comparison_degree(distortions[a], a)} {aspect_noun(a, labels)}"
            for a in sorted(b_better, key=lambda a: order[distortions[a]])]
    if pros and cons:
        sentences.append(f"Image A has {_join(pros)} than Image B, but {_join(cons)}.")
    elif pros or cons:
        sentences.append(f"Image A has {_join(pros or cons)} than Image B.")
    if equal and len(equal) < len(DISTORTION_KEYS):
        sentences.append(f"The two images are about equal in {_join(equal)}.")
    elif equal:
        sentences.append("The two images are about equal in every distortion aspect.")
    texture = labels.label("texture_categories", answer["texture_category"]).lower()
    texture_a = labels.label("texture_conditions", answer["texture_a"]).lower()
    texture_b = labels.label("texture_conditions", answer["texture_b"]).lower()
    if answer["texture_a"] == answer["texture_b"]:
        sentences.append(f"The texture of the {texture} is {texture_a} in both images.")
    else:
        sentences.append(f"The texture of the {texture} is {texture_a} in Image A but {texture_b} in Image B.")

    a_points = [aspect_noun(a, labels) for a in a_better]
    b_points = [aspect_noun(a, labels) for a in b_better]
    if a_points and b_points:
        weighing = (f"weighing Image A's advantage in {_join(a_points)} against Image B's advantage in "
                    f"{_join(b_points)}")
    elif a_points:
        weighing = f"given Image A's advantage in {_join(a_points)}"
    elif b_points:
        weighing = f"given Image B's advantage in {_join(b_points)}"
    else:
        weighing = "with no difference in distortion between them"
    verdict = _VERDICT[answer["overall"]]
    sentences.append(f"Therefore, {weighing}, {verdict[0].lower()}{verdict[1:]} overall." if verdict.startswith("It")
                     else f"Therefore, {weighing}, {verdict} overall.")
    return " ".join(sentences)


def draft_quantitative_answer(scores: Mapping[str, float]) -> str:
    """VisualCritic's quantitative answer (paper 000, Fig. 3): every metric and its number, as given."""
    if not scores:
        raise ValueError("scores must not be empty")
    (first, value), *rest = scores.items()
    text = f"The {first} score of this image is {float(value):.2f}"
    if rest:
        text += "; its " + ", ".join(f"{name.lower()} is {float(v):.2f}" for name, v in rest)
    return text + "."


def draft_mos_comparison(mos_first: float, mos_second: float) -> str:
    """VisualCritic's relativity sentence (paper 000, Fig. 3) without numbers."""
    if mos_first > mos_second:
        return "The first image has superior quality."
    if mos_second > mos_first:
        return "The latter image has superior quality."
    return "The two images have similar quality."


#: Per fifth of the 0-100 scale (bad .. excellent): the overall verdict, and how one named metric reads.
_OVERALL_PHRASES = (
    "Viewers would judge this image to be of bad quality, and most people would find it unpleasant to look at.",
    "Viewers would judge this image to be of poor quality, with clear flaws that most people notice at once.",
    "Viewers would judge this image to be of fair quality: acceptable, though with flaws that are easy to see.",
    "Viewers would judge this image to be of good quality, with only minor flaws that few people would mind.",
    "Viewers would judge this image to be of excellent quality, clean and pleasing to look at.",
)
_METRIC_PHRASES = ("very weak", "weak", "moderate", "good", "very good")


def _fifth(value: float) -> int:
    if not 0 <= value <= 100:
        raise ValueError("scores must be in [0, 100]")
    return min(int(value // 20), 4)


def draft_scores_description(scores: Mapping[str, float]) -> str:
    """VisualCritic's scores-to-description answer (paper 000, Fig. 3) without numbers, from fixed phrases.

    ``scores`` maps metric names (``"MOS"``, ``"Sharpness"``, ...) to 0-100, higher is better; the MOS
    gives the verdict (the mean of the metrics when there is no MOS), every other metric one clause.
    """
    if not scores:
        raise ValueError("scores must not be empty")
    values = {name: float(value) for name, value in scores.items()}
    overall = values.get("MOS", sum(values.values()) / len(values))
    sentences = [_OVERALL_PHRASES[_fifth(overall)]]
    others = [f"its {name.lower()} is {_METRIC_PHRASES[_fifth(value)]}" for name, value in values.items() if name != "MOS"]
    if others:
        sentences.append(_capitalise(_join(others)) + ".")
    return " ".join(sentences)


def draft_authenticity_sentence(score: float) -> str:
    """VisualCritic's authenticity sentence (paper 000, Fig. 3): below 100 means AI-generated."""
    if not 0 <= score <= 100:
        raise ValueError("authenticity must be in [0, 100]")
    if score >= 100:
        return "It appears to be a real photograph rather than an AI-generated image."
    if score >= 60:
        return "It looks very much like an extremely realistic AI-generated image."
    return "It looks very much like an AI-created image."


def _mentioned_plainly(text: str, term: str) -> bool:
    """``term`` occurs as words in ``text`` and none of the three words before it negates it."""
    lowered = text.lower()
    for match in re.finditer(rf"(?<![\w-]){re.escape(term)}(?![\w-])", lowered):
        before = re.findall(r"[\w']+", lowered[: match.start()])[-3:]
        if not _NEGATIONS.intersection(before):
            return True
    return False


def draft_yes_no_questions(
    feedback: Mapping, *, contrasts: Mapping[str, str] | None = None, max_pairs: int = 4
) -> list[dict[str, str]]:
    """Balanced yes/no questions from pathway feedback, without a model (paper 001, §III-B4).

    For each attribute word of ``contrasts`` that the feedback states plainly (not negated
    nearby) and whose opposite it does not also state, ask "Is the image <word>?" (yes) and
    "Is the image <opposite>?" (no). Deterministic; at most ``max_pairs`` pairs, in the order of
    ``contrasts``. Returns ``[]`` when nothing qualifies. A researcher reviews the items anyway.
    """
    contrasts = DEFAULT_CONTRASTS if contrasts is None else contrasts
    text = f"{feedback.get('description', '')} {feedback.get('conclusion', '')}"
    items: list[dict[str, str]] = []
    used: set[str] = set()
    for term, opposite in contrasts.items():
        if len(items) >= 2 * max_pairs:
            break
        if term in used or not _mentioned_plainly(text, term) or _mentioned_plainly(text, opposite):
            continue
        used.update({term, opposite})
        items.append({"question": f"Is the image {term}?", "answer": "yes"})
        items.append({"question": f"Is the image {opposite}?", "answer": "no"})
    return items
