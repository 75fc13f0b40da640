"""The critic's training conversations in the three trainer formats, each record traced to what it came from.

- `conversations` (conversations.json): the multi-image LLaVA form LLaVA-OneVision reads;
- `conversations_llava15` (conversations_llava15.json): LLaVA-1.5 / Q-Instruct, one image a record; conversations
  with more than one image cannot be read there and are left out, with their count in the manifest's notes;
- `conversations_sharegpt` (conversations_sharegpt.json + dataset_info.json): LLaMA-Factory's ShareGPT form.

All three serialise one `training_set_build` (the critic's own builder, default data settings, the export's
filters as `within`) through modeling/llava_format.py. Every record carries `source`: the image ids and content
hashes (SHA-256 of the file) in image order, and the ids of the judgements it came from (empty for what the images'
own MOS or authenticity labels made). Trainers ignore keys they do not read.
"""
from __future__ import annotations

import json
from collections.abc import Callable
from itertools import combinations
from typing import TextIO

from annotation.models import Image, Judgement, TextRevision
from annotation.vocabulary import TaskKind
from exports.registry import ExportContext, ExportDataError, ExportFormat, format_register

SHAREGPT_FILE = "conversations_sharegpt.json"
DATASET_INFO_FILE = "dataset_info.json"

#: The judgement kinds each task's conversations are built from (modeling/critic/data.py); a task not named
#: here (one a later builder adds) is traced to every used judgement on its images.
TASK_KINDS = {
    "relativity": {TaskKind.PAIR},
    "scoring": {TaskKind.RATING, TaskKind.PATHWAY},
    "description": {TaskKind.PATHWAY, TaskKind.DESCRIPTION},
    "comparison_reasoning": {TaskKind.PAIR},
    "authenticity": set(),
}
#: Tasks whose answer is a judgement's own text: traced to the judgement whose text it is, when one matches.
TEXT_TASKS = ("description", "comparison_reasoning")


def _training(ctx: ExportContext):
    """The export's training set and each conversation's source, built once for all the variants of one export."""
    from modeling.critic.data import CriticDataError, CriticDataSettings, judgement_last_id, training_set_build

    if "training" not in ctx.shared:
        try:
            training = training_set_build(
                project=ctx.project, last_judgement_id=judgement_last_id(project=ctx.project),
                data=CriticDataSettings(), within=ctx.judgements,
            )
        except CriticDataError as error:
            raise ExportDataError(f"Conversations: {error}") from error
        ctx.shared["training"] = (training, conversation_sources(training=training, project=ctx.project))
    return ctx.shared["training"]


def _pathway_text(answer) -> str:
    """Pathway feedback as the builder reads it: description, then conclusion."""
    if not isinstance(answer, dict):
        return ""
    return " ".join(part for part in (str(answer.get(key) or "").strip() for key in ("description", "conclusion")) if part)


def _image_id(key: str) -> int | None:
    return int(key) if key.isdecimal() else None


def conversation_sources(*, training, project) -> list[dict]:
    """`source` of each of `training.conversations`: image ids and content hashes, and the judgements behind it.

    A conversation's judgements are the used ones (`training.judgement_ids`) on its images (one image, or a pair of
    them) of the kinds its task is built from; a description or reasoning answer that is a judgement's own text
    (pathway feedback or a saved questionnaire paragraph) names that judgement only.
    """
    used = set(training.judgement_ids.tolist())
    keys = {key for conversation in training.conversations for key in conversation.images}
    ids = [image_id for image_id in map(_image_id, keys) if image_id is not None]
    hashes = dict(Image.objects.filter(project=project, id__in=ids).values_list("id", "content_hash"))
    texts = dict(TextRevision.objects.filter(
        project=project, status=TextRevision.Status.SAVED, judgement_id__in=list(used),
    ).exclude(final_text="").values_list("judgement_id", "final_text")) if used else {}
    by_images: dict[frozenset, list[tuple[int, str, str]]] = {}
    rows = Judgement.objects.filter(project=project, id__in=list(used)).values_list("id", "kind", "item__image_id", "item__image_b_id", "answer") if used else []
    for judgement_id, kind, image_id, image_b_id, answer in rows:
        text = texts.get(judgement_id) or (_pathway_text(answer) if kind == TaskKind.PATHWAY else "")
        key = frozenset(i for i in (image_id, image_b_id) if i is not None)
        by_images.setdefault(key, []).append((judgement_id, kind, text))
    sources = []
    for conversation in training.conversations:
        image_ids = [_image_id(key) for key in conversation.images]
        known = [i for i in image_ids if i is not None]
        kinds = TASK_KINDS.get(conversation.task)
        found = [
            row for size in (1, 2) for group in combinations(known, size) for row in by_images.get(frozenset(group), ())
            if kinds is None or row[1] in kinds
        ]
        if conversation.task in TEXT_TASKS:
            answer = conversation.answer
            found = [row for row in found if row[2] and row[2] == answer] or found
        sources.append({
            "judgement_ids": sorted({row[0] for row in found}),
            "image_ids": image_ids,
            "image_sha256": [hashes.get(i) if i is not None else None for i in image_ids],
        })
    return sources


