"""The crowd app: wires its receivers to the annotation app's signals."""
from django.apps import AppConfig


class CrowdConfig(AppConfig):
    name = "crowd"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from django.db.models.signals import post_save

        from annotation.models import Judgement
        from annotation.signals import work_item_override
        from crowd.receivers import judgement_saved_record_ids, work_item_completion

        # post_save, not judgements_submitted: the ids are written in the judgement's own transaction.
        post_save.connect(judgement_saved_record_ids, sender=Judgement, dispatch_uid="crowd.judgement_saved_record_ids")
        work_item_override.connect(work_item_completion, dispatch_uid="crowd.work_item_completion")
