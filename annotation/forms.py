"""Forms of the researcher pages: they check input; the services do the work."""
from django import forms

from annotation.models import Membership, Project
from annotation.selectors import user_get_by_username


class ProjectCreateForm(forms.Form):
    name = forms.CharField(max_length=Project._meta.get_field("name").max_length)
    slug = forms.SlugField(
        max_length=Project._meta.get_field("slug").max_length,
        required=False,
        help_text="Used in exports and file names. Leave blank to make one from the name.",
    )
    description = forms.CharField(widget=forms.Textarea(attrs={"rows": 4}), required=False)


class MembershipAddForm(forms.Form):
    username = forms.CharField(max_length=150, help_text="An existing account.")
    role = forms.ChoiceField(choices=Membership.Role.choices, initial=Membership.Role.ANNOTATOR)

    def clean_username(self):
        username = self.cleaned_data["username"]
        user = user_get_by_username(username=username)
        if user is None:
            raise forms.ValidationError(f"There is no account named “{username}”.")
        self.cleaned_data["user"] = user
        return user.username


class MultipleFileInput(forms.ClearableFileInput):
    allow_multiple_selected = True


class MultipleFileField(forms.FileField):
    """A file field that takes several files at once (Django's documented recipe)."""

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("widget", MultipleFileInput())
        super().__init__(*args, **kwargs)

    def clean(self, data, initial=None):
        single_file_clean = super().clean
        if isinstance(data, (list, tuple)):
            return [single_file_clean(d, initial) for d in data]
        return [single_file_clean(data, initial)] if data else []


def mos_scale_check(mos_min: float | None, mos_max: float | None) -> list[float] | None:
    """The MOS scale as [min, max], or None if neither bound is given; raises ValueError with a readable message."""
    if mos_min is None and mos_max is None:
        return None
    if mos_min is None or mos_max is None:
        raise ValueError("Give both ends of the MOS scale, or neither.")
    if mos_min >= mos_max:
        raise ValueError(f"The MOS scale minimum ({mos_min:g}) must be below its maximum ({mos_max:g}).")
    return [mos_min, mos_max]


def import_options(*, mos_scale: list[float] | None, source_dataset: str, mos_lower_is_better: bool = False) -> dict:
    """The batch-wide options `import_batch_create` takes, leaving out what was not given."""
    options: dict = {}
    if mos_scale is not None:
        options["mos_scale"] = mos_scale
    if source_dataset:
        options["source_dataset"] = source_dataset
    if mos_lower_is_better:
        options["mos_lower_is_better"] = True
    return options


MOS_LOWER_IS_BETTER_HELP = (
    "The manifest's mos column holds DMOS (a difference score); it is flipped on import so that higher is better."
)


class ImportForm(forms.Form):
    files = MultipleFileField(
        required=False,
        widget=MultipleFileInput(attrs={"accept": "image/*,.zip,application/zip"}),
        help_text="Images (JPEG, PNG, WebP, BMP, TIFF) and/or .zip archives of images.",
    )
    manifest = forms.FileField(
        required=False,
        widget=forms.ClearableFileInput(attrs={"accept": ".csv,text/csv"}),
        help_text="Optional CSV: one row per file name, with MOS, source dataset, reference and other columns.",
    )
    mos_min = forms.FloatField(required=False, label="MOS scale minimum", help_text="For example 1 on a 1–5 scale.")
    mos_max = forms.FloatField(required=False, label="MOS scale maximum", help_text="For example 5 on a 1–5 scale.")
    mos_lower_is_better = forms.BooleanField(
        required=False, label="Lower scores are better (DMOS)", help_text=MOS_LOWER_IS_BETTER_HELP,
    )
    source_dataset = forms.CharField(
        max_length=200, required=False, help_text="For rows the manifest does not name, e.g. KonIQ-10k."
    )

    def clean_files(self):
        files = self.cleaned_data["files"]
        if not files:
            raise forms.ValidationError("Choose at least one image or zip file to import.")
        return files

    def clean(self):
        cleaned = super().clean()
        if "mos_min" in self.errors or "mos_max" in self.errors:
            return cleaned  # a bound that is not a number is already reported
        try:
            cleaned["mos_scale"] = mos_scale_check(cleaned.get("mos_min"), cleaned.get("mos_max"))
        except ValueError as exc:
            self.add_error("mos_max", str(exc))
        return cleaned

    def options(self) -> dict:
        return import_options(
            mos_scale=self.cleaned_data.get("mos_scale"), source_dataset=self.cleaned_data["source_dataset"],
            mos_lower_is_better=self.cleaned_data["mos_lower_is_better"],
        )
