"""Answers to the four task kinds: validation, screen <-> item terms, gold checks and the questionnaire schema.

Clients (pages and API) speak SCREEN terms: for a pair "a" is the image shown on the LEFT. Judgements are
stored in ITEM terms: "a" is `WorkItem.image`, "b" is `WorkItem.image_b`. `Lease.swap` says whether B was
shown on the left; `answer_clean` converts on the way in, `answer_for_screen` on the way out (feedback).

Shapes (screen terms):
- rating: {"level": 1..5}
- pathway: {"description": str, "conclusion": str, "level": 1..5 (optional)}
- description: {"texture_category", "texture_condition", "distortions": {<each of DISTORTIONS>: severity}, "overall"}
- pair: {"choice": "a"|"b"|"tie", "reasoning": {"texture_category", "texture_a", "texture_b",
  "distortions": {<each of DISTORTIONS>: COMPARISON_SCALE key}, "overall": OVERALL_COMPARISON key}}
  ("tie" only when the project allows it; "reasoning" required exactly when project.pair_reasoning is on, its
  "overall" never the opposite of "choice").
"""
from __future__ import annotations

from dataclasses import dataclass

from django.core.exceptions import ValidationError

from annotation.vocabulary import (
    COMPARISON_SCALE,
    DISTORTION_SEVERITIES,
    DISTORTIONS,
    LEVEL_LABELS,
    LEVELS,
    OVERALL_COMPARISON,
    OVERALL_DISTORTION,
    PATHWAY_ATTRIBUTES,
    PATHWAY_CONTEXT_HINTS,
    PATHWAY_MIN_CONCLUSION_CHARS,
    PATHWAY_MIN_DESCRIPTION_CHARS,
    TEXTURE_CATEGORIES,
    TEXTURE_CONDITIONS,
    PairChoice,
    TaskKind,
)

PATHWAY_TEXT_MAX_CHARS = 5000

MESSAGES = {
    "pathway.description": (
        f"Describe the low-level attributes (blur, noise, exposure…) in at least {PATHWAY_MIN_DESCRIPTION_CHARS} characters."
    ),
    "pathway.conclusion": f"Conclude on the overall quality in at least {PATHWAY_MIN_CONCLUSION_CHARS} characters.",
}

_MIRROR_CHOICE = {"a": "b", "b": "a", "tie": "tie"}
_MIRROR_COMPARISON = {
    "a_much_less": "a_much_more", "a_less": "a_more", "equal": "equal", "a_more": "a_less", "a_much_more": "a_much_less",
}
_MIRROR_OVERALL = {
    "a_better": "a_worse", "a_slightly_better": "a_slightly_worse", "hard": "hard",
    "a_slightly_worse": "a_slightly_better", "a_worse": "a_better",
}
#: Overall comparisons that say the opposite of a choice (screen terms).
_CONTRADICTS = {"a": ("a_slightly_worse", "a_worse"), "b": ("a_better", "a_slightly_better")}
_GOLD_KEYS = {TaskKind.RATING: "level", TaskKind.PATHWAY: "level", TaskKind.PAIR: "choice", TaskKind.DESCRIPTION: "overall"}


@dataclass(frozen=True)
class CleanAnswer:
    """A validated answer in ITEM terms, with the columns the Judgement row keeps alongside it."""

    answer: dict
    level: int | None = None
    choice: str = ""


# ----------------------------------------------------------------------------------------- validation


class _Errors:
    """Collects field -> message; raises one ValidationError with all of them."""

    def __init__(self):
        self.errors: dict[str, str] = {}

    def add(self, field: str, message: str) -> None:
        self.errors.setdefault(field, message)

    def raise_if_any(self) -> None:
        if self.errors:
            raise ValidationError(self.errors)


def _keys(choices) -> list:
    return [key for key, _ in choices]


def _one_of(errors: _Errors, data: dict, field: str, choices, *, label: str, path: str = "") -> str | None:
    name = f"{path}{field}"
    if field not in data or data[field] in (None, ""):
        errors.add(name, f"Choose the {label}.")
        return None
    value = data[field]
    if not isinstance(value, str) or value not in _keys(choices):
        errors.add(name, f"Unknown {label} {value!r}; choose one of: {', '.join(_keys(choices))}.")
        return None
    return value


