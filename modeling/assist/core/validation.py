"""Rules that a language model's output must follow, and the check that lists how an output breaks them.

Django-free core. A prompt template carries its :class:`OutputRules`; the answer being drafted
can add to them (the overall verdict word that must appear, say). :func:`validate` never
raises for a bad output: it returns the problems as sentences a researcher can read, so that
rejected outputs can be stored and shown (issue 5, "Robustness").

JSON shapes (``OutputRules.json_shape``):

``"vqa"``
    a list of ``{"question": str, "answer": str, "options": [str, ...]?}`` (Q-SiT §III-B4).
``"string_list"``
    a list of non-empty strings (instruction paraphrases, VisualCritic Fig. 4).
``"conversation"``
    a list of ``{"role": "user"|"assistant", "content": str}`` turns, alternating, starting
    with the user and ending with the assistant (Q-SiT §III-B5 extended conversations).

Models often wrap JSON in a Markdown code fence; :func:`parse_json_output` removes one.
"""

from __future__ import annotations

import dataclasses
import json
import re
from dataclasses import dataclass
from typing import Any

__all__ = [
    "JSON_SHAPES",
    "OutputRules",
    "parse_json_output",
    "validate",
    "word_count",
]

JSON_SHAPES = ("vqa", "string_list", "conversation")
_YES = "yes"
_NO = "no"
_FENCE = re.compile(r"^\s*```[A-Za-z0-9_-]*\s*\n(?P<body>.*?)\n?\s*```\s*$", re.DOTALL)
_WORD = re.compile(r"[^\W_]+(?:['’-][^\W_]+)*")
_DIGIT = re.compile(r"\d")
_NUMBER = re.compile(r"(?<![\w.])\d+(?:\.\d+)?")
#: Other names a metric goes by in an answer (its own name always counts).
METRIC_ALIASES = {"mos": ("mean opinion score",), "colorfulness": ("colourfulness",), "noisiness": ("noise level",)}


