"""Conversations into model inputs with answer-only labels, and the answer loss (paper 000, eq. 1)."""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import replace

import numpy as np
import torch

from modeling.conversations import Conversation
from modeling.critic.core.model import Critic

__all__ = [
    "IGNORE_INDEX", "MicroBatches", "answer_loss", "conversation_batch", "global_batches", "micro_batch_loader",
    "process_micro_batches",
]

IGNORE_INDEX = -100


def _render_pair(critic: Critic, conversation: Conversation) -> tuple[str, str, str]:
    """(full text, prompt text, answer text) of a conversation whose last turn is the answer."""
    messages = list(conversation.messages)
    if messages[-1]["role"] != "assistant":
        raise ValueError("a training conversation must end with the assistant's answer")
    full = critic.render(messages)
    prompt = critic.render(messages[:-1], add_generation_prompt=True)
    if not full.startswith(prompt):
        raise ValueError("the chat template does not render the prompt as a prefix of the conversation")
    return full, prompt, full[len(prompt) :]


def conversation_batch(critic: Critic, conversations: Sequence[Conversation], image_loader: Callable):
    """Model inputs with ``labels`` that keep only the answer tokens (the last assistant turn).

    Rows are left-padded, so each answer sits at the end of its row: its tokens
    are found by tokenising the answer text alone, and, if the tokenizer merges
    across the prompt/answer boundary, from the length of the prompt encoded alone.

    Returns
    -------
    transformers.BatchFeature
        Processor outputs plus ``labels`` (``IGNORE_INDEX`` outside answers).
    """
    rendered = [_render_pair(critic, c) for c in conversations]
    rows = [[image_loader(key) for key in c.images] for c in conversations]
    batch = critic.encode([full for full, _, _ in rendered], rows)
    input_ids = batch["input_ids"]
    labels = torch.full_like(input_ids, IGNORE_INDEX)
    lengths = batch["attention_mask"].sum(dim=1).tolist()
    answer_lengths = []
    for i, (_, _, answer) in enumerate(rendered):
        ids = critic.tokenizer.encode(answer, add_special_tokens=False)
        n = len(ids)
        answer_lengths.append(n if 0 < n < lengths[i] and input_ids[i, -n:].tolist() == ids else None)
    if any(n is None for n in answer_lengths):
        prompts = critic.encode([prompt for _, prompt, _ in rendered], rows)
        prompt_lengths = prompts["attention_mask"].sum(dim=1).tolist()
        answer_lengths = [full - prompt for full, prompt in zip(lengths, prompt_lengths)]
    for i, n in enumerate(answer_lengths):
        if n <= 0:
            raise ValueError("a conversation has an empty answer")
        labels[i, -n:] = input_ids[i, -n:]
    batch["labels"] = labels
    return batch


def answer_loss(critic: Critic, batch, scored_token_weight: float = 1.0, *, model=None, full_logits: bool = False) -> torch.Tensor:
    """Mean next-token cross-entropy over the answer tokens, scored tokens weighted.

    With ``scored_token_weight == 1`` this is the model's own loss (paper 000, eq. 1).
    Otherwise each answer token whose label is a level word or a pair word
    (``critic.level_token_ids``, ``critic.pair_token_ids``) weighs
    ``scored_token_weight`` and the others 1, normalised by the total weight.
    ``model`` is what runs the forward pass (a DDP- or FSDP-wrapped ``critic.model`` in a
    distributed run); default ``critic.model``.

    Logits are computed only at the positions that predict a label (the answer tokens, a few per
    row; through the model's own ``logits_to_keep``, with the positions any row of the batch needs),
    not over the whole sequence: a 152k-token vocabulary makes the full ``[batch, sequence, vocab]``
    logits gigabytes for a real checkpoint's image tokens. ``full_logits=True`` computes them all (the
    reference the positions-only loss is tested against).
    """
    model = critic.model if model is None else model
    inputs = {k: v for k, v in batch.items() if k != "labels"}
    targets = batch["labels"][:, 1:]
    if full_logits:
        if scored_token_weight == 1.0:
            return model(**batch).loss
        logits = model(**inputs).logits[:, :-1, :].float()
    else:
        keep = (targets != IGNORE_INDEX).any(dim=0).nonzero().squeeze(-1)  # position p predicts token p + 1
        logits = model(**inputs, logits_to_keep=keep).logits.float()
        targets = targets[:, keep]
    targets = targets.to(logits.device)
    mask = targets != IGNORE_INDEX
    if scored_token_weight == 1.0:
        weights = mask.float()
    else:
        scored = torch.tensor(critic.level_token_ids + critic.pair_token_ids, device=targets.device)
        weights = torch.where(torch.isin(targets, scored), scored_token_weight, 1.0) * mask
    losses = torch.nn.functional.cross_entropy(
        logits.reshape(-1, logits.shape[-1]), targets.clamp(min=0).reshape(-1), reduction="none"
    ).view_as(weights)
    return (losses * weights).sum() / weights.sum()