def _level(errors: _Errors, data: dict, field: str = "level", *, required: bool) -> int | None:
    if field not in data or data[field] is None:
        if required:
            errors.add(field, "Choose a quality level from 1 (bad) to 5 (excellent).")
        return None
    value = data[field]
    if isinstance(value, bool) or not isinstance(value, int) or value not in LEVEL_LABELS:
        errors.add(field, f"The level must be a whole number from 1 (bad) to 5 (excellent), not {value!r}.")
        return None
    return value


def _text(errors: _Errors, data: dict, field: str, *, min_chars: int, message: str) -> str | None:
    value = data.get(field)
    if value is None:
        errors.add(field, message)
        return None
    if not isinstance(value, str):
        errors.add(field, f"The {field} must be text.")
        return None
    value = value.strip()
    if len(value) < min_chars:
        errors.add(field, message)
        return None
    if len(value) > PATHWAY_TEXT_MAX_CHARS:
        errors.add(field, f"Keep the {field} under {PATHWAY_TEXT_MAX_CHARS} characters.")
        return None
    return value


def _no_unknown_keys(errors: _Errors, data: dict, allowed: set[str], *, path: str = "") -> None:
    for key in sorted(set(data) - allowed, key=str):
        errors.add(f"{path}{key}", f"Unexpected field {key!r}.")


def _object(errors: _Errors, value, field: str, what: str) -> dict | None:
    if not isinstance(value, dict):
        errors.add(field, f"The {what} must be an object (a JSON dictionary).")
        return None
    return value


def _distortions(errors: _Errors, data: dict, choices, *, path: str, label: str) -> dict | None:
    value = data.get("distortions")
    if value is None:
        errors.add(f"{path}distortions", "Answer for each distortion: " + ", ".join(_keys(DISTORTIONS)) + ".")
        return None
    value = _object(errors, value, f"{path}distortions", "distortions answer")
    if value is None:
        return None
    _no_unknown_keys(errors, value, set(_keys(DISTORTIONS)), path=f"{path}distortions.")
    out = {}
    for key, name in DISTORTIONS:
        out[key] = _one_of(errors, value, key, choices, label=f"{label} for {name.lower()}", path=f"{path}distortions.")
    return out


def answer_clean(*, kind: str, answer: dict, project, swap: bool) -> CleanAnswer:
    """Check an answer given in SCREEN terms and return it in ITEM terms.

    Raises django's ValidationError with a dict field -> message (nested fields dotted:
    "reasoning.distortions.noise") for wrong types, unknown keys or choices, out-of-range levels, missing
    parts, text that is too short, and a comparison questionnaire whose overall answer contradicts the choice.
    """
    errors = _Errors()
    if not isinstance(answer, dict):
        raise ValidationError({"answer": "The answer must be an object (a JSON dictionary)."})
    if kind == TaskKind.RATING:
        _no_unknown_keys(errors, answer, {"level"})
        level = _level(errors, answer, required=True)
        errors.raise_if_any()
        return CleanAnswer(answer={"level": level}, level=level)
    if kind == TaskKind.PATHWAY:
        _no_unknown_keys(errors, answer, {"description", "conclusion", "level"})
        description = _text(errors, answer, "description", min_chars=PATHWAY_MIN_DESCRIPTION_CHARS, message=MESSAGES["pathway.description"])
        conclusion = _text(errors, answer, "conclusion", min_chars=PATHWAY_MIN_CONCLUSION_CHARS, message=MESSAGES["pathway.conclusion"])
        level = _level(errors, answer, required=False)
        errors.raise_if_any()
        clean = {"description": description, "conclusion": conclusion}
        if level is not None:
            clean["level"] = level
        return CleanAnswer(answer=clean, level=level)
    if kind == TaskKind.DESCRIPTION:
        _no_unknown_keys(errors, answer, {"texture_category", "texture_condition", "distortions", "overall"})
        clean = {
            "texture_category": _one_of(errors, answer, "texture_category", TEXTURE_CATEGORIES, label="texture category"),
            "texture_condition": _one_of(errors, answer, "texture_condition", TEXTURE_CONDITIONS, label="texture condition"),
            "distortions": _distortions(errors, answer, DISTORTION_SEVERITIES, path="", label="severity"),
            "overall": _one_of(errors, answer, "overall", OVERALL_DISTORTION, label="overall distortion"),
        }
        errors.raise_if_any()
        return CleanAnswer(answer=clean)
    if kind == TaskKind.PAIR:
        return _pair_clean(errors, answer, project=project, swap=swap)
    raise ValidationError({"kind": f"Unknown task kind {kind!r}."})


