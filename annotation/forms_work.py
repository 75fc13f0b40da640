"""Forms of the work pages: an annotator's answer as posted, its questionnaire rows, and the researcher's settings and gold forms.

The answer forms only reshape what the browser posts into the answer shapes of
`annotation/services/answers.py`; the queue's `judgement_submit` validates them and says what is wrong.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from django import forms
from django.core.exceptions import ValidationError

from annotation.models import Image, Project, WorkItem
from annotation.vocabulary import (
    COMPARISON_SCALE,
    DISTORTION_SEVERITIES,
    DISTORTIONS,
    LEVELS,
    OVERALL_COMPARISON,
    OVERALL_DISTORTION,
    TEXTURE_CATEGORIES,
    TEXTURE_CONDITIONS,
    PairChoice,
    TaskKind,
)
from config.parsing import parse_int

# The key that picks the n-th option of a questionnaire row (shown beside it); 11 texture types need eleven.
OPTION_KEYS = ["1", "2", "3", "4", "5", "6", "7", "8", "9", "0", "-"]


# --- Questionnaire rows -----------------------------------------------------------------------


@dataclass
class Option:
    value: str
    label: str
    key: str
    checked: bool


@dataclass
class Row:
    """One question: a fieldset of radio buttons, picked with the keys 1..N when it is the current row."""

    name: str
    legend: str
    options: list[Option]
    errors: list[str] = field(default_factory=list)
    help: str = ""


def _row(name: str, legend: str, choices, values: dict, errors: dict, help: str = "") -> Row:
    chosen = str(values.get(name, ""))
    options = [
        Option(value=str(value), label=str(label), key=OPTION_KEYS[index], checked=str(value) == chosen)
        for index, (value, label) in enumerate(choices)
    ]
    return Row(name=name, legend=legend, options=options, errors=errors.get(name, []), help=help)


def level_row(values: dict, errors: dict, *, legend: str = "Overall quality") -> Row:
    return _row("level", legend, LEVELS, values, errors)


def description_rows(values: dict, errors: dict) -> list[Row]:
    """DepictQA Task-1: texture, its condition, five distortions, overall (paper 002, Fig. 2)."""
    rows = [
        _row("texture_category", "Most typical texture in the image", TEXTURE_CATEGORIES, values, errors),
        _row("texture_condition", "How well can that texture be made out?", TEXTURE_CONDITIONS, values, errors),
    ]
    for name, label in DISTORTIONS:
        rows.append(_row(f"distortion_{name}", str(label), DISTORTION_SEVERITIES, values, errors))
    rows.append(_row("overall", "Overall distortion", OVERALL_DISTORTION, values, errors))
    return rows


def reasoning_rows(values: dict, errors: dict) -> list[Row]:
    """DepictQA Task-3 in screen terms: A is the left image, B the right one."""
    rows = [
        _row("r_texture_category", "Most typical texture in the two images", TEXTURE_CATEGORIES, values, errors),
        _row("r_texture_a", "Texture in A (left)", TEXTURE_CONDITIONS, values, errors),
        _row("r_texture_b", "Texture in B (right)", TEXTURE_CONDITIONS, values, errors),
    ]
    for name, label in DISTORTIONS:
        rows.append(
            _row(f"r_distortion_{name}", f"{label}: how does A compare with B?", COMPARISON_SCALE, values, errors)
        )
    rows.append(_row("r_overall", "Overall, A compared with B", OVERALL_COMPARISON, values, errors))
    return rows


# --- From the posted form to an answer, and the service's errors back onto the form ----------------

#: Every field name a work form may post an answer part under (where a service error can be shown).
ANSWER_FIELDS = frozenset(
    {"choice", "description", "conclusion", "level", "reasoning"}
    | {row.name for row in description_rows({}, {})}
    | {row.name for row in reasoning_rows({}, {})}
)


def _int_or_text(value: str):
    """A level as the int the answer shapes use; anything else passed on for the service to refuse."""
    number = parse_int(value)
    return value if number is None else number


def answer_from_post(*, kind: str, data, pair_reasoning: bool) -> dict:
    """The answer (screen terms, the shapes of services/answers.py) from a posted work form; blank fields are left out."""

    def given(name: str) -> str:
        return (data.get(name) or "").strip()

    if kind == TaskKind.RATING:
        return {"level": _int_or_text(given("level"))} if given("level") else {}
    if kind == TaskKind.PATHWAY:
        answer = {"description": given("description"), "conclusion": given("conclusion")}
        if given("level"):
            answer["level"] = _int_or_text(given("level"))
        return answer
    if kind == TaskKind.DESCRIPTION:
        answer = {key: given(key) for key in ("texture_category", "texture_condition", "overall") if given(key)}
        answer["distortions"] = {name: given(f"distortion_{name}") for name, _ in DISTORTIONS if given(f"distortion_{name}")}
        return answer
    if kind == TaskKind.PAIR:
        answer = {"choice": given("choice")} if given("choice") else {}
        if pair_reasoning:
            reasoning = {
                key: given(f"r_{key}") for key in ("texture_category", "texture_a", "texture_b", "overall") if given(f"r_{key}")
            }
            reasoning["distortions"] = {
                name: given(f"r_distortion_{name}") for name, _ in DISTORTIONS if given(f"r_distortion_{name}")
            }
            answer["reasoning"] = reasoning
        return answer
    return {}


def form_values(data) -> dict:
    """What the annotator posted, one value per field, to put back into the form after an error."""
    return {key: data.get(key, "") for key in data if key != "csrfmiddlewaretoken"}


def _field_name_for(error_key: str) -> str:
    """The form field a service error key points at: "distortions.noise" -> "distortion_noise",
    "reasoning.texture_a" -> "r_texture_a" (dots and double underscores both accepted)."""
    name = error_key.replace("__", ".").replace("/", ".")
    parts = [part for part in name.split(".") if part]
    prefix = ""
    if parts and parts[0] == "reasoning" and len(parts) > 1:
        prefix, parts = "r_", parts[1:]
    if parts and parts[0] == "distortions" and len(parts) > 1:
        parts = ["distortion", *parts[1:]]
    return prefix + "_".join(parts)


def errors_by_field(exc: ValidationError, field_names: set[str]) -> tuple[dict[str, list[str]], list[str]]:
    """Split a service ValidationError into messages on the form's fields and messages for the whole form."""
    by_field: dict[str, list[str]] = {}
    general: list[str] = []
    if not hasattr(exc, "error_dict"):
        return by_field, list(exc.messages)
    for key, messages in exc.message_dict.items():
        name = _field_name_for(key)
        if name in field_names:
            by_field.setdefault(name, []).extend(messages)
        else:
            general.extend(messages)
    return by_field, general


