"""Versioned prompt templates as data, and the functions that render an answer into chat messages.

Django-free core. A :class:`PromptTemplate` is plain data (system text, instruction, in-context
examples, output rules) that researchers can edit and store as numbered versions
(``to_dict``/``from_dict``); the defaults are in :mod:`modeling.assist.core.default_prompts`.

Messages follow DepictQA's recipe (paper 002, appendix A2): the model sees the system text, then
each human-written example as a user turn (instruction + example input) and an assistant turn
(example output), then the instruction with the real input. Inputs are plain text with one
"Field: value" line per questionnaire answer (paper 002, Fig. 2), or the metric lines of
VisualCritic's data-construction prompts (paper 000, Fig. 3-4), or the pathway feedback
(paper 001, §III-B4-B5).

Answers use the stored keys (``annotation/vocabulary.py``); the caller passes the display labels
as :class:`QuestionnaireLabels` (plain dicts), so this module needs no Django.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from modeling.assist.core.validation import OutputRules

__all__ = [
    "CHOICE_KEYS",
    "COMPARISON_KEYS",
    "DISTORTION_KEYS",
    "OVERALL_COMPARISON_KEYS",
    "OVERALL_KEYS",
    "SEVERITY_KEYS",
    "TASKS",
    "PromptTemplate",
    "QuestionnaireLabels",
    "RenderedPrompt",
    "aspect_noun",
    "authenticity_input",
    "comparison_degree",
    "comparison_gloss",
    "comparison_input",
    "comparison_rules",
    "description_input",
    "description_rules",
    "feedback_input",
    "mos_pair_input",
    "mos_pair_rules",
    "pair_choice_conflict",
    "quantitative_rules",
    "render_messages",
    "render_task",
    "scores_input",
]

#: What a template turns into text; it decides which input builder renders the answer.
TASKS = (
    "description",  # DepictQA Task-1 questionnaire -> paragraph
    "comparison",  # DepictQA Task-3 reasoning questionnaire -> paragraph
    "scores",  # VisualCritic: quality metrics -> description without numbers
    "quantitative",  # VisualCritic: quality metrics -> a sentence that states every number unchanged
    "authenticity",  # VisualCritic: authenticity score -> sentence
    "mos_pair",  # VisualCritic: two MOS -> comparison sentence
    "instruction_paraphrases",  # VisualCritic Fig. 4 / DepictQA question sets: metric -> questions
    "feedback_yes_no",  # Q-SiT: pathway feedback -> balanced yes/no questions
    "feedback_multiple_choice",  # Q-SiT: pathway feedback -> what/how questions with distractors
    "feedback_conversation",  # Q-SiT: pathway feedback -> extended conversation
)

#: The stored keys whose order or meaning the renderers rely on (labels come from the caller).
DISTORTION_KEYS = ("brightness", "color", "noise", "artifacts", "blurriness")
SEVERITY_KEYS = ("undistorted", "mild", "severe")
OVERALL_KEYS = ("nearly_undistorted", "mild", "severe")
COMPARISON_KEYS = ("a_much_less", "a_less", "equal", "a_more", "a_much_more")
OVERALL_COMPARISON_KEYS = ("a_better", "a_slightly_better", "hard", "a_slightly_worse", "a_worse")
CHOICE_KEYS = ("a", "b", "tie")

#: How much of a distortion Image A has, relative to Image B, per comparison key ({less}: "less" or "fewer").
COMPARISON_DEGREE = {
    "a_much_less": "much {less}",
    "a_less": "slightly {less}",
    "equal": "about the same",
    "a_more": "slightly more",
    "a_much_more": "much more",
}

#: Words that name a distortion aspect in free text (prefixes: "blur" matches "blurry").
ASPECT_MENTIONS = {
    "brightness": ("bright", "exposure", "exposed", "dark"),
    "color": ("color", "colour"),
    "noise": ("nois", "grain"),
    "artifacts": ("artifact", "artefact"),
    "blurriness": ("blur", "sharp"),
}
OVERALL_MENTIONS = {
    "nearly_undistorted": ("nearly undistorted", "almost undistorted", "virtually undistorted", "barely distorted"),
    "mild": ("mild",),
    "severe": ("severe",),
}
OVERALL_COMPARISON_MENTIONS = {
    "a_better": ("better", "superior", "outperform"),
    "a_slightly_better": ("better", "superior", "outperform"),
    "hard": ("hard to decide", "difficult to decide", "hard to tell", "comparable", "roughly equal", "on par"),
    "a_slightly_worse": ("worse", "inferior", "better", "outperform"),
    "a_worse": ("worse", "inferior", "better", "outperform"),
}
SLIGHT_MENTIONS = ("slightly", "marginally", "a little", "somewhat", "narrowly")


@dataclass(frozen=True)
class QuestionnaireLabels:
    """Display labels for stored answer keys, passed in by the caller (built from annotation.vocabulary)."""

    texture_categories: Mapping[str, str]
    texture_conditions: Mapping[str, str]
    distortions: Mapping[str, str]
    severities: Mapping[str, str]
    overall_distortion: Mapping[str, str]
    comparison_scale: Mapping[str, str] = field(default_factory=dict)
    overall_comparison: Mapping[str, str] = field(default_factory=dict)
    pair_choices: Mapping[str, str] = field(default_factory=dict)
    levels: Mapping[int, str] = field(default_factory=dict)

    def label(self, table: str, key: Any) -> str:
        """The label of ``key`` in ``table``; ValueError naming the field for an unknown key."""
        mapping = getattr(self, table)
        if key not in mapping:
            raise ValueError(f"unknown {table.replace('_', ' ')} {key!r}; expected one of {sorted(mapping)}")
        return mapping[key]


@dataclass(frozen=True)
class PromptTemplate:
    """One version of a prompt: system text, instruction, human-written examples and output rules.

    ``examples`` are ``(input, output)`` pairs shown to the model as earlier turns (in-context
    learning, paper 002 appendix A2). ``task`` is one of :data:`TASKS`.
    """

    name: str
    version: int
    task: str
    system: str
    instruction: str
    examples: tuple[tuple[str, str], ...] = ()
    rules: OutputRules = field(default_factory=OutputRules)
    temperature: float = 0.2
    max_tokens: int = 600

    def __post_init__(self):
        if not self.name:
            raise ValueError("name must not be empty")
        if self.version < 1:
            raise ValueError("version must be >= 1")
        if self.task not in TASKS:
            raise ValueError(f"task must be one of {TASKS}")
        if not self.instruction.strip():
            raise ValueError("instruction must not be empty")
        for example in self.examples:
            if len(example) != 2 or not all(isinstance(part, str) and part.strip() for part in example):
                raise ValueError("each example must be an (input, output) pair of non-empty strings")
        if not 0 <= self.temperature <= 2:
            raise ValueError("temperature must be in [0, 2]")
        if self.max_tokens < 1:
            raise ValueError("max_tokens must be >= 1")

    @property
    def label(self) -> str:
        """``name@version``, how a stored draft names the prompt it came from."""
        return f"{self.name}@{self.version}"

    def to_dict(self) -> dict[str, Any]:
        data = dataclasses.asdict(self)
        data["examples"] = [list(example) for example in self.examples]
        data["rules"] = self.rules.to_dict()
        return data

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> PromptTemplate:
        data = dict(data)
        data["examples"] = tuple(tuple(example) for example in data.get("examples", ()))
        data["rules"] = OutputRules.from_dict(data.get("rules", {}))
        return cls(**data)

    def next_version(self, **changes) -> PromptTemplate:
        """A copy with ``changes`` applied and the version number raised by one."""
        return dataclasses.replace(self, version=self.version + 1, **changes)


@dataclass(frozen=True)
class RenderedPrompt:
    """Messages ready for :meth:`LLMClient.chat`, and the rules this particular output must follow."""

    messages: list[dict[str, str]]
    rules: OutputRules
    input_text: str


def _user_turn(template: PromptTemplate, input_text: str) -> str:
    return f"{template.instruction.strip()}\n\nInput:\n{input_text.strip()}"


def render_messages(template: PromptTemplate, input_text: str) -> list[dict[str, str]]:
    """System, then each example as a user/assistant exchange, then the instruction with ``input_text``."""
    messages = [{"role": "system", "content": template.system.strip()}] if template.system.strip() else []
    for example_input, example_output in template.examples:
        messages.append({"role": "user", "content": _user_turn(template, example_input)})
        messages.append({"role": "assistant", "content": example_output.strip()})
    messages.append({"role": "user", "content": _user_turn(template, input_text)})
    return messages


# ----------------------------------------------------------------------------- questionnaires


def _require(answer: Mapping, *names: str) -> None:
    missing = [name for name in names if name not in answer]
    if missing:
        raise ValueError(f"the answer lacks {', '.join(missing)}")


def _distortions(answer: Mapping, allowed: tuple[str, ...]) -> dict[str, str]:
    distortions = answer["distortions"]
    if not isinstance(distortions, Mapping) or set(distortions) != set(DISTORTION_KEYS):
        raise ValueError(f"distortions must give exactly {', '.join(DISTORTION_KEYS)}")
    for aspect, value in distortions.items():
        if value not in allowed:
            raise ValueError(f"distortion {aspect!r} is {value!r}; expected one of {allowed}")
    return {aspect: distortions[aspect] for aspect in DISTORTION_KEYS}


def description_input(answer: Mapping, labels: QuestionnaireLabels) -> str:
    """A description questionnaire (paper 002, Fig. 2a) as "Field: value" lines."""
    _require(answer, "texture_category", "texture_condition", "distortions", "overall")
    if answer["overall"] not in OVERALL_KEYS:
        raise ValueError(f"overall is {answer['overall']!r}; expected one of {OVERALL_KEYS}")
    lines = [
        f"Texture category: {labels.label('texture_categories', answer['texture_category'])}",
        f"Texture condition: {labels.label('texture_conditions', answer['texture_condition'])}",
        "Distortions:",
    ]
    for aspect, severity in _distortions(answer, SEVERITY_KEYS).items():
        lines.append(f"- {labels.label('distortions', aspect)}: {labels.label('severities', severity)}")
    lines.append(f"Overall quality: {labels.label('overall_distortion', answer['overall'])}")
    return "\n".join(lines)


def description_rules(answer: Mapping, base: OutputRules) -> OutputRules:
    """``base`` plus: the overall verdict word, and every severely distorted aspect, must be mentioned."""
    groups = [OVERALL_MENTIONS[answer["overall"]]]
    groups += [ASPECT_MENTIONS[aspect] for aspect, value in answer["distortions"].items() if value == "severe"]
    return base.with_mentions(*groups)


def aspect_noun(aspect: str, labels: QuestionnaireLabels) -> str:
    """"color distortion", "noise": how an aspect reads inside a sentence."""
    label = labels.label("distortions", aspect).lower()
    return f"{label} distortion" if aspect in ("brightness", "color") else label


def comparison_degree(value: str, aspect: str) -> str:
    """"much less", "slightly fewer" (artifacts are counted), "about the same", "slightly more"..."""
    return COMPARISON_DEGREE[value].format(less="fewer" if aspect == "artifacts" else "less")


def comparison_gloss(value: str, aspect: str, labels: QuestionnaireLabels) -> str:
    """"Image A has much less blurriness than Image B": one comparison answer as a sentence."""
    noun = aspect_noun(aspect, labels)
    if value == "equal":
        return f"Image A and Image B have about the same {noun}"
    return f"Image A has {comparison_degree(value, aspect)} {noun} than Image B"


def comparison_input(answer: Mapping, labels: QuestionnaireLabels, choice: str | None = None) -> str:
    """A comparison-reasoning questionnaire (paper 002, Fig. 2c) as "Field: value" lines, each scale value glossed."""
    _require(answer, "texture_category", "texture_a", "texture_b", "distortions", "overall")
    if answer["overall"] not in OVERALL_COMPARISON_KEYS:
        raise ValueError(f"overall is {answer['overall']!r}; expected one of {OVERALL_COMPARISON_KEYS}")
    choice = choice if choice is not None else answer.get("choice")
    lines = [
        f"Texture category: {labels.label('texture_categories', answer['texture_category'])}",
        f"Texture of Image A: {labels.label('texture_conditions', answer['texture_a'])}",
        f"Texture of Image B: {labels.label('texture_conditions', answer['texture_b'])}",
        "Distortions (how much of each Image A has compared with Image B):",
    ]
    for aspect, value in _distortions(answer, COMPARISON_KEYS).items():
        gloss = comparison_gloss(value, aspect, labels)
        lines.append(f"- {labels.label('distortions', aspect)}: {labels.label('comparison_scale', value)} ({gloss})")
    lines.append(f"Overall comparison: {labels.label('overall_comparison', answer['overall'])}")
    if choice is not None:
        lines.append(f"Forced choice: {labels.label('pair_choices', choice)}")
    return "\n".join(lines)


def comparison_rules(answer: Mapping, base: OutputRules) -> OutputRules:
    """``base`` plus: both images named, the verdict's word, and "slightly" for a slight verdict."""
    groups = [("Image A",), ("Image B",), OVERALL_COMPARISON_MENTIONS[answer["overall"]]]
    if answer["overall"] in ("a_slightly_better", "a_slightly_worse"):
        groups.append(SLIGHT_MENTIONS)
    return base.with_mentions(*groups)


