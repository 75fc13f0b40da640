"""The modeling app's models: what the GPU workers report about themselves, and the models of its packages.

Django registers a model when its module is imported while the app loads, so this module imports the
critic's (modeling/critic/models.py) and the LLM's (modeling/assist/models.py) and names them in `__all__`.
"""
from django.db import models

from modeling.assist.models import ConstructedText, LLMCall, PromptVersion, VQAItem
from modeling.critic.models import CriticScore, CriticText, CriticVersion

__all__ = [
    "ConstructedText", "CriticScore", "CriticText", "CriticVersion", "DeviceReport", "LLMCall", "PromptVersion", "VQAItem",
]


class DeviceReport(models.Model):
    """A `gpu`-queue worker's answer to "what can you run on?", so researchers see before retraining."""

    hostname = models.CharField(max_length=255)
    torch_version = models.CharField(max_length=64)
    cuda_available = models.BooleanField()
    device_name = models.CharField(max_length=255, help_text="The GPU's name, or 'cpu'.")
    device_memory_bytes = models.PositiveBigIntegerField(null=True, blank=True)
    reported_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-reported_at"]

    def __str__(self) -> str:
        return f"{self.hostname}: {self.device_name}"