# --- Researcher forms ----------------------------------------------------------------------------

SETTINGS_FIELDS = [
    "overlap",
    "pair_source",
    "pair_reasoning",
    "pair_allow_tie",
    "selection_strategy",
    "pair_batch_size",
    "gold_rate",
    "repeat_rate",
    "lease_seconds",
    "fatigue_warn_after",
    "fatigue_pause_after",
    "fatigue_break_minutes",
    "training_required",
    "training_pass_mark",
    "pathway_show_mos",
]
SETTINGS_LABELS = {
    "overlap": "Annotators per item",
    "pair_source": "How pairs are chosen",
    "pair_reasoning": "Ask for the comparison-reasoning questionnaire after each comparison",
    "pair_allow_tie": "Offer “hard to decide” on comparisons",
    "selection_strategy": "Active selection strategy",
    "pair_batch_size": "Pairs per refill",
    "gold_rate": "Gold rate",
    "repeat_rate": "Repeat rate",
    "lease_seconds": "Lease length (seconds)",
    "fatigue_warn_after": "Warn after (items in a row)",
    "fatigue_pause_after": "Pause after (items in a row)",
    "fatigue_break_minutes": "Break (minutes)",
    "training_required": "Annotators must pass a training round first",
    "training_pass_mark": "Training pass mark",
    "pathway_show_mos": "Show the image's MOS while annotators write pathway feedback",
}


