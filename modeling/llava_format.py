"""Conversations in the LLaVA-style JSON that LLaVA, Q-Align/Q-Instruct and LLaVA-OneVision trainers read.

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
