"""Forms of the benchmark pages: they check input; the services do the work."""
from django import forms

from config.egress import CREDENTIAL_HELP, CREDENTIAL_UNKNOWN, credential_choices
from evaluation import protocols as p
from evaluation.difficulty import DEFAULT_EPSILON, DEFAULT_LAMBDA
from system_benchmarks.models import BenchmarkRun

PROTOCOL_CHOICES = [(p.SINGLE, "Single stimulus (a score)"), (p.DOUBLE, "Double stimulus (which is better)"), (p.MULTIPLE, "Multiple stimulus (a ranking)")]
PROMPTING_CHOICES = [(p.STANDARD, "Standard"), (p.IN_CONTEXT, "In-context (exemplars with human scores: two images, a pair, or a ranked list of four)"), (p.CHAIN_OF_THOUGHT, "Chain of thought")]


class BenchmarkRunForm(forms.Form):
    name = forms.CharField(max_length=200, required=False)
    system_kind = forms.ChoiceField(choices=BenchmarkRun.SystemKind.choices, label="System", widget=forms.RadioSelect)
    critic_version = forms.ChoiceField(required=False, label="Critic version", choices=())
    endpoint_base_url = forms.CharField(
        required=False, max_length=500, label="Endpoint base URL", help_text="An OpenAI-compatible server, e.g. http://host:8000/v1",
    )
    endpoint_model = forms.CharField(required=False, max_length=200, label="Model")
    endpoint_key_env = forms.ChoiceField(required=False, label="Key", help_text=CREDENTIAL_HELP,
                                        error_messages={"invalid_choice": CREDENTIAL_UNKNOWN})
    protocols = forms.MultipleChoiceField(choices=PROTOCOL_CHOICES, widget=forms.CheckboxSelectMultiple, initial=[p.SINGLE])
    promptings = forms.MultipleChoiceField(choices=PROMPTING_CHOICES, widget=forms.CheckboxSelectMultiple, initial=[p.STANDARD])
    subset_size = forms.IntegerField(min_value=1, initial=50, help_text="Labelled images drawn for the run (all, if fewer).")
    seed = forms.IntegerField(min_value=0, initial=0, help_text="The same seed draws the same images and groups.")
    rounds = forms.IntegerField(min_value=1, max_value=20, initial=2, help_text="Double/multiple stimulus: prompts each image appears in.")
    list_size = forms.IntegerField(min_value=p.MIN_LIST_SIZE, max_value=p.MAX_LIST_SIZE, initial=4, help_text="Images per multiple-stimulus prompt.")
    full_reference = forms.BooleanField(
        required=False, label="Full reference",
        help_text="Paper 004's full-reference scenario: only images with a reference, shown with it; pairs and lists share one reference.",
    )

    def __init__(self, *args, versions=(), **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["endpoint_key_env"].choices = credential_choices()
        self.fields["critic_version"].choices = [("", "—")] + [(str(v.pk), f"v{v.number} ({v.get_status_display().lower()})") for v in versions]
        if not self.is_bound:
            self.fields["system_kind"].initial = BenchmarkRun.SystemKind.CRITIC if versions else BenchmarkRun.SystemKind.ENDPOINT
            if versions:
                self.fields["critic_version"].initial = str(versions[0].pk)


class ChallengeSetForm(forms.Form):
    cell = forms.ChoiceField(label="Expert", help_text="The run's predictions used as the expert model (eq. 5).")
    n_select = forms.IntegerField(min_value=1, label="Images", initial=10)
    lam = forms.FloatField(min_value=0, initial=DEFAULT_LAMBDA, label="λ (diversity weight)")
    epsilon = forms.FloatField(min_value=1e-9, initial=DEFAULT_EPSILON, label="ε (added to the human variance)")
    per_reference = forms.IntegerField(
        min_value=1, required=False, label="Images per reference",
        help_text="Full reference (eqs. 3-4): “Images” counts reference images, and this many of the hardest distorted "
                  "images of each are chosen. Empty: no reference (eq. 5).",
    )
    name = forms.CharField(max_length=200, required=False)

    def __init__(self, *args, cells=(), **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["cell"].choices = [(key, key) for key in cells]