@dataclass(frozen=True)
class OutputRules:
    """What a prompt's output must look like. All rules are optional; the default accepts any text.

    ``required_mentions`` is a tuple of groups; each group is a tuple of alternatives of which
    at least one must appear (case-insensitive; an alternative that starts with a letter or
    digit must start a word, so ``"blur"`` matches "blurry" but not "ablur").
    ``min_items``/``max_items``, ``yes_no_balanced``, ``min_options`` and ``question_words``
    apply to JSON list outputs only; ``min_words``/``max_words`` to plain text only.
    ``required_numbers``: ``(metric name, value)`` pairs that the text must state unchanged (to two
    decimals), each as the first number after the metric's name, and no other number (VisualCritic's
    quantitative answers, paper 000 Fig. 3); the answer being drafted sets them.
    """

    forbid_digits: bool = False
    min_words: int | None = None
    max_words: int | None = None
    required_mentions: tuple[tuple[str, ...], ...] = ()
    json_shape: str | None = None
    min_items: int | None = None
    max_items: int | None = None
    yes_no_balanced: bool = False
    min_options: int | None = None
    question_words: tuple[str, ...] = ()
    required_numbers: tuple[tuple[str, float], ...] = ()

    def __post_init__(self):
        if self.min_words is not None and self.min_words < 0:
            raise ValueError("min_words must be >= 0")
        if self.max_words is not None and self.max_words < 1:
            raise ValueError("max_words must be >= 1")
        if self.min_words is not None and self.max_words is not None and self.min_words > self.max_words:
            raise ValueError("min_words must be <= max_words")
        if self.json_shape is not None and self.json_shape not in JSON_SHAPES:
            raise ValueError(f"json_shape must be one of {JSON_SHAPES} or None")
        if self.min_items is not None and self.min_items < 0:
            raise ValueError("min_items must be >= 0")
        if self.min_items is not None and self.max_items is not None and self.min_items > self.max_items:
            raise ValueError("min_items must be <= max_items")
        if self.min_options is not None and self.min_options < 2:
            raise ValueError("min_options must be >= 2 (an answer and at least one distractor)")
        if (self.yes_no_balanced or self.min_options or self.question_words) and self.json_shape != "vqa":
            raise ValueError("yes_no_balanced, min_options and question_words need json_shape='vqa'")
        for pair in self.required_numbers:
            if not (isinstance(pair, tuple) and len(pair) == 2 and isinstance(pair[0], str) and pair[0].strip()):
                raise ValueError("required_numbers must be a tuple of (metric name, value) pairs")
        for group in self.required_mentions:
            if not isinstance(group, tuple) or not group or not all(isinstance(a, str) and a.strip() for a in group):
                raise ValueError("required_mentions must be a tuple of non-empty tuples of non-empty strings")

    def with_mentions(self, *groups: tuple[str, ...]) -> OutputRules:
        """These rules plus more required-mention groups (answer-specific ones, say)."""
        return dataclasses.replace(self, required_mentions=self.required_mentions + tuple(groups))

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict (for storing a template version in the database)."""
        data = dataclasses.asdict(self)
        data["required_mentions"] = [list(group) for group in self.required_mentions]
        data["question_words"] = list(self.question_words)
        data["required_numbers"] = [list(pair) for pair in self.required_numbers]
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> OutputRules:
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = set(data) - known
        if unknown:
            raise ValueError(f"unknown output rules: {sorted(unknown)}")
        data = dict(data)
        data["required_mentions"] = tuple(tuple(group) for group in data.get("required_mentions", ()))
        data["question_words"] = tuple(data.get("question_words", ()))
        data["required_numbers"] = tuple((str(name), float(value)) for name, value in data.get("required_numbers", ()))
        return cls(**data)


def word_count(text: str) -> int:
    """Words as a reader counts them ("Image A's" is one word, "well-exposed" is one)."""
    return len(_WORD.findall(text))


def _mentions(text: str, alternative: str) -> bool:
    prefix = r"(?<![^\W_])" if alternative[:1].isalnum() else ""
    return re.search(prefix + re.escape(alternative), text, flags=re.IGNORECASE) is not None


def _check_numbers(text: str, required: tuple[tuple[str, float], ...]) -> list[str]:
    """The numbers of ``text`` against ``required``: none dropped, changed, swapped or added."""
    found = [(m.start(), float(m.group())) for m in _NUMBER.finditer(text)]
    problems = []
    wanted = sorted(round(float(v), 2) for _, v in required)
    stated = sorted(round(v, 2) for _, v in found)
    if stated != wanted:
        problems.append(
            f"states the numbers {', '.join(f'{v:.2f}' for v in stated) or 'none'}, "
            f"but the input's are {', '.join(f'{v:.2f}' for v in wanted)} (a number was changed, dropped or added)"
        )
    for name, value in required:
        names = (name,) + METRIC_ALIASES.get(name.lower(), ())
        starts = [m.end() for n in names for m in re.finditer(r"(?<![^\W_])" + re.escape(n) + r"(?![^\W_])", text, flags=re.IGNORECASE)]
        if not starts:
            problems.append(f"does not name {name}")
            continue
        after = [v for position, v in found if position >= min(starts)]
        if not after:
            problems.append(f"gives no number after {name}")
        elif round(after[0], 2) != round(float(value), 2):
            problems.append(f"gives {name} as {after[0]:.2f}, not {float(value):.2f}")
    return problems


def parse_json_output(text: str) -> Any:
    """The JSON in ``text``, with one surrounding Markdown code fence removed. Raises ValueError."""
    match = _FENCE.match(text)
    body = match.group("body") if match else text
    return json.loads(body)


def _check_vqa(items: list, rules: OutputRules) -> list[str]:
    problems: list[str] = []
    yes = no = 0
    for number, item in enumerate(items, start=1):
        where = f"item {number}"
        if not isinstance(item, dict):
            problems.append(f"{where} is not an object with a question and an answer")
            continue
        question, answer, options = item.get("question"), item.get("answer"), item.get("options")
        if not isinstance(question, str) or not question.strip():
            problems.append(f"{where} has no question")
            continue
        if not isinstance(answer, str) or not answer.strip():
            problems.append(f"{where} has no answer")
            continue
        unknown = set(item) - {"question", "answer", "options"}
        if unknown:
            problems.append(f"{where} has unexpected fields: {', '.join(sorted(unknown))}")
        if rules.question_words and not question.strip().lower().startswith(tuple(w.lower() for w in rules.question_words)):
            problems.append(f"{where} does not start with {' / '.join(rules.question_words)}: {question.strip()!r}")
        if options is not None or rules.min_options:
            if not isinstance(options, list) or not all(isinstance(o, str) and o.strip() for o in options):
                problems.append(f"{where} needs a list of answer options")
            else:
                normalised = [o.strip().lower() for o in options]
                if rules.min_options and len(options) < rules.min_options:
                    problems.append(f"{where} has {len(options)} options; at least {rules.min_options} are needed")
                if len(set(normalised)) != len(normalised):
                    problems.append(f"{where} repeats an option")
                if answer.strip().lower() not in normalised:
                    problems.append(f"{where}: the answer {answer.strip()!r} is not among its options")
        if rules.yes_no_balanced:
            verdict = answer.strip().strip(".!").lower()
            if verdict == _YES:
                yes += 1
            elif verdict == _NO:
                no += 1
            else:
                problems.append(f"{where} should be answered yes or no, not {answer.strip()!r}")
    if rules.yes_no_balanced and yes != no:
        problems.append(f"yes and no answers must be balanced 1:1; got {yes} yes and {no} no")
    return problems


def _check_string_list(items: list) -> list[str]:
    return [f"item {n} is not a non-empty string" for n, item in enumerate(items, 1) if not (isinstance(item, str) and item.strip())]


def _check_conversation(turns: list) -> list[str]:
    problems: list[str] = []
    for number, turn in enumerate(turns, start=1):
        expected = "user" if number % 2 else "assistant"
        if not isinstance(turn, dict) or not isinstance(turn.get("content"), str) or not turn["content"].strip():
            problems.append(f"turn {number} needs a role and non-empty content")
            continue
        if turn.get("role") != expected:
            problems.append(f"turn {number} should be the {expected}'s, not {turn.get('role')!r}")
    if turns and isinstance(turns[-1], dict) and turns[-1].get("role") != "assistant":
        problems.append("the conversation must end with the assistant's answer")
    return problems


def validate(text: str, rules: OutputRules) -> list[str]:
    """Every way in which ``text`` breaks ``rules``, as readable sentences; an empty list means it passes."""
    problems: list[str] = []
    if not text or not text.strip():
        return ["the output is empty"]
    if rules.forbid_digits:
        digits = sorted(set(_DIGIT.findall(text)))
        if digits:
            problems.append(f"contains digits ({', '.join(digits)}), which this prompt forbids")
    if rules.required_numbers:
        problems += _check_numbers(text, rules.required_numbers)
    for group in rules.required_mentions:
        if not any(_mentions(text, alternative) for alternative in group):
            wanted = " or ".join(f"“{a}”" for a in group)
            problems.append(f"does not mention {wanted}")

    if rules.json_shape is None:
        words = word_count(text)
        if rules.min_words is not None and words < rules.min_words:
            problems.append(f"too short: {words} words, at least {rules.min_words} expected")
        if rules.max_words is not None and words > rules.max_words:
            problems.append(f"too long: {words} words, at most {rules.max_words} allowed")
        return problems

    try:
        data = parse_json_output(text)
    except ValueError as error:
        return problems + [f"is not valid JSON ({error})"]
    if not isinstance(data, list):
        return problems + ["the JSON must be a list"]
    if rules.min_items is not None and len(data) < rules.min_items:
        problems.append(f"has {len(data)} items, at least {rules.min_items} expected")
    if rules.max_items is not None and len(data) > rules.max_items:
        problems.append(f"has {len(data)} items, at most {rules.max_items} allowed")
    if rules.json_shape == "vqa":
        problems += _check_vqa(data, rules)
    elif rules.json_shape == "string_list":
        problems += _check_string_list(data)
    else:
        problems += _check_conversation(data)
    return problems
