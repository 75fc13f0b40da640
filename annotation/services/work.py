"""Writes on a project's work: its annotation settings, work items, comparison pairs, proposals, gold and training items."""
from __future__ import annotations

import itertools
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np
from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import F, Q

from annotation.models import Image, Lease, PairSource, Project, SelectionStrategy, WorkItem
from annotation.services.answers import gold_answer_clean
from annotation.vocabulary import SINGLE_IMAGE_KINDS, TaskKind

#: Project fields a researcher sets through `project_settings_update`.
SETTINGS_FIELDS = (
    "task_kinds", "overlap", "pair_source", "pair_reasoning", "pair_allow_tie", "selection_strategy", "pair_batch_size",
    "gold_rate", "repeat_rate", "lease_seconds", "fatigue_warn_after", "fatigue_pause_after", "fatigue_break_minutes",
    "training_required", "training_pass_mark", "pathway_show_mos",
)
# Enumerate every candidate pair up to this many; beyond it, draw pairs by rejection sampling.
_ENUMERATE_PAIRS_MAX = 200_000


# --------------------------------------------------------------------------------------------- settings


@transaction.atomic
def project_settings_update(project: Project, **fields) -> Project:
    """Change a project's annotation settings (validated together), then sync its work items.

    Raises ValidationError (field -> message) for unknown fields, values outside a field's range or
    choices, unknown or repeated task kinds, a pause that does not come after the warning, or a gold
    rate and repeat rate that together leave no room for work.
    """
    unknown = set(fields) - set(SETTINGS_FIELDS)
    if unknown:
        raise ValidationError({name: "Not a project setting." for name in sorted(unknown)})
    project = Project.objects.select_for_update().get(pk=project.pk)
    errors: dict[str, str] = {}
    for name, value in fields.items():
        if name == "task_kinds":
            continue
        field = Project._meta.get_field(name)
        try:
            fields[name] = field.clean(value, project)
        except ValidationError as exc:
            errors[name] = " ".join(exc.messages)
    if "task_kinds" in fields:
        kinds = fields["task_kinds"]
        if not isinstance(kinds, list | tuple) or not all(isinstance(kind, str) for kind in kinds):
            errors["task_kinds"] = "Give the task kinds as a list of names."
        elif set(kinds) - set(TaskKind.values):
            errors["task_kinds"] = f"Unknown task kinds: {', '.join(sorted(set(kinds) - set(TaskKind.values)))}; choose from {', '.join(TaskKind.values)}."
        elif len(set(kinds)) != len(kinds):
            errors["task_kinds"] = "Each task kind may be listed once."
        else:
            fields["task_kinds"] = [kind for kind in TaskKind.values if kind in kinds]  # a canonical order
    if errors:
        raise ValidationError(errors)
    for name, value in fields.items():
        setattr(project, name, value)
    if project.fatigue_pause_after <= project.fatigue_warn_after:
        errors["fatigue_pause_after"] = "The pause must come after the warning: set it above the warning count."
    if project.fatigue_warn_after < 1:
        errors["fatigue_warn_after"] = "Warn after at least one item."
    if project.fatigue_break_minutes < 1:
        errors["fatigue_break_minutes"] = "A break lasts at least one minute."
    if project.gold_rate + project.repeat_rate > 0.8:
        errors["repeat_rate"] = "The gold rate and the repeat rate together may be at most 0.8, or there is no room for work."
    if errors:
        raise ValidationError(errors)
    project.save(update_fields=list(fields))
    work_items_sync(project)
    return project


# ----------------------------------------------------------------------------------------- work items


def work_items_sync(project: Project) -> int:
    """Make sure every image has one WORK item per enabled single-image kind; returns how many were created.

    Idempotent (conflicting rows are ignored), so the import task and the settings service may both call it.
    Items of kinds that were switched off stay; the queue serves enabled kinds only.
    """
    kinds = [kind for kind in SINGLE_IMAGE_KINDS if kind in (project.task_kinds or [])]
    if not kinds:
        return 0
    existing = set(
        WorkItem.objects.filter(project=project, purpose=WorkItem.Purpose.WORK, kind__in=kinds, image_b__isnull=True)
        .values_list("kind", "image_id")
    )
    image_ids = Image.objects.filter(project=project).values_list("pk", flat=True)
    new_items = [
        WorkItem(project=project, kind=kind, purpose=WorkItem.Purpose.WORK, image_id=image_id)
        for image_id in image_ids
        for kind in kinds
        if (kind, image_id) not in existing
    ]
    WorkItem.objects.bulk_create(new_items, batch_size=500, ignore_conflicts=True)
    return len(new_items)


