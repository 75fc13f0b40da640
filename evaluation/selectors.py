"""Reads of the evaluation app: a project's scaling runs, its current scores, and the judgements scaling uses."""
from django.db.models import Q, QuerySet

from annotation.models import Judgement, Project, WorkItem
from annotation.vocabulary import TaskKind
from evaluation.models import ItemScore, ScalingRun

#: Judgements that count towards scores: real work and hidden gold, never training answers or
#: consistency repeats (a repeat re-asks an item the annotator already judged; counting it would give
#: that annotator's view of the item two votes), and never what quality control excluded.
SCALED_PURPOSES = (WorkItem.Purpose.WORK, WorkItem.Purpose.GOLD)
SCALED_KINDS = (TaskKind.PAIR, TaskKind.RATING)


def judgements_scaled(*, project: Project, kinds=SCALED_KINDS) -> QuerySet[Judgement]:
    """The project's judgements of `kinds` that scaling reads (see SCALED_PURPOSES)."""
    return Judgement.objects.filter(
        project=project, kind__in=kinds, purpose__in=SCALED_PURPOSES, excluded=False, is_repeat=False,
    )


def pair_outcomes(*, project: Project, last_judgement_id: int | None) -> QuerySet:
    """(image A id, image B id, choice) of every scaled pair judgement up to `last_judgement_id`."""
    judgements = judgements_scaled(project=project, kinds=(TaskKind.PAIR,)).exclude(choice="")
    if last_judgement_id is not None:
        judgements = judgements.filter(id__lte=last_judgement_id)
    return judgements.values_list("item__image_id", "item__image_b_id", "choice")


def rating_levels(*, project: Project, last_judgement_id: int | None) -> QuerySet:
    """(image id, level) of every scaled rating judgement up to `last_judgement_id`."""
    judgements = judgements_scaled(project=project, kinds=(TaskKind.RATING,)).filter(level__isnull=False)
    if last_judgement_id is not None:
        judgements = judgements.filter(id__lte=last_judgement_id)
    return judgements.values_list("item__image_id", "level")


def scaling_runs(*, project: Project) -> QuerySet[ScalingRun]:
    """The project's scaling runs, newest first."""
    return ScalingRun.objects.filter(project=project).order_by("-created_at", "-id")


def scaling_run_current(*, project: Project) -> ScalingRun | None:
    """The project's current scores: its latest run that finished."""
    return scaling_runs(project=project).filter(status=ScalingRun.Status.DONE).first()


def scaling_run_latest(*, project: Project) -> ScalingRun | None:
    """The project's newest run, whatever its status (for showing progress)."""
    return scaling_runs(project=project).first()


def scaling_run_pending(*, project: Project) -> ScalingRun | None:
    """A queued or running run of the project, if there is one."""
    active = Q(status=ScalingRun.Status.QUEUED) | Q(status=ScalingRun.Status.RUNNING)
    return scaling_runs(project=project).filter(active).first()


def item_scores(*, run: ScalingRun) -> QuerySet[ItemScore]:
    """A run's scores, best first, with each image's name and thumbnail at hand."""
    return (
        ItemScore.objects.filter(run=run)
        .select_related("image")
        .only(
            "id", "run_id", "image_id", "score", "variance", "ci_low", "ci_high", "score_0_100",
            "n_comparisons", "n_ratings", "mos", "image__id", "image__original_name", "image__thumbnail",
        )
        .order_by("-score", "image_id")
    )


def item_score_rows(*, run: ScalingRun) -> QuerySet:
    """A run's scores as plain named rows (for CSV and plots), best first: no model instances, so 10,000 rows stay cheap.

    Fields, in order: image_id, image__original_name, score, variance, ci_low, ci_high, score_0_100, n_comparisons, mos.
    """
    return (
        ItemScore.objects.filter(run=run)
        .order_by("-score", "image_id")
        .values_list(
            "image_id", "image__original_name", "score", "variance", "ci_low", "ci_high", "score_0_100",
            "n_comparisons", "mos", named=True,
        )
    )


def judgements_since(*, project: Project, after_id: int) -> int:
    """How many scaled pair and rating judgements the project has with an id above `after_id`."""
    return judgements_scaled(project=project).filter(id__gt=after_id).count()


#: What the scores on the Scores page and in exports are. The critic never enters them: a critic prior (if any)
#: only chooses which pairs people are asked about.
HUMAN_SCORES_LABEL = "Human-only scores: Thurstone Case V, fitted from people's comparisons and ratings alone."


def scores_provenance(*, project: Project) -> list[str]:
    """Sentences that say which scores these are and, where selection uses a critic's prior, that it does."""
    from evaluation.signals import scores_selection_note

    notes = [HUMAN_SCORES_LABEL]
    for _, note in scores_selection_note.send(sender=Project, project=project):
        if note:
            notes.append(note)
    return notes
