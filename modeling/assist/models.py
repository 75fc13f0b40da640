"""Answers written by the LLM for the critic's training data (paper 000, Fig. 3-4), cached per input."""
from django.db import models


class ConstructedText(models.Model):
    """One data-construction output: a scores description, an authenticity sentence, a MOS-pair sentence or paraphrases.

    Keyed by what went into the prompt (`input_key` names the image, pair or metric; `input_hash` is the
    SHA-256 of the rendered input), so a changed MOS or rating makes a new row and the old text is no
    longer used. Only `accepted` rows (the prompt's rules hold) enter training; `rejected` rows keep the
    output and its problems for review; `failed` rows keep the call's error.
    """

    class Purpose(models.TextChoices):
        SCORES = "scores", "Scores → description"
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
