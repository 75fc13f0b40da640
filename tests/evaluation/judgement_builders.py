"""Builders for scaling and selection tests: images without files, and judgements written straight to the database.

The queue services are tested elsewhere; these make known data fast (bulk inserts), so tests can state
exactly which comparisons and ratings a project has.
"""
import uuid
from collections import defaultdict

from django.db.models import F
from django.utils import timezone

from annotation.models import Image, Judgement, Lease, Membership, Project, WorkItem
from annotation.vocabulary import TaskKind
from tests.factories import AnnotatorFactory

_MIRROR = {"a": "b", "b": "a", "tie": "tie"}


def images_make(project: Project, n: int, *, prefix: str = "img") -> list[Image]:
    """`n` image rows of the project (no files: scaling and selection never open them), in id order."""
    start = Image.objects.filter(project=project).count()
    Image.objects.bulk_create([
        Image(
            project=project, file=f"images/{project.pk}/{prefix}{i}.png", thumbnail=f"thumbnails/{project.pk}/{prefix}{i}.jpg",
            content_hash=f"{project.pk}-{prefix}-{i}", original_name=f"{prefix}{i:04d}.png", format="PNG",
            width=8, height=8, file_size=100,
        )
        for i in range(start, start + n)
    ])
    return list(Image.objects.filter(project=project).order_by("id"))


def annotators_make(project: Project, n: int) -> list:
    users = [AnnotatorFactory() for _ in range(n)]
    Membership.objects.bulk_create([Membership(project=project, user=user, role=Membership.Role.ANNOTATOR) for user in users])
    return users


def _items(project, kind, purpose, keys) -> dict:
    """(image id, image_b id or None) -> WorkItem, made in bulk where missing."""
    WorkItem.objects.bulk_create(
        [WorkItem(project=project, kind=kind, purpose=purpose, image_id=a, image_b_id=b) for a, b in set(keys)],
        ignore_conflicts=True, batch_size=500,
    )
    items = WorkItem.objects.filter(project=project, kind=kind, purpose=purpose)
    return {(item.image_id, item.image_b_id): item for item in items}


def judgements_add(project: Project, rows, annotators, *, kind=TaskKind.PAIR, purpose=WorkItem.Purpose.WORK,
                   excluded=False, is_repeat=False) -> list[Judgement]:
    """Write judgements: rows of (image, image_b, choice) for pairs, (image, level) for ratings.

    Each judgement of one item goes to the next annotator in `annotators` (one judgement per item and
    annotator, as the queue guarantees); pair choices are given for the images in the order written.
    """
    now = timezone.now()
    used = defaultdict(int)
    leases, judgements = [], []
    prepared = []
    for row in rows:
        if kind == TaskKind.PAIR:
            first, second, choice = row
            if first.pk > second.pk:
                first, second, choice = second, first, _MIRROR[choice]
            prepared.append(((first.pk, second.pk), {"choice": choice}, None, choice))
        else:
            image, level = row
            prepared.append(((image.pk, None), {"level": level}, level, ""))
    items = _items(project, kind, purpose, [key for key, *_ in prepared])
    for key, answer, level, choice in prepared:
        item = items[key]
        annotator = annotators[used[item.pk] % len(annotators)]
        used[item.pk] += 1
        leases.append(Lease(item=item, annotator=annotator, status=Lease.Status.SUBMITTED, issued_at=now, expires_at=now, closed_at=now,
                            is_repeat=is_repeat))
        judgements.append(dict(item=item, annotator=annotator, project=project, kind=kind, purpose=purpose, client_id=uuid.uuid4(),
                               answer=answer, level=level, choice=choice, issued_at=now, excluded=excluded, is_repeat=is_repeat))
    leases = Lease.objects.bulk_create(leases, batch_size=500)
    created = Judgement.objects.bulk_create(
        [Judgement(lease=lease, **fields) for lease, fields in zip(leases, judgements)], batch_size=500,
    )
    for item_id, n in used.items():
        if not is_repeat:
            WorkItem.objects.filter(pk=item_id).update(judgement_count=F("judgement_count") + n)
    return created
