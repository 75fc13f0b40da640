"""App config for evaluation."""
from django.apps import AppConfig


class EvaluationConfig(AppConfig):
    name = "evaluation"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self):
        from annotation.signals import annotator_exclusion_changed, judgements_submitted
        from evaluation.receivers import annotator_exclusion_changed_scale, judgements_submitted_scale

        judgements_submitted.connect(judgements_submitted_scale, dispatch_uid="evaluation.judgements_submitted_scale")
        annotator_exclusion_changed.connect(
            annotator_exclusion_changed_scale, dispatch_uid="evaluation.annotator_exclusion_changed_scale",
        )
