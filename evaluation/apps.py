"""App config for evaluation."""
from django.apps import AppConfig


class EvaluationConfig(AppConfig):
    name = "evaluation"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self):
        from annotation.signals import judgements_submitted
        from evaluation.receivers import judgements_submitted_scale

        judgements_submitted.connect(judgements_submitted_scale, dispatch_uid="evaluation.judgements_submitted_scale")