class ProjectAnnotationSettingsForm(forms.Form):
    """The project's annotation settings; fields, limits and help come from the model, saving from the service."""

    task_kinds = forms.MultipleChoiceField(
        choices=TaskKind.choices,
        widget=forms.CheckboxSelectMultiple,
        required=False,
        label="Task kinds",
        help_text="What annotators are asked to do on this project.",
    )

    def __init__(self, *args, project: Project, **kwargs):
        kwargs.setdefault("initial", {name: getattr(project, name) for name in ["task_kinds", *SETTINGS_FIELDS]})
        super().__init__(*args, **kwargs)
        for name in SETTINGS_FIELDS:
            model_field = Project._meta.get_field(name)
            form_field = model_field.formfield()
            form_field.validators.extend(
                validator for validator in model_field.validators if validator not in form_field.validators
            )
            form_field.label = SETTINGS_LABELS.get(name, form_field.label)
            self.fields[name] = form_field


GOLD_PURPOSES = [(WorkItem.Purpose.TRAINING.value, "Training (with feedback)"), (WorkItem.Purpose.GOLD.value, "Hidden gold")]


class GoldItemForm(forms.Form):
    """A gold or training item: its images (by id, from this project) and the known answer its kind needs."""

    kind = forms.ChoiceField(choices=TaskKind.choices)
    purpose = forms.ChoiceField(choices=GOLD_PURPOSES, initial=WorkItem.Purpose.TRAINING)
    image = forms.IntegerField(label="Image id", min_value=1, help_text="The image, or A of a pair (ids are on the Images tab).")
    image_b = forms.IntegerField(label="Image B id", min_value=1, required=False, help_text="Pairs only.")
    level = forms.TypedChoiceField(
        choices=[("", "—"), *LEVELS], coerce=int, empty_value=None, required=False,
        label="Known level", help_text="Rating and pathway items (1 bad … 5 excellent).",
    )
    choice = forms.ChoiceField(
        choices=[("", "—"), *PairChoice.choices], required=False, label="Better image", help_text="Pairs only.",
    )
    overall = forms.ChoiceField(
        choices=[("", "—"), *OVERALL_DISTORTION], required=False, label="Overall distortion",
        help_text="Description questionnaire items.",
    )
    feedback = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 3}), required=False,
        help_text="Shown to the annotator after a training answer: why this is the right answer.",
    )

    def __init__(self, *args, project: Project, **kwargs):
        super().__init__(*args, **kwargs)
        self.project = project

    def _project_image(self, name: str) -> Image | None:
        image_id = self.cleaned_data.get(name)
        if image_id is None:
            return None
        image = Image.objects.filter(project=self.project, pk=image_id).first()
        if image is None:
            self.add_error(name, f"This project has no image #{image_id}.")
        return image

    def clean(self):
        cleaned = super().clean()
        kind = cleaned.get("kind")
        cleaned["image_obj"] = self._project_image("image")
        cleaned["image_b_obj"] = self._project_image("image_b")
        if kind == TaskKind.PAIR:
            if cleaned.get("image_b") is None and "image_b" not in self.errors:
                self.add_error("image_b", "A pair needs a second image.")
            if not cleaned.get("choice"):
                self.add_error("choice", "Say which image of the pair is better.")
            cleaned["gold_answer"] = {"choice": cleaned.get("choice")}
        else:
            if cleaned.get("image_b") is not None:
                self.add_error("image_b", "Only pairs have a second image.")
            if kind == TaskKind.DESCRIPTION:
                if not cleaned.get("overall"):
                    self.add_error("overall", "Give the known overall distortion.")
                cleaned["gold_answer"] = {"overall": cleaned.get("overall")}
            else:
                if cleaned.get("level") is None:
                    self.add_error("level", "Give the known level.")
                cleaned["gold_answer"] = {"level": cleaned.get("level")}
        if cleaned.get("purpose") == WorkItem.Purpose.TRAINING and not (cleaned.get("feedback") or "").strip():
            self.add_error("feedback", "Training items need feedback: it is what the annotator learns from.")
        return cleaned
