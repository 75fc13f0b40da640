"""Work services: syncing work items, generating and proposing pairs, gold items and settings validation."""
import numpy as np
import pytest
from django.core.exceptions import ValidationError

from annotation.models import Lease, WorkItem
from annotation.services.work import (
    ProposedPair,
    gold_item_add,
    pair_items_open_count,
    pairs_generate,
    project_settings_update,
    proposed_pairs_add,
    work_items_sync,
)
from tests.factories import ImageFactory, PairItemFactory, annotators_add


def test_work_items_sync_is_idempotent(project):
    """One WORK item per image and enabled single-image kind; a second sync adds nothing."""
    ImageFactory.create_batch(3, project=project)
    project.task_kinds = ["rating", "pathway", "pair"]
    project.save()
    assert work_items_sync(project) == 6
    assert work_items_sync(project) == 0
    assert WorkItem.objects.filter(project=project, image_b__isnull=True).count() == 6


def test_same_reference_pairs_share_a_reference(project):
    """same_reference pairs are a reference with its versions or two versions of it; distinct, ordered, new."""
    project.pair_source = "same_reference"
    project.save()
    ref = ImageFactory(project=project)
    versions = ImageFactory.create_batch(3, project=project, reference=ref)
    ImageFactory.create_batch(2, project=project)  # no reference: never paired
    rng = np.random.default_rng(0)

    assert pairs_generate(project, count=100, rng=rng) == 6
    assert pairs_generate(project, count=100, rng=rng) == 0
    group = {ref.pk, *(v.pk for v in versions)}
    for item in WorkItem.objects.filter(kind="pair"):
        assert item.image_id < item.image_b_id and {item.image_id, item.image_b_id} <= group
    assert pair_items_open_count(project) == 6


def test_same_source_and_random_pairs(project):
    """same_source pairs stay inside a source dataset; random pairs may cross them; proposed refuses."""
    ImageFactory.create_batch(3, project=project, source_dataset="a")
    ImageFactory.create_batch(2, project=project, source_dataset="b")
    project.pair_source = "same_source"
    project.save()
    assert pairs_generate(project, count=10, rng=np.random.default_rng(1)) == 4
    project.pair_source = "random"
    project.save()
    assert pairs_generate(project, count=3, rng=np.random.default_rng(1)) == 3
    project.pair_source = "proposed"
    project.save()
    with pytest.raises(ValidationError):
        pairs_generate(project, count=3, rng=np.random.default_rng(1))
    assert len({(i.image_id, i.image_b_id) for i in WorkItem.objects.all()}) == 7


def test_proposed_pairs_are_added_and_stale_ones_retired(project):
    """A new batch queues its pairs with provenance and retires older unserved proposals, keeping held or judged ones."""
    images = ImageFactory.create_batch(5, project=project)
    ids = [image.pk for image in images]
    first = proposed_pairs_add(project, [(ids[1], ids[0], 0.5), (ids[2], ids[3], 0.4), (ids[0], ids[4], 0.1)],
                               strategy="eig", critic_version_id=None, batch_priority=1.0)
    assert (first.created, first.refreshed, first.retired) == (3, 0, 0)
    held = WorkItem.objects.get(image_id=ids[2], image_b_id=ids[3])
    [user] = annotators_add(project, 1)
    Lease.objects.create(item=held, annotator=user, issued_at=held.created_at, expires_at=held.created_at.replace(year=2100))

    second = proposed_pairs_add(project, [ProposedPair(ids[0], ids[1], 0.9), ProposedPair(ids[3], ids[4], 0.8)],
                                strategy="eig_prior", critic_version_id=7, batch_priority=2.0)

    assert (second.created, second.refreshed, second.retired) == (1, 1, 1)
    refreshed = WorkItem.objects.get(image_id=ids[0], image_b_id=ids[1])
    assert (refreshed.strategy, refreshed.expected_gain, refreshed.critic_version_id, refreshed.priority) == ("eig_prior", 0.9, 7, 2.0)
    assert WorkItem.objects.get(image_id=ids[0], image_b_id=ids[4]).retired
    assert not WorkItem.objects.get(pk=held.pk).retired
    with pytest.raises(ValidationError):
        proposed_pairs_add(project, [(ids[0], ids[0], 0.1)], strategy="eig", critic_version_id=None, batch_priority=0)
    with pytest.raises(ValidationError):
        proposed_pairs_add(project, [(ids[0], ImageFactory().pk, 0.1)], strategy="eig", critic_version_id=None, batch_priority=0)


def test_generated_pairs_are_not_retired_by_proposals(project):
    """Pairs from pairs_generate (no strategy) stay when the selector proposes a batch."""
    generated = PairItemFactory(project=project)
    other = ImageFactory.create_batch(2, project=project)
    proposed_pairs_add(project, [(other[0].pk, other[1].pk, 0.3)], strategy="random", critic_version_id=None, batch_priority=0)
    assert not WorkItem.objects.get(pk=generated.pk).retired


def test_gold_item_add_validates(project):
    """Gold and training items need a valid answer, the right number of images of this project, and are unique."""
    image, image_b = ImageFactory.create_batch(2, project=project)
    item = gold_item_add(project, kind="rating", image=image, gold_answer={"level": 4}, purpose="training", feedback=" Good. ")
    assert (item.purpose, item.feedback) == ("training", "Good.")
    with pytest.raises(ValidationError):
        gold_item_add(project, kind="rating", image=image, gold_answer={"level": 4}, purpose="training")
    with pytest.raises(ValidationError):
        gold_item_add(project, kind="pair", image=image, gold_answer={"choice": "a"})
    with pytest.raises(ValidationError):
        gold_item_add(project, kind="rating", image=image, gold_answer={"level": 4}, purpose="work")
    with pytest.raises(ValidationError):
        gold_item_add(project, kind="description", image=ImageFactory(), gold_answer={"overall": "mild"})


@pytest.mark.parametrize(
    "fields, bad_field",
    [({"task_kinds": ["rating", "rating"]}, "task_kinds"), ({"task_kinds": "rating"}, "task_kinds"),
     ({"overlap": 0}, "overlap"), ({"pair_source": "nearby"}, "pair_source"), ({"fatigue_pause_after": 10}, "fatigue_pause_after"),
     ({"lease_seconds": 5}, "lease_seconds"), ({"colour": "red"}, "colour"), ({"gold_rate": 0.5, "repeat_rate": 0.5}, "repeat_rate")],
)
def test_settings_are_validated(project, fields, bad_field):
    """Bad settings are refused with the field named, and nothing is saved."""
    with pytest.raises(ValidationError) as caught:
        project_settings_update(project, **fields)
    assert bad_field in caught.value.message_dict
    project.refresh_from_db()
    assert (project.task_kinds, project.overlap, project.fatigue_pause_after) == ([], 3, 50)