def _pair_clean(errors: _Errors, answer: dict, *, project, swap: bool) -> CleanAnswer:
    _no_unknown_keys(errors, answer, {"choice", "reasoning"})
    allowed = [PairChoice.A, PairChoice.B] + ([PairChoice.TIE] if project.pair_allow_tie else [])
    choice = _one_of(errors, answer, "choice", [(c.value, c.label) for c in allowed], label="better image")
    reasoning = None
    if project.pair_reasoning:
        if answer.get("reasoning") is None:
            errors.add("reasoning", "Answer the comparison questionnaire too.")
        else:
            reasoning = _object(errors, answer["reasoning"], "reasoning", "comparison questionnaire")
    elif answer.get("reasoning") is not None:
        errors.add("reasoning", "This project does not ask for the comparison questionnaire.")
    clean_reasoning = None
    if reasoning is not None:
        path = "reasoning."
        _no_unknown_keys(errors, reasoning, {"texture_category", "texture_a", "texture_b", "distortions", "overall"}, path=path)
        clean_reasoning = {
            "texture_category": _one_of(errors, reasoning, "texture_category", TEXTURE_CATEGORIES, label="texture category", path=path),
            "texture_a": _one_of(errors, reasoning, "texture_a", TEXTURE_CONDITIONS, label="texture condition of A", path=path),
            "texture_b": _one_of(errors, reasoning, "texture_b", TEXTURE_CONDITIONS, label="texture condition of B", path=path),
            "distortions": _distortions(errors, reasoning, COMPARISON_SCALE, path=path, label="comparison"),
            "overall": _one_of(errors, reasoning, "overall", OVERALL_COMPARISON, label="overall comparison", path=path),
        }
        if choice and clean_reasoning["overall"]:
            _overall_agrees(errors, choice, clean_reasoning["overall"])
    errors.raise_if_any()
    clean = {"choice": choice}
    if clean_reasoning is not None:
        clean["reasoning"] = clean_reasoning
    if swap:
        clean = _pair_mirror(clean)
    return CleanAnswer(answer=clean, choice=clean["choice"])


def _overall_agrees(errors: _Errors, choice: str, overall: str) -> None:
    """The overall comparison may not say the opposite of the choice ("B is better", then "A is better than B").

    "Hard to decide" on either side agrees with anything: a forced choice may still lean one way.
    """
    if overall not in _CONTRADICTS.get(choice, ()):
        return
    chose = {PairChoice.A: "A (left) is better", PairChoice.B: "B (right) is better"}[choice]
    errors.add(
        "reasoning.overall",
        f"You chose “{chose}” but answered “{dict(OVERALL_COMPARISON)[overall]}” overall: change one of them so they agree.",
    )


def _pair_mirror(answer: dict) -> dict:
    """Exchange A and B in a pair answer (its own inverse)."""
    out = dict(answer)
    if "choice" in out:
        out["choice"] = _MIRROR_CHOICE[out["choice"]]
    reasoning = out.get("reasoning")
    if reasoning:
        out["reasoning"] = {
            **reasoning,
            "texture_a": reasoning["texture_b"],
            "texture_b": reasoning["texture_a"],
            "distortions": {key: _MIRROR_COMPARISON[value] for key, value in reasoning["distortions"].items()},
            "overall": _MIRROR_OVERALL[reasoning["overall"]],
        }
    return out


def answer_for_screen(*, kind: str, answer: dict, swap: bool) -> dict:
    """An answer (or gold answer) in ITEM terms as the annotator saw the screen: the inverse of answer_clean."""
    if kind == TaskKind.PAIR and swap:
        return _pair_mirror(answer)
    return dict(answer)


# ----------------------------------------------------------------------------------------------- gold


def gold_check(kind: str, answer: dict, gold_answer: dict) -> bool | None:
    """Whether an answer (ITEM terms) matches a gold answer; None when the gold answer does not say.

    Levels (rating, pathway) count as right within one level of gold; a pathway answer without a level
    cannot be checked (None). Pairs need the same choice, descriptions the same overall distortion.
    """
    key = _GOLD_KEYS.get(kind)
    if key is None or key not in (gold_answer or {}):
        return None
    if key == "level":
        if answer.get("level") is None:
            return None if kind == TaskKind.PATHWAY else False
        return abs(int(answer["level"]) - int(gold_answer["level"])) <= 1
    return answer.get(key) == gold_answer[key]


