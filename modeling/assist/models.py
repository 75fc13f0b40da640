"""The LLM's rows: prompt versions, the call ledger, VQA items from feedback, and training answers (paper 000, Fig. 3-4)."""
from django.conf import settings
from django.db import models
from django.db.models import Q


class ConstructedText(models.Model):
    """One data-construction output: a scores description or numeric answer, an authenticity sentence, a MOS-pair sentence or paraphrases.

    Keyed by what went into the prompt (`input_key` names the image, pair or metric; `input_hash` is the
    SHA-256 of the rendered input), so a changed MOS or rating makes a new row and the old text is no
    longer used. Only `accepted` rows (the prompt's rules hold) enter training; `rejected` rows keep the
    output and its problems for review; `failed` rows keep the call's error.
    """

    class Purpose(models.TextChoices):
        SCORES = "scores", "Scores → description"
        QUANTITATIVE = "quantitative", "Scores → numeric answer"
        AUTHENTICITY = "authenticity", "Authenticity → sentence"
        MOS_PAIR = "mos_pair", "Two MOS → comparison"
        PARAPHRASES = "instruction_paraphrases", "Instruction paraphrases"

    class Status(models.TextChoices):
        ACCEPTED = "accepted", "Accepted"
        REJECTED = "rejected", "Rejected (broke the prompt's rules)"
        FAILED = "failed", "Failed call"

    project = models.ForeignKey("annotation.Project", on_delete=models.CASCADE, related_name="constructed_texts")
    purpose = models.CharField(max_length=32, choices=Purpose.choices)
    input_key = models.CharField(max_length=100, help_text='"image:<id>", "pair:<first id>:<second id>" or "metric:<name>".')
    input_text = models.TextField(help_text="The rendered prompt input (numbers go in, none may come out).")
    input_hash = models.CharField(max_length=64)
    prompt_name = models.CharField(max_length=100)
    prompt_version = models.PositiveIntegerField()
    model = models.CharField(max_length=200, help_text="The model, or loupe-template-drafter offline.")
    text = models.TextField(blank=True)
    problems = models.JSONField(default=list, blank=True)
    error = models.TextField(blank=True)
    status = models.CharField(max_length=16, choices=Status.choices)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["project", "purpose", "input_key", "input_hash", "prompt_name", "prompt_version", "model"],
                name="unique_constructed_text",
            ),
        ]
        indexes = [models.Index(fields=["project", "purpose", "status"])]

    def __str__(self) -> str:
        return f"{self.purpose} {self.input_key} ({self.status})"


class PromptVersion(models.Model):
    """One numbered version of a prompt template (modeling.assist.core.prompts.PromptTemplate.to_dict()).

    A project row overrides the global one (project empty) of the same name, which overrides the built-in
    default (modeling/assist/core/default_prompts.py, version 1). At most one version per (project, name) is active.
    """

    project = models.ForeignKey(
        "annotation.Project", null=True, blank=True, on_delete=models.CASCADE, related_name="prompt_versions",
        help_text="Empty: a global version, used by projects without their own.",
    )
    name = models.CharField(max_length=100)
    version = models.PositiveIntegerField()
    template = models.JSONField(help_text="PromptTemplate.to_dict(): system, instruction, examples, rules, temperature, max_tokens.")
    active = models.BooleanField(default=False)
    note = models.CharField(max_length=300, blank=True, help_text="What changed, in a few words.")
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name", "-version"]
        constraints = [
            models.UniqueConstraint(fields=["project", "name", "version"], name="unique_prompt_version"),
            models.UniqueConstraint(
                fields=["name", "version"], condition=Q(project__isnull=True), name="unique_global_prompt_version",
            ),
            models.UniqueConstraint(fields=["project", "name"], condition=Q(active=True), name="one_active_prompt_version"),
            models.UniqueConstraint(
                fields=["name"], condition=Q(active=True, project__isnull=True), name="one_active_global_prompt_version",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.name}@{self.version}" + (f" ({self.project})" if self.project_id else " (global)")


class LLMCall(models.Model):
    """One request to the language model (or the offline drafter), for usage and cost accounting.

    `attempts` counts HTTP requests, retries included; a failed call keeps the message shown to people
    (`error`) and the technical cause (`error_detail`). `problems` are the prompt rules the output broke.
    """

    class Purpose(models.TextChoices):
        DRAFT = "draft", "Paragraph draft"
        VQA_YES_NO = "vqa_yes_no", "Yes/no questions"
        VQA_MULTIPLE_CHOICE = "vqa_multiple_choice", "Multiple-choice questions"
        VQA_CONVERSATION = "vqa_conversation", "Conversation"
        CONSTRUCTION = "construction", "Data construction"

    project = models.ForeignKey("annotation.Project", null=True, blank=True, on_delete=models.CASCADE, related_name="llm_calls")
    purpose = models.CharField(max_length=24, choices=Purpose.choices)
    model = models.CharField(max_length=200)
    prompt_name = models.CharField(max_length=100, blank=True)
    prompt_version = models.PositiveIntegerField(null=True, blank=True)
    prompt_tokens = models.PositiveIntegerField(default=0)
    completion_tokens = models.PositiveIntegerField(default=0)
    cost = models.FloatField(default=0.0, help_text="In the currency of the configured prices (USD by convention).")
    latency_ms = models.PositiveIntegerField(default=0)
    attempts = models.PositiveSmallIntegerField(default=0)
    ok = models.BooleanField(default=True)
    error = models.TextField(blank=True)
    error_detail = models.TextField(blank=True)
    problems = models.JSONField(default=list, blank=True)
    output = models.TextField(blank=True, help_text="The raw output when it broke the prompt's rules (kept for review).")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["project", "created_at"])]

    def __str__(self) -> str:
        return f"{self.purpose} on {self.model} ({'ok' if self.ok else 'failed'})"


class VQAItem(models.Model):
    """A question-answer item (or a conversation) generated from pathway feedback, reviewed before training (paper 001, §III-B4-B5)."""

    class Kind(models.TextChoices):
        YES_NO = "yes_no", "Yes/no"
        MULTIPLE_CHOICE = "multiple_choice", "Multiple choice"
        CONVERSATION = "conversation", "Conversation"

    class Status(models.TextChoices):
        PROPOSED = "proposed", "Proposed"
        ACCEPTED = "accepted", "Accepted"
        REJECTED = "rejected", "Rejected"
        EDITED = "edited", "Edited and accepted"

    project = models.ForeignKey("annotation.Project", on_delete=models.CASCADE, related_name="vqa_items")
    source_judgement = models.ForeignKey("annotation.Judgement", on_delete=models.CASCADE, related_name="vqa_items")
    kind = models.CharField(max_length=16, choices=Kind.choices)
    question = models.TextField(blank=True)
    answer = models.TextField(blank=True)
    options = models.JSONField(default=list, blank=True, help_text="Multiple choice: the answer and its distractors.")
    conversation = models.JSONField(default=list, blank=True, help_text='Conversations: [{"role": "user"|"assistant", "content"}].')
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.PROPOSED)
    problems = models.JSONField(default=list, blank=True, help_text="Rules the generated set broke, for the reviewer.")
    prompt_name = models.CharField(max_length=100, blank=True)
    prompt_version = models.PositiveIntegerField(null=True, blank=True)
    model = models.CharField(max_length=200, blank=True)
    reviewed_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    reviewed_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["id"]
        indexes = [models.Index(fields=["project", "status"])]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} #{self.pk} from judgement {self.source_judgement_id} ({self.status})"
