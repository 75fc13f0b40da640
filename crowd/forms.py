"""Forms of the crowd app: the researcher's link settings and a decision on a participant."""
from django import forms

from crowd.models import CrowdLink, CrowdParticipant


class CrowdLinkForm(forms.ModelForm):
    """The entry link's settings; the model's validators check the values, the service saves them."""

    completion_url = forms.URLField(
        required=False, max_length=500, assume_scheme="https", label="Completion URL",
        help_text=CrowdLink._meta.get_field("completion_url").help_text + " {code} becomes the completion code.",
    )

    class Meta:
        model = CrowdLink
        fields = ["enabled", "platform", "items_required", "completion_code", "completion_url"]
        labels = {"enabled": "Open the link to participants"}


class CrowdDecisionForm(forms.Form):
    decision = forms.ChoiceField(choices=[
        (CrowdParticipant.Decision.APPROVED, "Approve"), (CrowdParticipant.Decision.REJECTED, "Reject"),
    ])
    reason = forms.CharField(required=False, max_length=2000)