# ------------------------------------------------------------------------------- batch plans and loaders


def global_batches(conversations: Sequence[Conversation], config, world_size: int = 1) -> list[np.ndarray]:
    """Conversation indices of every optimiser step: ``[n_steps][global batch]``, the same on every process.

    The global batch is ``config.batch_size * world_size * config.gradient_accumulation_steps``. Indices
    come from a stream of epochs (each a seeded permutation, or in order without ``shuffle``), so a step's
    data depends only on its number: that is the data position a checkpoint stores. With
    ``one_task_per_batch`` every batch is drawn from one ``Conversation.task``, the task chosen at random in
    proportion to its size. Steps: ``max_steps``, else enough for ``epochs`` passes.
    """
    size = config.batch_size * world_size * config.gradient_accumulation_steps
    n_items = len(conversations)
    total = config.max_steps if config.max_steps is not None else math.ceil(config.epochs * n_items / size)
    rng = np.random.default_rng(config.seed)
    if not config.one_task_per_batch:
        return list(_IndexStream(np.arange(n_items), config.shuffle, rng).take(total * size).reshape(total, size))
    groups: dict[str, list[int]] = {}
    for index, conversation in enumerate(conversations):
        groups.setdefault(conversation.task, []).append(index)
    tasks = sorted(groups)
    streams = {task: _IndexStream(np.asarray(groups[task]), config.shuffle, rng) for task in tasks}
    weights = np.asarray([len(groups[task]) for task in tasks], dtype=float) / n_items
    return [streams[tasks[rng.choice(len(tasks), p=weights)]].take(size) for _ in range(total)]


class _IndexStream:
    """Endless epochs over ``items``: seeded permutations (or the order as given), read ``take(n)`` at a time."""

    def __init__(self, items: np.ndarray, shuffle: bool, rng: np.random.Generator):
        self.items, self.shuffle, self.rng = items, shuffle, rng
        self.buffer = np.empty(0, dtype=np.int64)

    def take(self, n: int) -> np.ndarray:
        while self.buffer.size < n:
            epoch = self.items[self.rng.permutation(self.items.size)] if self.shuffle else self.items
            self.buffer = np.concatenate([self.buffer, epoch])
        out, self.buffer = self.buffer[:n], self.buffer[n:]
        return out


def process_micro_batches(plan: Sequence[np.ndarray], *, batch_size: int, accumulation: int, world_size: int, rank: int):
    """This process's micro-batches, ``accumulation`` per step: micro-batch ``a * world_size + rank`` of each global batch.

    One process with accumulation 2 and two processes without see the same micro-batches in each step.
    """
    out = []
    for indices in plan:
        for a in range(accumulation):
            j = a * world_size + rank
            out.append(indices[j * batch_size : (j + 1) * batch_size])
    return out


class MicroBatches(torch.utils.data.Dataset):
    """Micro-batch ``i`` as model inputs on the CPU: images decoded and processed here, in DataLoader workers."""

    def __init__(self, critic: Critic, conversations: Sequence[Conversation], micro_batches, image_loader: Callable):
        self.critic = replace(critic, device=torch.device("cpu"))
        self.conversations, self.micro_batches, self.image_loader = conversations, micro_batches, image_loader

    def __len__(self) -> int:
        return len(self.micro_batches)

    def __getitem__(self, i: int):
        return conversation_batch(self.critic, [self.conversations[j] for j in self.micro_batches[i]], self.image_loader)


def _as_is(batch):
    return batch


def micro_batch_loader(dataset: MicroBatches, *, start: int, num_workers: int):
    """A DataLoader over ``dataset`` from micro-batch ``start`` on, in order, with ``num_workers`` worker processes."""
    import multiprocessing

    return torch.utils.data.DataLoader(
        dataset, batch_size=None, sampler=range(start, len(dataset)), collate_fn=_as_is, num_workers=num_workers,
        # fork: the image loader may be a closure, and the workers never touch CUDA (batches stay on the CPU).
        multiprocessing_context=multiprocessing.get_context("fork") if num_workers else None,
    )