def gold_answer_clean(*, kind: str, gold_answer: dict) -> dict:
    """Check a gold answer (ITEM terms): {"level"} for rating and pathway, {"choice"} for pairs, {"overall"} for descriptions."""
    if not isinstance(gold_answer, dict):
        raise ValidationError({"gold_answer": "The gold answer must be an object (a JSON dictionary)."})
    key = _GOLD_KEYS.get(kind)
    if key is None:
        raise ValidationError({"kind": f"Unknown task kind {kind!r}."})
    extra = set(gold_answer) - {key}
    if extra:
        raise ValidationError({"gold_answer": f"A {kind} gold answer has only {key!r}; unexpected: {', '.join(sorted(map(str, extra)))}."})
    value = gold_answer.get(key)
    valid = {
        "level": list(LEVEL_LABELS),
        "choice": PairChoice.values,
        "overall": _keys(OVERALL_DISTORTION),
    }[key]
    if isinstance(value, bool) or value not in valid:
        raise ValidationError({"gold_answer": f"A {kind} gold answer needs {key!r} set to one of {valid}."})
    return {key: value}


# ------------------------------------------------------------------------------------- questionnaire


def _choices(pairs) -> list[dict]:
    return [{"key": key, "label": label} for key, label in pairs]


def _choice_field(name: str, label: str, pairs, *, required: bool = True) -> dict:
    return {"name": name, "label": label, "type": "choice", "required": required, "choices": _choices(pairs)}


def _distortions_group(name: str, label: str, pairs) -> dict:
    return {
        "name": name, "label": label, "type": "group", "required": True,
        "fields": [_choice_field(key, dlabel, pairs) for key, dlabel in DISTORTIONS],
    }


def questionnaire_schema(kind: str, project) -> dict:
    """What to ask for `kind` in `project`, in SCREEN terms ("a" = left): fields, choices (key + label), required-ness.

    Pages and API clients render the same choices from it. Field types: "level" (an integer choice),
    "choice" (a string key), "text" (with `min_length`), "group" (an object of `fields`).
    """
    levels = [{"key": key, "label": label} for key, label in LEVELS]
    if kind == TaskKind.RATING:
        fields = [{"name": "level", "label": "Overall quality", "type": "level", "required": True, "choices": levels}]
        return {"kind": kind, "title": "How good is the quality of this image?", "fields": fields}
    if kind == TaskKind.PATHWAY:
        fields = [
            {"name": "description", "label": "Low-level attributes", "type": "text", "required": True,
             "min_length": PATHWAY_MIN_DESCRIPTION_CHARS, "help": MESSAGES["pathway.description"]},
            {"name": "conclusion", "label": "Conclusion on overall quality", "type": "text", "required": True,
             "min_length": PATHWAY_MIN_CONCLUSION_CHARS, "help": MESSAGES["pathway.conclusion"]},
            {"name": "level", "label": "Overall quality (optional)", "type": "level", "required": False, "choices": levels},
        ]
        return {
            "kind": kind, "title": "Describe the quality of this image, then conclude.", "fields": fields,
            "helpers": {"attributes": PATHWAY_ATTRIBUTES, "context": PATHWAY_CONTEXT_HINTS},
        }
    if kind == TaskKind.DESCRIPTION:
        fields = [
            _choice_field("texture_category", "Main texture", TEXTURE_CATEGORIES),
            _choice_field("texture_condition", "Texture condition", TEXTURE_CONDITIONS),
            _distortions_group("distortions", "Distortions", DISTORTION_SEVERITIES),
            _choice_field("overall", "Overall", OVERALL_DISTORTION),
        ]
        return {"kind": kind, "title": "Describe the distortions of this image.", "fields": fields}
    if kind == TaskKind.PAIR:
        choices = [("a", "Left image is better"), ("b", "Right image is better")]
        if project.pair_allow_tie:
            choices.append(("tie", "Hard to decide"))
        fields = [_choice_field("choice", "Which image has better quality?", choices)]
        if project.pair_reasoning:
            fields.append({
                "name": "reasoning", "label": "Why (A is the left image, B the right one)", "type": "group", "required": True,
                "fields": [
                    _choice_field("texture_category", "Main texture", TEXTURE_CATEGORIES),
                    _choice_field("texture_a", "Texture condition of A (left)", TEXTURE_CONDITIONS),
                    _choice_field("texture_b", "Texture condition of B (right)", TEXTURE_CONDITIONS),
                    _distortions_group("distortions", "Each distortion: how A compares with B", COMPARISON_SCALE),
                    _choice_field("overall", "Overall", OVERALL_COMPARISON),
                ],
            })
        return {"kind": kind, "title": "Which image has better quality?", "fields": fields}
    raise ValueError(f"unknown task kind {kind!r}")