def pair_choice_conflict(answer: Mapping, choice: str | None = None) -> str | None:
    """A sentence when the forced choice contradicts the overall comparison (A chosen, "A is worse"), else None."""
    choice = choice if choice is not None else answer.get("choice")
    overall = answer.get("overall")
    if (choice == "a" and overall in ("a_slightly_worse", "a_worse")) or (
        choice == "b" and overall in ("a_better", "a_slightly_better")
    ):
        return f"the forced choice ({choice!r}) contradicts the overall comparison ({overall!r})"
    return None


# ----------------------------------------------------------------------------- VisualCritic and Q-SiT inputs


def _score(value: float) -> str:
    return f"{float(value):.2f}"


def scores_input(scores: Mapping[str, float]) -> str:
    """Metric lines as in VisualCritic Fig. 3 ("MOS: 48.86"), normalised 0-100, higher is better."""
    if not scores:
        raise ValueError("scores must not be empty")
    return "\n".join(f"{name}: {_score(value)}" for name, value in scores.items())


def quantitative_rules(scores: Mapping[str, float], base: OutputRules) -> OutputRules:
    """``base`` plus every metric's number, to be stated unchanged and after its name (paper 000, Fig. 3)."""
    return dataclasses.replace(base, required_numbers=tuple((name, round(float(v), 2)) for name, v in scores.items()))


