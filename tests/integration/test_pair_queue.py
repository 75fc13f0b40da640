"""The active selector fills a project's pair queue through a real worker, annotators are served those pairs,
and their judgements trigger scaling (and a refill from the new scores) through the signal."""
import time
import uuid

import pytest
from django.core.cache import cache
from django.db.models import Max

from annotation.models import PairSource, SelectionStrategy, WorkItem
from annotation.services.queue import assignment_next, judgement_submit
from annotation.services.work import pair_items_open_count
from annotation.vocabulary import TaskKind
from evaluation.models import ScalingRun
from modeling.selection.tasks import pair_queue_refill
from tests.evaluation.judgement_builders import images_make
from tests.factories import AnnotatorFactory, MembershipFactory

pytestmark = [pytest.mark.worker, pytest.mark.django_db(transaction=True)]

BATCH = 6


def _wait_for(condition, *, worker, timeout=60, what="the worker"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.2)
    pytest.fail(f"timed out waiting for {what}:\n{worker.log_tail(80)}")


@pytest.fixture
def demo_like(project):
    """A project like the demo's, with pairs proposed by the selector (EIG with critic prior asked for)."""
    project.task_kinds = [TaskKind.PAIR]
    project.pair_source = PairSource.PROPOSED
    project.selection_strategy = SelectionStrategy.EIG_PRIOR
    project.pair_batch_size = BATCH
    project.overlap = 1
    project.gold_rate = 0.0
    project.repeat_rate = 0.0
    project.training_required = False
    project.save()
    images_make(project, 12)
    cache.clear()  # the refill debounce of earlier tests in this process
    return project


def test_selector_fills_the_queue_and_judgements_trigger_scaling(celery_worker, demo_like, settings):
    """Refill task → worker queues proposed pairs → an annotator is served one → enough answers queue a scaling run
    that the worker finishes → the new scores start a fresh batch."""
    settings.LOUPE_SCALE_EVERY = 4
    project = demo_like
    annotator = AnnotatorFactory()
    MembershipFactory(project=project, user=annotator)

    pair_queue_refill.delay(project.pk)
    _wait_for(lambda: pair_items_open_count(project) == BATCH, worker=celery_worker, what="the refill")
    proposals = WorkItem.objects.filter(project=project, kind=TaskKind.PAIR).exclude(strategy="")
    assert set(proposals.values_list("strategy", "critic_version_id")) == {("eig", None)}  # no critic yet: plain EIG

    for _ in range(4):
        lease = assignment_next(project=project, annotator=annotator).lease
        item = lease.item
        assert item.kind == TaskKind.PAIR and item.strategy == "eig" and item.expected_gain is not None
        judgement_submit(lease_id=lease.pk, annotator=annotator, client_id=uuid.uuid4(), answer={"choice": "a"})

    run = _wait_for(
        lambda: ScalingRun.objects.filter(project=project, status=ScalingRun.Status.DONE).first(),
        worker=celery_worker, what="the scaling run",
    )
    assert run.trigger == ScalingRun.Trigger.JUDGEMENTS and run.n_comparisons == 4 and run.n_items == 12
    assert not ScalingRun.objects.filter(project=project, status=ScalingRun.Status.FAILED).exists()
    # Four of six pairs judged left fewer than half a batch open: a second batch follows (from the
    # judgements' refill or the one after scaling), served before what is left of the first.
    _wait_for(
        lambda: (proposals.aggregate(top=Max("priority"))["top"] or 0) >= 2 and pair_items_open_count(project) >= BATCH,
        worker=celery_worker, what="the second batch",
    )
    lease = assignment_next(project=project, annotator=annotator).lease
    assert lease.item.priority == proposals.aggregate(top=Max("priority"))["top"]
