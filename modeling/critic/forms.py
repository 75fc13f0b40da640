"""The Retrain form (a paper's recipe or one composed from the options, and the answer text) and the general-data upload."""
from django import forms

from modeling.critic.data import ABSOLUTE_SCORES, ANSWER_FORMATS, LEVEL_BOUNDS
from modeling.critic.data_sources import GeneralDataUnusable, general_data_path, general_files_available
from modeling.critic.recipes import RECIPES
from modeling.conversation_kinds import QSIT_GROUP_RATIOS


def _ratio(label: str, initial: float) -> forms.FloatField:
    return forms.FloatField(label=label, min_value=0.0, max_value=100.0, initial=initial, required=False)


class RetrainForm(forms.Form):
    """Which recipe trains the next version; "compose" takes every option below as it is set."""

    recipe = forms.ChoiceField(choices=list(RECIPES.items()), initial="default", required=False)
    answer_text = forms.CharField(required=False, max_length=20)  # checked by the view against ANSWER_TEXTS
    ratio_assessment = _ratio("Assessment (D1: scoring, relativity)", QSIT_GROUP_RATIOS["assessment"])
    ratio_perception = _ratio("Perception (D2: descriptions, VQA)", QSIT_GROUP_RATIOS["perception"])
    ratio_general = _ratio("General (D3)", QSIT_GROUP_RATIOS["general"])
    general_data = forms.ChoiceField(required=False, label="General-purpose data")
    level_bounds = forms.ChoiceField(choices=[(v, v) for v in LEVEL_BOUNDS], required=False, initial="observed",
                                     label="Level boundaries (eq. 1)")
    absolute_scores = forms.ChoiceField(choices=[(v, v.replace("_", " ")) for v in ABSOLUTE_SCORES], required=False,
                                        initial="per_source", label="Absolute scores")
    answer_format = forms.ChoiceField(choices=[(v, v) for v in ANSWER_FORMATS], required=False, initial="levels", label="Score answers")
    scoring_system_prompt = forms.BooleanField(required=False, initial=True, label="“Assume you are an image quality evaluator.”")
    perception = forms.BooleanField(required=False, initial=True, label="Reviewed VQA items")
    brief_answers = forms.BooleanField(required=False, label="Brief comparison answers (DepictQA)")
    stagewise = forms.BooleanField(required=False, label="Stage-wise (relativity, absolute, descriptions)")
    mix_by_groups = forms.BooleanField(required=False, label="Mix by groups (Q-SiT Algorithm 1)")

    def __init__(self, *args, project=None, **kwargs):
        super().__init__(*args, **kwargs)
        self.project = project
        uploads = [] if project is None else [
            (upload.option, f"{upload.name} (uploaded, {upload.n_records} records)") for upload in project.general_data_uploads.all()
        ]
        self.fields["general_data"].choices = [("", "none")] + uploads + [(name, name) for name in general_files_available()]

    def clean_general_data(self):
        name = self.cleaned_data.get("general_data") or ""
        if name:
            try:
                general_data_path(name, project=self.project)
            except GeneralDataUnusable as error:
                raise forms.ValidationError(str(error)) from error
        return name

    def clean(self):
        cleaned = super().clean()
        cleaned["recipe"] = cleaned.get("recipe") or "default"
        ratios = {g: cleaned.get(f"ratio_{g}") for g in QSIT_GROUP_RATIOS}
        if any(v is not None for v in ratios.values()) and sum(v or 0.0 for v in ratios.values()) <= 0:
            raise forms.ValidationError("The mix ratios must not all be 0.")
        return cleaned

    def options(self) -> dict:
        """The recipe options (recipe_overrides' `options`) of a valid form."""
        c = self.cleaned_data
        ratios = {g: c.get(f"ratio_{g}") for g in QSIT_GROUP_RATIOS}
        groups = {g: float(v) for g, v in ratios.items() if v is not None} or None
        out = {"general_data": c.get("general_data") or ""}
        if c["recipe"] == "qsit":
            out["groups"] = groups
        if c["recipe"] == "compose":
            out.update(
                groups=groups if c.get("mix_by_groups") else None, level_bounds=c.get("level_bounds") or "observed",
                absolute_scores=c.get("absolute_scores") or "per_source", answer_format=c.get("answer_format") or "levels",
                scoring_system_prompt=bool(c.get("scoring_system_prompt")), perception=bool(c.get("perception")),
                brief_answers=bool(c.get("brief_answers")), stagewise=bool(c.get("stagewise")),
            )
        return out


class GeneralUploadForm(forms.Form):
    """A zip of general-purpose data: one LLaVA-style JSON and its images (checked by general_uploads.check_zip)."""

    archive = forms.FileField(label="Zip with a LLaVA-style JSON and its images")

    def clean_archive(self):
        archive = self.cleaned_data["archive"]
        if not archive.name.lower().endswith(".zip"):
            raise forms.ValidationError("Upload a .zip file.")
        return archive
