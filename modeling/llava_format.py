"""Conversations in the JSON that the trainers people use read: LLaVA-OneVision, LLaVA-1.5 / Q-Instruct, LLaMA-Factory.

Django-free core beside :mod:`modeling.conversations`: it serialises the builders' :class:`Conversation`
objects, so an export and the critic's own training read one format from one code path. A record is::

    {"id": "relativity-0", "task": "relativity", "image": "images/a.png" | ["images/a.png", "images/b.png"],
     "conversations": [{"from": "human", "value": "<image>\\n<image>\\nWhich image ..."},
                       {"from": "gpt", "value": "The first image has better quality."}],
     "system": "Assume you are an image quality evaluator."}   # only when the conversation has one

Text is the critic's own rendering (``CriticModel.render``): image segments become the placeholder in place, text
segments are joined as they are, so paper 002's ``<Img-A><image></Img-A>`` tags keep their position. Images that
open a turn (before any text) are followed by a newline, as LLaVA's data expects. LLaVA has no system turn, so a
system prompt goes in the ``"system"`` key (which sharegpt-style loaders such as LLaMA-Factory read).

Three variants, one per trainer family (tests/exports/test_trainer_formats.py reads each by its trainer's schema):

- :func:`to_llava`: the multi-image form LLaVA-OneVision reads (``"image"`` a path or a list of paths);
- :func:`to_llava_single`: LLaVA-1.5 / Q-Instruct, whose loader opens ``"image"`` as one path (a list fails), so
  only conversations with at most one image fit; it has no place for a system prompt, so the prompt opens the
  first human turn, after the image token (the Q-SiT paper puts its evaluator prefix there too);
- :func:`to_sharegpt`: LLaMA-Factory's ShareGPT form, ``{"messages": [{"role", "content"}], "images": [...],
  "system": ...}``, read through the ``dataset_info.json`` entry of :func:`sharegpt_dataset_info`.
"""
from __future__ import annotations

from collections.abc import Mapping

from modeling.conversations import Conversation

IMAGE_TOKEN = "<image>"
ROLES = {"user": "human", "assistant": "gpt"}


def turn_text(content) -> str:
    """One message's segments as LLaVA text: leading images as ``<image>\\n``, later ones in place."""
    if isinstance(content, str):
        return content
    parts, leading = [], True
    for segment in content:
        if segment["type"] == "image":
            parts.append(IMAGE_TOKEN + ("\n" if leading else ""))
        else:
            leading = False
            parts.append(segment["text"])
    return "".join(parts)


def to_llava(conversation: Conversation, *, record_id: str, image_paths: Mapping[str, str] | None = None) -> dict:
    """One LLaVA-style record of `conversation`.

    Parameters
    ----------
    conversation : Conversation
    record_id : str
        The record's ``"id"``.
    image_paths : mapping image key -> path, optional
        Where each image lies relative to the trainer's image folder; keys missing from it are written as they are.

    Raises
    ------
    ValueError
        A role other than system, user and assistant, or a turn order LLaVA cannot read (it must alternate
        human, gpt, ... and end with gpt).
    """
    paths = image_paths or {}
    system, turns = [], []
    for message in conversation.messages:
        role = message["role"]
        if role == "system":
            system.append(turn_text(message["content"]))
            continue
        if role not in ROLES:
            raise ValueError(f"unknown role {role!r}")
        turns.append({"from": ROLES[role], "value": turn_text(message["content"])})
    expected = ["human", "gpt"] * (len(turns) // 2)
    if not turns or [turn["from"] for turn in turns] != expected or len(turns) % 2:
        raise ValueError("turns must alternate human, gpt and end with gpt")
    record = {"id": record_id, "task": conversation.task}
    images = [paths.get(key, key) for key in conversation.images]
    if len(images) == 1:
        record["image"] = images[0]
    elif images:
        record["image"] = images
    record["conversations"] = turns
    if system:
        record["system"] = "\n".join(system)
    return record


def to_llava_single(conversation: Conversation, *, record_id: str, image_paths: Mapping[str, str] | None = None) -> dict:
    """One LLaVA-1.5 / Q-Instruct record: ``"image"`` one path (or none), the system prompt in the first human turn.

    Raises
    ------
    ValueError
        More than one image (LLaVA-1.5 reads one a record), or what :func:`to_llava` refuses.
    """
    if len(conversation.images) > 1:
        raise ValueError(f"LLaVA-1.5 reads one image a record; this conversation has {len(conversation.images)}")
    record = to_llava(conversation, record_id=record_id, image_paths=image_paths)
    system = record.pop("system", None)
    if system:
        first = record["conversations"][0]
        lead = IMAGE_TOKEN + "\n" if first["value"].startswith(IMAGE_TOKEN + "\n") else ""
        first["value"] = lead + system + "\n" + first["value"][len(lead):]
    return record


def to_sharegpt(conversation: Conversation, *, record_id: str, image_paths: Mapping[str, str] | None = None) -> dict:
    """One LLaMA-Factory ShareGPT record: ``messages`` (role/content, user first, alternating), ``images``, ``system``.

    The ``<image>`` tokens stay where the conversation has them (LLaMA-Factory requires as many tokens as images);
    ``system`` is always present ("" when the conversation has none, which the trainer reads as its template's default).
    """
    record = to_llava(conversation, record_id=record_id, image_paths=image_paths)
    roles = {"human": "user", "gpt": "assistant"}
    images = record.get("image", [])
    return {
        "id": record_id, "task": conversation.task,
        "messages": [{"role": roles[turn["from"]], "content": turn["value"]} for turn in record["conversations"]],
        "images": images if isinstance(images, list) else [images],
        "system": record.get("system", ""),
    }


def sharegpt_dataset_info(*, dataset_name: str, file_name: str) -> dict:
    """The ``dataset_info.json`` entry that makes LLaMA-Factory read :func:`to_sharegpt` records from `file_name`."""
    return {dataset_name: {
        "file_name": file_name,
        "formatting": "sharegpt",
        "columns": {"messages": "messages", "images": "images", "system": "system"},
        "tags": {"role_tag": "role", "content_tag": "content", "user_tag": "user", "assistant_tag": "assistant"},
    }}