def _pair_groups(project: Project, pair_source: str) -> list[list[int]]:
    """Groups of image ids within which pairs may be made (one group of everything for random pairs)."""
    images = list(Image.objects.filter(project=project).values_list("pk", "reference_id", "source_dataset"))
    if pair_source == PairSource.RANDOM:
        return [[pk for pk, _, _ in images]]
    groups: dict[object, set[int]] = defaultdict(set)
    if pair_source == PairSource.SAME_REFERENCE:
        # A reference and its distorted versions form a group: both members share the reference, or one is it.
        for pk, reference_id, _ in images:
            if reference_id is not None:
                groups[reference_id].update((pk, reference_id))
    elif pair_source == PairSource.SAME_SOURCE:
        for pk, _, source_dataset in images:
            if source_dataset:
                groups[source_dataset].add(pk)
    else:
        raise ValidationError({"pair_source": "Proposed pairs come from the active selector, not from pairs_generate."})
    return [sorted(group) for group in groups.values() if len(group) > 1]


def pairs_generate(project: Project, *, count: int, rng: np.random.Generator) -> int:
    """Add up to `count` new comparison pairs chosen by the project's pair source; returns how many were added.

    Pairs are distinct and new to the project (any existing WORK pair, retired or not, is skipped); each
    item stores the lower image id as A (the `pair_images_ordered` constraint).
    """
    if count < 0:
        raise ValidationError({"count": "The number of pairs cannot be negative."})
    groups = _pair_groups(project, project.pair_source)
    existing = set(
        WorkItem.objects.filter(project=project, kind=TaskKind.PAIR, purpose=WorkItem.Purpose.WORK).values_list("image_id", "image_b_id")
    )
    sizes = np.array([len(group) * (len(group) - 1) // 2 for group in groups], dtype=np.int64)  # [n_groups]
    if count == 0 or sizes.sum() == 0:
        return 0
    chosen: list[tuple[int, int]] = []
    if sizes.sum() <= _ENUMERATE_PAIRS_MAX:
        candidates = [pair for group in groups for pair in itertools.combinations(group, 2) if pair not in existing]
        order = rng.permutation(len(candidates))
        chosen = [candidates[index] for index in order[:count]]
    else:
        seen = set(existing)
        weights = sizes / sizes.sum()
        for _ in range(count * 20):
            if len(chosen) >= count:
                break
            group = groups[rng.choice(len(groups), p=weights)]
            first, second = rng.choice(len(group), size=2, replace=False)
            pair = tuple(sorted((group[first], group[second])))
            if pair not in seen:
                seen.add(pair)
                chosen.append(pair)
    items = [
        WorkItem(project=project, kind=TaskKind.PAIR, purpose=WorkItem.Purpose.WORK, image_id=int(a), image_b_id=int(b))
        for a, b in chosen
    ]
    WorkItem.objects.bulk_create(items, batch_size=500, ignore_conflicts=True)
    return len(items)


def pair_items_open_count(project: Project) -> int:
    """Comparison pairs still open: WORK pairs, not retired, with fewer judgements than the project's overlap (plus the item's extra)."""
    return WorkItem.objects.filter(
        project=project, kind=TaskKind.PAIR, purpose=WorkItem.Purpose.WORK, retired=False,
        judgement_count__lt=F("extra_judgements") + project.overlap,
    ).count()


# -------------------------------------------------------------------------------------------- proposals


@dataclass(frozen=True)
class ProposedPair:
    """One pair the active selector proposes: two image ids (any order) and its expected information gain (bits)."""

    image_id: int
    image_b_id: int
    expected_gain: float | None = None


@dataclass(frozen=True)
class ProposalsAdded:
    created: int  # new pair items
    refreshed: int  # existing pair items given the new provenance (and served again if they had been retired)
    retired: int  # older proposals that nobody had judged or held, no longer served


@transaction.atomic
def proposed_pairs_add(
    project: Project,
    pairs: Iterable[ProposedPair | tuple],
    *,
    strategy: str,
    critic_version_id: int | None,
    batch_priority: float,
) -> ProposalsAdded:
    """Queue the active selector's proposed pairs, in the order given (first served first), and retire stale ones.

    Each proposal is a WORK pair item with `strategy`, `expected_gain`, `critic_version_id` and
    `priority = batch_priority` (the queue serves the highest priority first, then fewest judgements,
    then oldest, so a later batch with a higher priority goes first). Older proposals (a strategy set)
    that nobody has judged or holds a lease on are retired. A pair the project already has is refreshed
    rather than duplicated; one that has all its judgements gets one more (`extra_judgements`), so a pair whose
    outcome is still uncertain is asked again, of an annotator who has not judged it. Raises ValidationError for unknown strategies, images of other projects,
    or an image compared with itself.
    """
    if strategy not in SelectionStrategy.values:
        raise ValidationError({"strategy": f"Unknown selection strategy {strategy!r}."})
    proposals = [pair if isinstance(pair, ProposedPair) else ProposedPair(*pair) for pair in pairs]
    ordered: dict[tuple[int, int], float | None] = {}
    for pair in proposals:
        a, b = int(pair.image_id), int(pair.image_b_id)
        if a == b:
            raise ValidationError({"pairs": f"Image {a} cannot be compared with itself."})
        ordered.setdefault((min(a, b), max(a, b)), None if pair.expected_gain is None else float(pair.expected_gain))
    image_ids = {pk for pair in ordered for pk in pair}
    found = set(Image.objects.filter(project=project, pk__in=image_ids).values_list("pk", flat=True))
    if image_ids - found:
        raise ValidationError({"pairs": f"Images not in this project: {sorted(image_ids - found)}."})

    pair_items = WorkItem.objects.filter(project=project, kind=TaskKind.PAIR, purpose=WorkItem.Purpose.WORK)
    existing = {(item.image_id, item.image_b_id): item for item in pair_items.filter(image_id__in=image_ids, image_b_id__in=image_ids)}
    keep_ids = {existing[pair].pk for pair in ordered if pair in existing}
    held = Lease.objects.filter(status=Lease.Status.ACTIVE, item__project=project).values("item_id")
    retired = (
        pair_items.filter(retired=False, judgement_count=0)
        .exclude(strategy="")
        .exclude(pk__in=keep_ids)
        .exclude(pk__in=held)
        .update(retired=True)
    )
    refreshed, new_items = 0, []
    for pair, gain in ordered.items():
        values = {"strategy": strategy, "expected_gain": gain, "critic_version_id": critic_version_id, "priority": batch_priority}
        if pair in existing:
            item = existing[pair]
            extra = max(item.extra_judgements, item.judgement_count - project.overlap + 1)
            WorkItem.objects.filter(pk=item.pk).update(retired=False, extra_judgements=extra, **values)
            refreshed += 1
        else:
            new_items.append(WorkItem(project=project, kind=TaskKind.PAIR, purpose=WorkItem.Purpose.WORK,
                                      image_id=pair[0], image_b_id=pair[1], **values))
    WorkItem.objects.bulk_create(new_items, batch_size=500)
    return ProposalsAdded(created=len(new_items), refreshed=refreshed, retired=retired)


def proposed_pairs_unserved_retire(project: Project) -> int:
    """Retire the project's proposed pairs that wait unserved: nobody has judged them or holds a lease; returns how many.

    For a re-plan (a new critic): pairs an annotator holds or has answered stay as they are. Call it inside the
    transaction that queues the new proposals. The waiting rows are locked first, skipping rows a leasing
    annotator holds at this moment (annotation.services.queue locks the item it leases), and the leases are read
    after the lock, so a lease given a moment before is seen and its pair kept.
    """
    waiting = WorkItem.objects.filter(
        project=project, kind=TaskKind.PAIR, purpose=WorkItem.Purpose.WORK, retired=False, judgement_count=0,
    ).exclude(strategy="")
    locked = list(waiting.select_for_update(skip_locked=True).values_list("pk", flat=True))
    held = Lease.objects.filter(status=Lease.Status.ACTIVE, item_id__in=locked).values("item_id")
    return WorkItem.objects.filter(pk__in=locked).exclude(pk__in=held).update(retired=True)


# ------------------------------------------------------------------------------------ gold and training


@transaction.atomic
def gold_item_add(
    project: Project,
    *,
    kind: str,
    image: Image,
    image_b: Image | None = None,
    gold_answer: dict,
    purpose: str = WorkItem.Purpose.GOLD,
    feedback: str = "",
) -> WorkItem:
    """Add a gold item (hidden among work) or a training item (the training round, with `feedback`).

    `gold_answer` is in ITEM terms for the images as given: {"level"} (rating, pathway), {"choice"}
    (pair: "a" is `image`), {"overall"} (description). Pairs are stored with the lower image id as A
    (the answer is mirrored if needed). Raises ValidationError for a bad kind, purpose, answer, images
    from another project, a pair without two distinct images, or an item that already exists.
    """
    errors = {}
    if kind not in TaskKind.values:
        errors["kind"] = f"Unknown task kind {kind!r}."
    if purpose not in (WorkItem.Purpose.GOLD, WorkItem.Purpose.TRAINING):
        errors["purpose"] = "Choose gold or training."
    if image.project_id != project.pk or (image_b is not None and image_b.project_id != project.pk):
        errors["image"] = "The images must belong to this project."
    if kind == TaskKind.PAIR and (image_b is None or image_b.pk == image.pk):
        errors["image_b"] = "A comparison needs two different images."
    if kind in SINGLE_IMAGE_KINDS and image_b is not None:
        errors["image_b"] = f"A {TaskKind(kind).label.lower()} item has one image."
    if errors:
        raise ValidationError(errors)
    gold_answer = gold_answer_clean(kind=kind, gold_answer=gold_answer)
    if kind == TaskKind.PAIR and image.pk > image_b.pk:
        image, image_b = image_b, image
        gold_answer = {"choice": {"a": "b", "b": "a", "tie": "tie"}[gold_answer["choice"]]}
    duplicate = WorkItem.objects.filter(project=project, kind=kind, purpose=purpose, image=image).filter(
        Q(image_b=image_b) if image_b is not None else Q(image_b__isnull=True)
    )
    if duplicate.exists():
        raise ValidationError({"image": f"This project already has that {purpose} item."})
    return WorkItem.objects.create(
        project=project, kind=kind, purpose=purpose, image=image, image_b=image_b,
        gold_answer=gold_answer, feedback=feedback.strip(),
        # Training items are served in this order: earliest first.
        priority=0.0,
    )