def authenticity_input(score: float) -> str:
    """VisualCritic Fig. 3: authenticity 0-100, where 100 means photographic and less means AI-generated."""
    if not 0 <= score <= 100:
        raise ValueError("authenticity must be in [0, 100]")
    return f"Authenticity: {_score(score)}"


def mos_pair_input(mos_first: float, mos_second: float) -> str:
    """VisualCritic Fig. 3, relativity learning: the MOS of two images."""
    return f"MOS of image1: {_score(mos_first)}\nMOS of image2: {_score(mos_second)}"


def mos_pair_rules(mos_first: float, mos_second: float, base: OutputRules) -> OutputRules:
    """``base`` plus the word that names the better image ("first"/"former" or "latter"/"second")."""
    if mos_first > mos_second:
        return base.with_mentions(("first", "former"))
    if mos_second > mos_first:
        return base.with_mentions(("latter", "second"))
    return base.with_mentions(("similar", "same", "equal", "comparable"))


def feedback_input(feedback: Mapping, labels: QuestionnaireLabels | None = None) -> str:
    """Pathway feedback (paper 001, §III-A1): description, conclusion and, when labelled, the level."""
    _require(feedback, "description", "conclusion")
    lines = [f"Description: {feedback['description'].strip()}", f"Conclusion: {feedback['conclusion'].strip()}"]
    level = feedback.get("level")
    if level is not None and labels is not None and labels.levels:
        lines.append(f"Quality level: {labels.label('levels', level)}")
    return "\n".join(lines)


