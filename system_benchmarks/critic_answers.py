"""How a critic version answers a prompting system: by likelihood over the protocol's allowed answers.

A tiny (or lightly trained) critic's free text is not worth parsing, and even a real one is trained to
answer with a level word or "first"/"second", not with the formats paper 004's prompts ask for. So a
critic never generates here: it reads next-token logits after the protocol's prompt (the images, then
the prompt text, then an answer prefix) the way :mod:`modeling.critic.core.scoring` does, picks among the
answers the protocol allows, and writes that choice as the text a model would have written. The text
then goes through the same parser and aggregation as any endpoint's answer:

* single-stimulus: the five level logits after "The quality of the image is"; the expected level on
  0-100 (paper 001, eq. 5) is written as ``"Score: <value>"``;
* double-stimulus: the " first"/" second" logits after "The"; the likelier one is written as
  ``"Answer: Image A"`` or ``"Answer: Image B"`` (``"Answer: Same"`` only on an exact tie; the critic is
  never trained on a "same" answer, so it has no token for it);
* multiple-stimulus: a ranking of ``L`` images has ``L!`` answers; it is chosen as the Borda order of the
  pairwise " first"/" second" probabilities of every pair in the list (each pair shown with the prompt's
  images in list order), written as ``"Ranking: C > A > ..."``.

In-context exemplar images are shown before the test images, as for an endpoint. Chain-of-thought
prompting changes only the prompt text here: the critic answers at once.
"""
from __future__ import annotations

from collections.abc import Sequence
from itertools import combinations

import numpy as np
import torch

from evaluation.protocols import image_label
from modeling import conversations as conv
from modeling.critic.core.scoring import as_rgb_image, level_expectation, pair_preference

__all__ = ["critic_answer"]


def _messages(n_images: int, text: str) -> list[dict]:
    content = [{"type": "image", "index": i} for i in range(n_images)]
    content.append({"type": "text", "text": text})
    return [{"role": "user", "content": content}]


@torch.no_grad()
def _logits(critic, text: str, images: Sequence, prefix: str, token_ids) -> np.ndarray:
    """Logits of ``token_ids`` right after ``prefix``, for one prompt showing ``images``."""
    prompt = critic.render(_messages(len(images), text), add_generation_prompt=True) + prefix
    batch = critic.encode([prompt], [[as_rgb_image(image) for image in images]])
    logits = critic.model(**batch, logits_to_keep=1).logits[:, -1, :]
    index = torch.tensor(token_ids, device=critic.device)
    return logits.index_select(-1, index).float().cpu().numpy()  # [1, n_tokens]


def critic_answer(critic, protocol: str, prompt: str, exemplars: Sequence, images: Sequence) -> str:
    """The critic's answer to one prompt, as text in the protocol's answer format (see the module docstring).

    Parameters
    ----------
    critic : modeling.critic.core.loading.Critic
    protocol : {"single", "double", "multiple"}
    prompt : str
        The prompting system's text (:func:`evaluation.protocols.prompt_build`).
    exemplars, images : sequence of PIL images
        In-context exemplars (may be empty), then the test images.
    """
    critic.model.eval()
    shown = list(exemplars) + list(images)
    if protocol == "single":
        logits = _logits(critic, prompt, shown, conv.ANSWER_PREFIX_SCORE, critic.level_token_ids)
        return f"Score: {float(level_expectation(logits).scores[0]):.2f}"
    if protocol == "double":
        first = float(pair_preference(_logits(critic, prompt, shown, conv.ANSWER_PREFIX_PAIR, critic.pair_token_ids))[0])
        return "Answer: Same" if first == 0.5 else f"Answer: Image {'A' if first > 0.5 else 'B'}"
    if protocol == "multiple":
        wins = np.zeros(len(images))
        for i, j in combinations(range(len(images)), 2):
            pair = list(exemplars) + [images[i], images[j]]
            first = float(pair_preference(_logits(critic, prompt, pair, conv.ANSWER_PREFIX_PAIR, critic.pair_token_ids))[0])
            wins[i] += first
            wins[j] += 1.0 - first
        order = np.argsort(-wins, kind="stable")
        return "Ranking: " + " > ".join(image_label(int(k)) for k in order)
    raise ValueError(f"unknown protocol {protocol!r}")
