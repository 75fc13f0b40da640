"""Excluding an annotator's data is one reversible, audited action (annotation/services/exclusion.py): it changes
what scaling, exports and critic training read, and a restore brings it back."""
import csv
import io
import time
import uuid

import pytest

from annotation.models import ExclusionEvent, Judgement, Membership
from annotation.services.exclusion import ExclusionError, annotator_exclude, annotator_restore
from annotation.services.queue import assignment_next, judgement_submit
from annotation.vocabulary import TaskKind
from evaluation.models import ScalingRun
from evaluation.selectors import pair_outcomes
from evaluation.services import project_scale
from exports.filters import ExportFilters, judgements_for_export
from exports.formats import FORMATS, ExportContext
from modeling.critic.data import CriticDataSettings, heldout_split, judgement_last_id, training_set_build
from tests.evaluation.judgement_builders import annotators_make, images_make, judgements_add
from tests.factories import AnnotatorFactory
from tests.work_data import project_images, work_project


def _pairs(images):
    return [(a, b, "a") for a, b in zip(images[:-1], images[1:])]


def _flags(project, user) -> list[bool]:
    return list(Judgement.objects.filter(project=project, annotator=user).order_by("id").values_list("excluded", flat=True))


def test_exclude_then_restore_flips_every_judgement_and_audits_both(project, researcher):
    """Exclusion flags all of the annotator's judgements and the membership; restore clears them; two audit rows."""
    images = images_make(project, 5)
    bad, good = annotators_make(project, 2)
    judgements_add(project, _pairs(images), [bad])
    judgements_add(project, _pairs(images), [good])
    event = annotator_exclude(project=project, annotator=bad, by=researcher, reason="  answers at random  ")
    assert (event.action, event.reason, event.judgements_changed, event.created_by) == ("exclude", "answers at random", 4, researcher)
    assert _flags(project, bad) == [True] * 4 and _flags(project, good) == [False] * 4
    assert Membership.objects.get(project=project, user=bad).excluded

    restored = annotator_restore(project=project, annotator=bad, by=researcher, reason="checked again: fine")
    assert restored.action == "restore" and restored.judgements_changed == 4
    assert _flags(project, bad) == [False] * 4 and not Membership.objects.get(project=project, user=bad).excluded
    log = list(ExclusionEvent.objects.filter(project=project).order_by("id").values_list("action", "annotator", "reason"))
    assert log == [("exclude", bad.pk, "answers at random"), ("restore", bad.pk, "checked again: fine")]


def test_restore_clears_only_what_the_exclusion_set(project, researcher):
    """A judgement excluded before the annotator was (by anything else) stays excluded after the restore."""
    images = images_make(project, 4)
    (user,) = annotators_make(project, 1)
    judgements_add(project, _pairs(images)[:1], [user], excluded=True)
    judgements_add(project, _pairs(images)[1:], [user])
    event = annotator_exclude(project=project, annotator=user, by=researcher, reason="straight-lining")
    assert event.judgements_changed == 2 and len(event.kept_excluded_ids) == 1
    annotator_restore(project=project, annotator=user, by=researcher, reason="undo")
    assert _flags(project, user) == [True, False, False]


def test_bad_requests_are_refused_with_a_reason_and_change_nothing(project, researcher, annotator_member):
    """No reason, a non-member, a researcher, excluding twice or restoring someone not excluded: ExclusionError."""
    with pytest.raises(ExclusionError, match="reason"):
        annotator_exclude(project=project, annotator=annotator_member, by=researcher, reason="   ")
    with pytest.raises(ExclusionError, match="Only annotators"):
        annotator_exclude(project=project, annotator=AnnotatorFactory(), by=researcher, reason="x")
    with pytest.raises(ExclusionError, match="Only annotators"):
        annotator_exclude(project=project, annotator=researcher, by=researcher, reason="x")
    with pytest.raises(ExclusionError, match="not excluded"):
        annotator_restore(project=project, annotator=annotator_member, by=researcher, reason="x")
    assert not ExclusionEvent.objects.exists()
    annotator_exclude(project=project, annotator=annotator_member, by=researcher, reason="x")
    with pytest.raises(ExclusionError, match="excluded already"):
        annotator_exclude(project=project, annotator=annotator_member, by=researcher, reason="again")
    assert ExclusionEvent.objects.count() == 1


def test_an_excluded_annotator_keeps_working_but_their_new_judgements_are_excluded(project, researcher, annotator_member):
    """The queue still serves an excluded annotator (nothing tells them), and stores what they submit as excluded;
    after a restore their next judgement counts again."""
    work_project(project, kinds=[TaskKind.RATING], images=3)
    annotator_exclude(project=project, annotator=annotator_member, by=researcher, reason="BT.500 rejected")
    lease = assignment_next(project=project, annotator=annotator_member).lease
    first = judgement_submit(lease_id=lease.pk, annotator=annotator_member, client_id=uuid.uuid4(), answer={"level": 4}).judgement
    assert first.excluded
    annotator_restore(project=project, annotator=annotator_member, by=researcher, reason="false alarm")
    lease = assignment_next(project=project, annotator=annotator_member).lease
    second = judgement_submit(lease_id=lease.pk, annotator=annotator_member, client_id=uuid.uuid4(), answer={"level": 2}).judgement
    first.refresh_from_db()
    assert not first.excluded and not second.excluded


