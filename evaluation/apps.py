"""App config for evaluation."""
from django.apps import AppConfig


class EvaluationConfig(AppConfig):
    name = "evaluation"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self):
        from annotation.signals import annotator_exclusion_changed, judgement_undone, judgements_submitted
        from evaluation.receivers import (
            annotator_exclusion_changed_scale, judgements_submitted_scale, project_data_changed_quality, quality_report_compute,
        )
        from evaluation.report_cache import QUALITY, report_kind_register
        from evaluation.signals import scaling_run_done

        judgements_submitted.connect(judgements_submitted_scale, dispatch_uid="evaluation.judgements_submitted_scale")
        annotator_exclusion_changed.connect(
            annotator_exclusion_changed_scale, dispatch_uid="evaluation.annotator_exclusion_changed_scale",
        )

        # The quality dashboard is cached (evaluation/report_cache.py) and recomputed on the worker when its data changes.
        report_kind_register(kind=QUALITY, compute=quality_report_compute)
        for signal, name in ((judgements_submitted, "judgements_submitted"), (judgement_undone, "judgement_undone"),
                             (annotator_exclusion_changed, "annotator_exclusion_changed"), (scaling_run_done, "scaling_run_done")):
            signal.connect(project_data_changed_quality, dispatch_uid=f"evaluation.{name}_quality")
