"""App config for modeling."""
from django.apps import AppConfig


class ModelingConfig(AppConfig):
    name = "modeling"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self):
        from annotation.signals import draft_requested, judgements_submitted
        from evaluation.signals import scaling_run_done
        from modeling.receivers import draft_requested_enqueue, judgements_submitted_refill, scaling_run_done_refill

        judgements_submitted.connect(judgements_submitted_refill, dispatch_uid="modeling.judgements_submitted_refill")
        scaling_run_done.connect(scaling_run_done_refill, dispatch_uid="modeling.scaling_run_done_refill")
        draft_requested.connect(draft_requested_enqueue, dispatch_uid="modeling.draft_requested_enqueue")

        from modeling.critic.receivers import judgements_submitted_critic

        judgements_submitted.connect(judgements_submitted_critic, dispatch_uid="modeling.judgements_submitted_critic")
