"""App config for studies (blinded side-by-side comparisons of systems' answers)."""
from django.apps import AppConfig


class StudiesConfig(AppConfig):
    name = "studies"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        # Study results and votes join the exports registry from here, so the exports app never imports studies.
        from studies import exports, image_links

        from django.db.models.signals import post_delete, post_save

        from evaluation.report_cache import STUDY_RESULTS, report_kind_register
        from studies.models import AnswerScore, System, Vote
        from studies.receivers import answer_score_changed_results, study_results_compute, system_changed_results, vote_changed_results

        from config.runs import run_resume_register
        from studies.services.answers import critic_answers_requeue

        # A critic system's chunks are re-sent by the sweep, not failed, when their worker is lost (config.chunks).
        run_resume_register(System, resumes=lambda row: row.RUN_RESUMES, requeue=critic_answers_requeue)
        exports.register()
        image_links.register()  # trial images go out as annotation's signed per-lease URLs
        # Study results are cached (evaluation/report_cache.py) and recomputed on the worker when votes, systems or scores change.
        report_kind_register(kind=STUDY_RESULTS, compute=study_results_compute)
        for signal in (post_save, post_delete):
            signal.connect(vote_changed_results, sender=Vote, dispatch_uid=f"studies.vote_{signal is post_save}_results")
            signal.connect(system_changed_results, sender=System, dispatch_uid=f"studies.system_{signal is post_save}_results")
            signal.connect(answer_score_changed_results, sender=AnswerScore, dispatch_uid=f"studies.score_{signal is post_save}_results")