def test_exclusion_changes_the_scaling_input_and_scores_and_restore_brings_them_back(project, researcher):
    """An adversary's reversed pairs drag the scale; excluded, the scores follow the honest annotators; restored, as before."""
    images = images_make(project, 4)
    honest = annotators_make(project, 2)
    (adversary,) = annotators_make(project, 1)
    judgements_add(project, _pairs(images) * 2, honest)  # each pair once by each honest annotator
    judgements_add(project, [(b, a, "a") for a, b, _ in _pairs(images)], [adversary])

    def scores():
        run = project_scale(project)
        return run.n_comparisons, {s.image_id: s.score for s in run.scores.all()}

    before_count, before = scores()
    assert before_count == 9 and len(pair_outcomes(project=project, last_judgement_id=None)) == 9
    annotator_exclude(project=project, annotator=adversary, by=researcher, reason="reversed")
    excluded_count, excluded = scores()
    assert excluded_count == 6
    gap = lambda s: s[images[0].pk] - s[images[-1].pk]  # noqa: E731
    assert gap(excluded) > gap(before) > 0  # without the adversary, image 0 is further ahead of the last
    annotator_restore(project=project, annotator=adversary, by=researcher, reason="undo")
    restored_count, restored = scores()
    assert restored_count == 9 and restored == pytest.approx(before)


def test_exclusion_changes_the_critics_training_data_and_restore_brings_it_back(project, researcher):
    """The critic's training set loses the excluded annotator's judgements and gets them back on restore."""
    images = project_images(project, 12)
    train_ids, _ = heldout_split(project=project, fraction=0.3)
    by_id = {image.pk: image for image in images}
    train = [by_id[i] for i in train_ids]
    keeper, excluded_user = annotators_make(project, 2)
    kept = judgements_add(project, [(image, 1 + i % 5) for i, image in enumerate(train)], [keeper], kind=TaskKind.RATING)
    dropped = judgements_add(project, [(image, 5 - i % 5) for i, image in enumerate(train)], [excluded_user], kind=TaskKind.RATING)
    dropped += judgements_add(project, _pairs(train), [excluded_user])
    data = CriticDataSettings(heldout_fraction=0.3)

    def used() -> set[int]:
        return set(training_set_build(project=project, last_judgement_id=judgement_last_id(project=project), data=data).judgement_ids.tolist())

    everything = used()
    assert {j.pk for j in kept} | {j.pk for j in dropped} <= everything
    annotator_exclude(project=project, annotator=excluded_user, by=researcher, reason="off the panel")
    assert used() == everything - {j.pk for j in dropped}
    annotator_restore(project=project, annotator=excluded_user, by=researcher, reason="undo")
    assert used() == everything


def test_exclusion_changes_the_pairs_export_and_restore_brings_it_back(project, researcher):
    """The default export (exclusions honoured) drops the excluded annotator's rows, and has them again after restore."""
    images = images_make(project, 4)
    kept, dropped = annotators_make(project, 2)
    judgements_add(project, _pairs(images), [kept])
    judgements_add(project, _pairs(images), [dropped])

    def exported_annotators() -> list[int]:
        filters = ExportFilters()
        ctx = ExportContext(project=project, filters=filters, judgements=judgements_for_export(project=project, filters=filters))
        out = io.StringIO()
        FORMATS["pairs"].write(ctx, out)
        return sorted(int(row["annotator_id"]) for row in csv.DictReader(io.StringIO(out.getvalue())))

    everyone = exported_annotators()
    assert everyone == sorted([kept.pk] * 3 + [dropped.pk] * 3)
    annotator_exclude(project=project, annotator=dropped, by=researcher, reason="screened out")
    assert exported_annotators() == [kept.pk] * 3
    annotator_restore(project=project, annotator=dropped, by=researcher, reason="undo")
    assert exported_annotators() == everyone


@pytest.mark.worker
@pytest.mark.django_db(transaction=True)
def test_exclusion_requests_a_rescaling_that_a_real_worker_runs(celery_worker, worker_media_root, researcher, project):
    """After commit, evaluation's receiver queues a scaling run; the worker fits it without the excluded pairs,
    and the restore queues another with them."""
    images = images_make(project, 4)
    (honest,) = annotators_make(project, 1)
    (other,) = annotators_make(project, 1)
    judgements_add(project, _pairs(images), [honest])
    judgements_add(project, _pairs(images)[:2], [other])

    def finished_run(after_id: int) -> ScalingRun:
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            run = ScalingRun.objects.filter(project=project, pk__gt=after_id, status__in=["done", "failed"]).first()
            if run is not None:
                return run
            time.sleep(0.3)
        raise AssertionError("no scaling run finished within 90 s")

    annotator_exclude(project=project, annotator=other, by=researcher, reason="screened out")
    run = finished_run(0)
    assert (run.status, run.trigger, run.n_comparisons) == ("done", "manual", 3)
    annotator_restore(project=project, annotator=other, by=researcher, reason="back in")
    again = finished_run(run.pk)
    assert (again.status, again.n_comparisons) == ("done", 5)


def test_no_rescaling_is_requested_for_an_annotator_without_pairs_or_ratings(project, researcher, annotator_member, django_capture_on_commit_callbacks):
    """Excluding someone who only wrote pathway feedback leaves the scores alone: no run is queued."""
    with django_capture_on_commit_callbacks(execute=True):
        annotator_exclude(project=project, annotator=annotator_member, by=researcher, reason="no scaled data")
    assert not ScalingRun.objects.filter(project=project).exists()
