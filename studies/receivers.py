"""Receivers of the studies app (connected in studies/apps.py): keep the cached study results in step with votes."""
from evaluation.report_cache import STUDY_RESULTS, report_mark_stale
from studies.models import AnswerScore, Trial, Vote


def vote_changed_results(sender, *, instance: Vote, **kwargs) -> None:
    """A vote was written or deleted: recompute its study's cached results on the worker."""
    trial = Vote._meta.get_field("trial").get_cached_value(instance, default=None)
    study_id = trial.study_id if trial is not None else Trial.objects.filter(pk=instance.trial_id).values_list("study_id", flat=True).first()
    if study_id is not None:
        report_mark_stale(kind=STUDY_RESULTS, object_id=study_id)


def system_changed_results(sender, *, instance, **kwargs) -> None:
    """A system was added, renamed or deleted: recompute its study's cached results on the worker."""
    report_mark_stale(kind=STUDY_RESULTS, object_id=instance.study_id)


def answer_score_changed_results(sender, *, instance: AnswerScore, **kwargs) -> None:
    """The judge scored an answer (GPT4-score): recompute its study's cached results on the worker."""
    study_id = AnswerScore.objects.filter(pk=instance.pk).values_list("answer__system__study_id", flat=True).first()
    if study_id is None:  # deleted: its answer may be gone too
        from studies.models import Answer

        study_id = Answer.objects.filter(pk=instance.answer_id).values_list("system__study_id", flat=True).first()
    if study_id is not None:
        report_mark_stale(kind=STUDY_RESULTS, object_id=study_id)


def study_results_compute(study_id: int) -> dict | None:
    """A study's results, for the report cache; None if the study is gone."""
    from studies.models import Study
    from studies.selectors import study_results

    study = Study.objects.filter(pk=study_id).first()
    return None if study is None else study_results(study=study)
