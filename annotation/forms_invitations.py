"""Forms for accounts: making invitations and accepting one."""
from django import forms
from django.contrib.auth import password_validation

from accounts.models import Role
from annotation.services.invitations import INVITATION_DAYS_DEFAULT, INVITATIONS_AT_ONCE_MAX


class InvitationCreateForm(forms.Form):
    role = forms.ChoiceField(choices=[(Role.ANNOTATOR.value, Role.ANNOTATOR.label)], initial=Role.ANNOTATOR)
    count = forms.IntegerField(
        label="How many links", min_value=1, max_value=INVITATIONS_AT_ONCE_MAX, initial=1,
        help_text="One link per person; several at once for a crowd.",
    )
    days = forms.IntegerField(label="Valid for (days)", min_value=1, max_value=365, initial=INVITATION_DAYS_DEFAULT)

    def __init__(self, *args, user=None, **kwargs):
        super().__init__(*args, **kwargs)
        if user is not None and user.is_superuser:
            self.fields["role"].choices = Role.choices


class InvitationAcceptForm(forms.Form):
    username = forms.CharField(max_length=150)
    password1 = forms.CharField(
        label="Password", widget=forms.PasswordInput(attrs={"autocomplete": "new-password"}),
    )
    password2 = forms.CharField(label="Password again", widget=forms.PasswordInput(attrs={"autocomplete": "new-password"}))

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["password1"].help_text = " ".join(password_validation.password_validators_help_texts())

    def clean(self):
        cleaned = super().clean()
        if cleaned.get("password1") and cleaned.get("password1") != cleaned.get("password2"):
            self.add_error("password2", "The two passwords differ.")
        return cleaned
