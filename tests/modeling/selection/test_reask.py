"""Asking a pair again: the refill re-proposes a judged pair whose outcome is uncertain, the queue serves it to another annotator only."""
import numpy as np
import pytest

from annotation.models import Membership, PairSource, SelectionStrategy, WorkItem
from annotation.services import queue
from annotation.services.work import pair_items_open_count
from annotation.services.leasing import NoWork
from annotation.vocabulary import TaskKind
from modeling.selection.services import pair_queue_refill_run
from tests.evaluation.judgement_builders import annotators_make, images_make, judgements_add


def _project(project):
    project.task_kinds = [TaskKind.PAIR]
    project.pair_source = PairSource.PROPOSED
    project.selection_strategy = SelectionStrategy.EIG
    project.pair_batch_size = 1
    project.overlap = 1
    project.gold_rate = project.repeat_rate = 0.0
    project.training_required = False
    project.save()
    return project


def test_an_uncertain_pair_is_asked_again_of_another_annotator_never_the_same(project):
    """Two images judged once: the only pair is still a near coin flip, so it is proposed again and served to someone new."""
    project = _project(project)
    a, b = images_make(project, 2)
    first, second = annotators_make(project, 2)
    judgements_add(project, [(a, b, "a")], [first])
    item = WorkItem.objects.get(project=project, kind=TaskKind.PAIR)
    assert item.judgement_count == 1  # full at overlap 1

    result = pair_queue_refill_run(project, rng=np.random.default_rng(0))

    assert result.added == 1
    item.refresh_from_db()
    assert item.extra_judgements == 1 and not item.retired and 0 < item.expected_gain <= 1
    with pytest.raises(NoWork):
        queue.assignment_next(project=project, annotator=first)
    lease = queue.assignment_next(project=project, annotator=second).lease
    assert lease.item_id == item.pk


def test_a_pair_every_annotator_has_judged_is_not_asked_again(project):
    """Both annotators judged the only pair (a coin flip): re-asking it would open an item nobody can be served, so it is not."""
    project = _project(project)
    a, b = images_make(project, 2)
    first, second = annotators_make(project, 2)
    judgements_add(project, [(a, b, "a"), (a, b, "b")], [first, second])

    result = pair_queue_refill_run(project, rng=np.random.default_rng(0))

    item = WorkItem.objects.get(project=project, kind=TaskKind.PAIR)
    assert result.added == 0 and "already open or judged" in result.note
    assert item.extra_judgements == 0 and item.judgement_count == 2
    assert pair_items_open_count(project) == 0
    third = annotators_make(project, 1)[0]  # someone new could answer it: now it is asked again, of them
    assert pair_queue_refill_run(project, rng=np.random.default_rng(1)).added == 1
    assert queue.assignment_next(project=project, annotator=third).lease.item_id == item.pk


def test_a_reasked_pair_nobody_is_left_to_answer_frees_its_batch_slot(project):
    """A pair re-asked while a second annotator could answer it; that annotator leaves: the next refill closes it and proposes again."""
    project = _project(project)
    a, b = images_make(project, 2)
    first, second = annotators_make(project, 2)
    judgements_add(project, [(a, b, "a")], [first])
    assert pair_queue_refill_run(project, rng=np.random.default_rng(0)).added == 1
    item = WorkItem.objects.get(project=project, kind=TaskKind.PAIR)
    assert item.extra_judgements == 1  # open, waiting for the second annotator
    assert pair_queue_refill_run(project, rng=np.random.default_rng(1)).note.startswith("1 pairs are open")

    Membership.objects.filter(project=project, user=second).delete()
    result = pair_queue_refill_run(project, rng=np.random.default_rng(2))

    item.refresh_from_db()
    assert item.extra_judgements == 0 and item.judgement_count == 1  # closed: no longer open
    assert result.open_before == 0
    assert result.added == 0 and "already open or judged" in result.note  # the only pair: everyone left has judged it