def _write_records(ctx: ExportContext, out: TextIO, serialise: Callable[..., dict], *, keep=lambda c: True) -> tuple[int, dict]:
    """Write one JSON array of `serialise(conversation)` records; (records written, conversations left out per task)."""
    training, sources = _training(ctx)
    if ctx.filters.include_excluded:
        ctx.note("conversations", "Excluded judgements never enter the critic's conversations, whatever the filter says.")
    left_out: dict[str, int] = {}
    count = 0
    out.write("[")
    for index, (conversation, source) in enumerate(zip(training.conversations, sources, strict=True)):
        if not keep(conversation):
            left_out[conversation.task] = left_out.get(conversation.task, 0) + 1
            continue
        record = serialise(conversation, record_id=f"{conversation.task}-{index}", image_paths=training.image_names)
        record["source"] = source
        out.write(("\n" if count == 0 else ",\n") + json.dumps(record, ensure_ascii=False))
        count += 1
        ctx.tick()
    out.write("\n]\n")
    return count, left_out


def write_conversations(ctx: ExportContext, out: TextIO) -> int:
    """The critic's training conversations as LLaVA-OneVision reads them (`image` a path or a list of paths).

    The same builder and rules as a training run with default data settings: held-out images and excluded
    judgements never appear. `image` paths are the files' storage names, which is where the zip puts them.
    """
    from modeling.llava_format import to_llava

    return _write_records(ctx, out, to_llava)[0]


def write_conversations_llava15(ctx: ExportContext, out: TextIO) -> int:
    """The conversations LLaVA-1.5 / Q-Instruct can read: at most one image each; the others are counted in the notes."""
    from modeling.llava_format import to_llava_single

    count, left_out = _write_records(ctx, out, to_llava_single, keep=lambda c: len(c.images) <= 1)
    if left_out:
        per_task = ", ".join(f"{task}: {n}" for task, n in sorted(left_out.items()))
        ctx.note("conversations_llava15", (
            f"{sum(left_out.values())} multi-image conversations left out ({per_task}): LLaVA-1.5 reads one image a "
            "record. The LLaVA-OneVision and ShareGPT variants carry them. System prompts open the first human turn."
        ))
    return count


def write_conversations_sharegpt(ctx: ExportContext, out: TextIO) -> int:
    """The conversations in LLaMA-Factory's ShareGPT form (`messages`, `images`, `system`)."""
    from modeling.llava_format import to_sharegpt

    return _write_records(ctx, out, to_sharegpt)[0]


def sharegpt_dataset_name(project) -> str:
    """The dataset's name in dataset_info.json (what `dataset:` names in a LLaMA-Factory training config)."""
    return "loupe_" + project.slug.replace("-", "_")


def sharegpt_companions(ctx: ExportContext) -> dict[str, str]:
    """dataset_info.json, with the entry that makes LLaMA-Factory read conversations_sharegpt.json from the zip's folder."""
    from modeling.llava_format import sharegpt_dataset_info

    info = sharegpt_dataset_info(dataset_name=sharegpt_dataset_name(ctx.project), file_name=SHAREGPT_FILE)
    return {DATASET_INFO_FILE: json.dumps(info, indent=2) + "\n"}


def register_trainer_formats(expected_rows: Callable[[ExportContext], int]) -> None:
    """Register the three conversation formats (called once, from exports/formats.py)."""
    format_register(ExportFormat(
        "conversations", "conversations.json", "Training conversations, LLaVA-OneVision (multi-image JSON)",
        "application/json", write_conversations, expected_rows,
    ))
    format_register(ExportFormat(
        "conversations_llava15", "conversations_llava15.json", "Training conversations, LLaVA-1.5 / Q-Instruct (one image a record)",
        "application/json", write_conversations_llava15, expected_rows,
    ))
    format_register(ExportFormat(
        "conversations_sharegpt", SHAREGPT_FILE, "Training conversations, LLaMA-Factory ShareGPT (with dataset_info.json)",
        "application/json", write_conversations_sharegpt, expected_rows, companions=sharegpt_companions,
    ))
