"""App config for modeling."""
from importlib import import_module

from django.apps import AppConfig

#: Celery's autodiscovery finds `modeling.tasks` only; the packages' task modules are imported at start-up.
TASK_MODULES = ("modeling.assist.tasks", "modeling.critic.tasks", "modeling.selection.tasks")


class ModelingConfig(AppConfig):
    name = "modeling"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self):
        from annotation.signals import draft_requested, judgements_submitted
        from evaluation.signals import quality_report_sections, scaling_run_done, scores_selection_note
        from modeling.assist.receivers import draft_requested_enqueue
        from modeling.critic.receivers import judgements_submitted_critic, quality_report_critic
        from modeling.selection.receivers import judgements_submitted_refill, scaling_run_done_refill, scores_selection_note as scores_note
        from config.runs import run_resume_register
        from modeling.critic.models import CriticVersion
        from modeling.critic.training_job import version_requeue, version_resumes

        judgements_submitted.connect(judgements_submitted_refill, dispatch_uid="modeling.judgements_submitted_refill")
        scaling_run_done.connect(scaling_run_done_refill, dispatch_uid="modeling.scaling_run_done_refill")
        draft_requested.connect(draft_requested_enqueue, dispatch_uid="modeling.draft_requested_enqueue")
        judgements_submitted.connect(judgements_submitted_critic, dispatch_uid="modeling.judgements_submitted_critic")
        quality_report_sections.connect(quality_report_critic, dispatch_uid="modeling.quality_report_critic")
        scores_selection_note.connect(scores_note, dispatch_uid="modeling.scores_selection_note")
        run_resume_register(CriticVersion, resumes=version_resumes, requeue=version_requeue)
        from config.sweep import sweep_step_register
        from modeling.critic.pool_scoring import scoring_runs_requeue

        sweep_step_register("critic_scoring_runs", scoring_runs_requeue)
        for name in TASK_MODULES:
            import_module(name)
