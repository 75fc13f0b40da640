"""Forms of the study pages: creating a study and adding each kind of system."""
from django import forms

from accounts.models import User
from annotation.models import Membership
from config.egress import CREDENTIAL_HELP, CREDENTIAL_UNKNOWN, credential_choices
from studies.models import DEFAULT_INSTRUCTION
from studies.services.setup import JSONL_MAX_BYTES


class StudyCreateForm(forms.Form):
    name = forms.CharField(max_length=200)
    instruction = forms.CharField(initial=DEFAULT_INSTRUCTION, widget=forms.Textarea(attrs={"rows": 2}),
                                  help_text="What every system is asked about each image (and what annotators read).")
    image_count = forms.IntegerField(min_value=0, initial=20, label="Images",
                                     help_text="How many of the project's images, chosen at random (0: all).")
    votes_per_trial = forms.IntegerField(min_value=1, max_value=50, initial=2, help_text="Votes wanted per image and pair of systems.")
    show_reference = forms.BooleanField(required=False, initial=True, help_text="Show an image's reference beside it when it has one.")
    ask_criteria = forms.BooleanField(required=False, label="Ask the DepictQA criteria",
                                      help_text="Annotators also mark each answer: main issue found, no serious false distortion, consistent.")
    annotators = forms.ModelMultipleChoiceField(queryset=User.objects.none(), required=False, widget=forms.CheckboxSelectMultiple)

    def __init__(self, *args, project, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["annotators"].queryset = User.objects.filter(
            memberships__project=project, memberships__role=Membership.Role.ANNOTATOR,
        ).order_by("username")


class ImportedSystemForm(forms.Form):
    name = forms.CharField(max_length=120, help_text="Seen by researchers only.")
    answers = forms.FileField(help_text='JSONL, one object a line: {"image": "<file name>" or "content_hash": "<sha256>", "answer": "..."}.')

    def clean_answers(self):
        upload = self.cleaned_data["answers"]
        if upload.size > JSONL_MAX_BYTES:
            raise forms.ValidationError(f"The file is larger than {JSONL_MAX_BYTES // (1024 * 1024)} MiB.")
        return upload


class CriticSystemForm(forms.Form):
    name = forms.CharField(max_length=120, help_text="Seen by researchers only.")
    critic_version = forms.ModelChoiceField(queryset=None, help_text="A trained version; the gpu worker writes its answers.")

    def __init__(self, *args, versions, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["critic_version"].queryset = versions
        self.fields["critic_version"].label_from_instance = lambda v: f"v{v.number} ({v.get_status_display()})"


class EndpointSystemForm(forms.Form):
    name = forms.CharField(max_length=120, help_text="Seen by researchers only.")
    base_url = forms.URLField(label="Base URL", assume_scheme="https", help_text="e.g. https://api.openai.com/v1 or http://localhost:8000/v1")
    model = forms.CharField(max_length=200)
    key_env = forms.ChoiceField(required=False, label="Key", help_text=CREDENTIAL_HELP,
                                   error_messages={"invalid_choice": CREDENTIAL_UNKNOWN})

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["key_env"].choices = credential_choices()


class StudyAnnotatorsForm(forms.Form):
    annotators = forms.ModelMultipleChoiceField(queryset=User.objects.none(), required=False, widget=forms.CheckboxSelectMultiple,
                                                help_text="Annotators of the project who vote in this study.")

    def __init__(self, *args, project, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["annotators"].queryset = User.objects.filter(
            memberships__project=project, memberships__role=Membership.Role.ANNOTATOR,
        ).order_by("username")
