"""The export request form of the researcher page: it checks input shapes; the service checks the rest."""
from django import forms

from exports.formats import FORMATS


class ExportForm(forms.Form):
    formats = forms.MultipleChoiceField(
        choices=[], widget=forms.CheckboxSelectMultiple,
        help_text="One format without images downloads as that file; more, or images, as a zip with a manifest (the ShareGPT variant always comes zipped with its dataset_info.json).",
    )
    include_images = forms.BooleanField(required=False, label="Include the image files (zip)")
    date_from = forms.DateField(required=False, help_text="Judgements submitted on or after this day (YYYY-MM-DD).")
    date_to = forms.DateField(required=False, help_text="Judgements submitted on or before this day (YYYY-MM-DD).")
    annotators = forms.CharField(required=False, help_text="Usernames or ids, separated by commas; blank: everyone.")
    gold_min_accuracy = forms.FloatField(
        required=False, min_value=0.0, max_value=1.0, label="Gold-passed only: minimum gold accuracy",
        help_text="Only annotators who got at least this share (0-1) of their hidden gold items right.",
    )
    include_excluded = forms.BooleanField(
        required=False, label="Include judgements excluded by quality control",
        help_text="Left out unless ticked. The training conversations never include them.",
    )

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["formats"].choices = [(name, export_format.label) for name, export_format in FORMATS.items()]

    def filters(self) -> dict:
        data = self.cleaned_data
        return {
            "date_from": data["date_from"], "date_to": data["date_to"], "annotators": data["annotators"],
            "gold_min_accuracy": data["gold_min_accuracy"], "include_excluded": data["include_excluded"],
        }