def render_task(template: PromptTemplate, payload: Any, labels: QuestionnaireLabels | None = None) -> RenderedPrompt:
    """Render ``payload`` for ``template.task`` and attach the rules this output must follow.

    ``payload`` is, by task: a questionnaire answer dict (description, comparison; a pair answer
    may carry "choice"); a ``{name: score}`` mapping (scores, quantitative); a number (authenticity); a pair
    of numbers (mos_pair); a metric name (instruction_paraphrases); a pathway feedback dict
    (feedback_*).
    """
    task, rules = template.task, template.rules
    if task in ("description", "comparison") and labels is None:
        raise ValueError(f"the {task} task needs QuestionnaireLabels")
    if task == "description":
        text, rules = description_input(payload, labels), description_rules(payload, rules)
    elif task == "comparison":
        text, rules = comparison_input(payload, labels), comparison_rules(payload, rules)
    elif task == "scores":
        text = scores_input(payload)
    elif task == "quantitative":
        text, rules = scores_input(payload), quantitative_rules(payload, rules)
    elif task == "authenticity":
        text = authenticity_input(payload)
    elif task == "mos_pair":
        first, second = payload
        text, rules = mos_pair_input(first, second), mos_pair_rules(first, second, rules)
    elif task == "instruction_paraphrases":
        if not isinstance(payload, str) or not payload.strip():
            raise ValueError("instruction_paraphrases needs a metric name")
        text = payload.strip()
    else:
        text = feedback_input(payload, labels)
    return RenderedPrompt(render_messages(template, text), rules, text)
