"""Relativity conversations (paper 000, Sec. 3.2): which of two same-source images is better, from pairs or MOS."""
from __future__ import annotations

import re
from collections.abc import Iterable, Sequence

import numpy as np

from evaluation.arrays import check_rng
from modeling.conversation_prompts import ANSWER_PREFIX_PAIR
from modeling.conversations.common import Conversation, ConversationConfig, _image, _qa, _text, instruction
from modeling.conversations.labels import PairJudgement, ScoredImage, SentencePair


def pair_answer(first_is_better: bool) -> str:
    """The relativity answer; the word after :data:`ANSWER_PREFIX_PAIR` is " first" or " second"."""
    return f"{ANSWER_PREFIX_PAIR} {'first' if first_is_better else 'second'} image has better quality."


def _pair_conversation(first: str, second: str, first_is_better: bool, config, rng) -> Conversation:
    content = [_image(0), _image(1), _text(instruction("relativity", config, rng))]
    return Conversation("relativity", (first, second), _qa(content, pair_answer(first_is_better)))


def relativity_from_judgements(
    judgements: Iterable[PairJudgement],
    *,
    rng: np.random.Generator,
    config: ConversationConfig = ConversationConfig(),
    shuffle_order: bool = True,
) -> list[Conversation]:
    """Relativity conversations from human pair judgements (paper 000, Sec. 3.2).

    Parameters
    ----------
    judgements : iterable of PairJudgement
    rng : numpy.random.Generator
        Draws the paraphrase and, with ``shuffle_order``, which image is shown first,
        so the model cannot learn a position bias.
    config : ConversationConfig
    shuffle_order : bool
        If False, image A is always first.

    Returns
    -------
    list of Conversation, one per judgement.
    """
    rng = check_rng(rng)
    out = []
    for j in judgements:
        a_first = bool(rng.random() < 0.5) if shuffle_order else True
        first, second = (j.image_a, j.image_b) if a_first else (j.image_b, j.image_a)
        first_is_better = (j.winner == "a") == a_first
        out.append(_pair_conversation(first, second, first_is_better, config, rng))
    return out


def relativity_from_sentences(
    pairs: Iterable[SentencePair],
    *,
    rng: np.random.Generator,
    config: ConversationConfig = ConversationConfig(),
) -> list[Conversation]:
    """Relativity conversations whose answer is the fixed one followed by an LLM-written sentence.

    The pair scorer reads P(first better) right after :data:`ANSWER_PREFIX_PAIR`, so the answer keeps
    :func:`pair_answer` first; the LLM sentence adds only what is not the verdict again
    (:func:`sentence_without_verdict`): "The second image has better quality. The latter image has
    superior quality." said the same thing twice. A sentence whose verdict contradicts the MOS order is
    dropped. The shown order is the pair's own (the sentence says "first" or "latter"), so nothing is
    shuffled here.
    """
    rng = check_rng(rng)
    out = []
    for pair in pairs:
        content = [_image(0), _image(1), _text(instruction("relativity", config, rng))]
        rest = sentence_without_verdict(pair.sentence, first_is_better=pair.first_is_better)
        answer = pair_answer(pair.first_is_better) + (f" {rest}" if rest else "")
        out.append(Conversation("relativity", (pair.first, pair.second), _qa(content, answer)))
    return out


_FIRST_WORDS = ("first", "former")
_SECOND_WORDS = ("second", "latter")
_BETTER_WORDS = ("better", "superior", "higher", "sharper", "clearer", "preferable")
_WORSE_WORDS = ("worse", "inferior", "lower", "poorer")


def _sentence_verdict(sentence: str) -> bool | None:
    """True if the sentence says the first image is better, False if the second, None if it gives no verdict."""
    words = [w.strip(".,;:!?()\"'").lower() for w in sentence.split()]
    better = any(w in _BETTER_WORDS for w in words)
    worse = any(w in _WORSE_WORDS for w in words)
    first = [i for i, w in enumerate(words) if w in _FIRST_WORDS]
    second = [i for i, w in enumerate(words) if w in _SECOND_WORDS]
    if better == worse or bool(first) == bool(second) and not (first and second):
        return None
    if first and second:  # "the first image is better than the second": the earlier-named image is the subject
        subject_first = first[0] < second[0]
    else:
        subject_first = bool(first)
    return subject_first if better else not subject_first


def sentence_without_verdict(text: str, *, first_is_better: bool) -> str:
    """The sentences of an LLM relativity answer that add something to the fixed verdict.

    Sentences that only state which image is better are dropped (the fixed answer says it already);
    if one of them contradicts ``first_is_better``, nothing of the text is kept (it would teach both).
    """
    kept = []
    for sentence in re.split(r"(?<=[.!?])\s+", text.strip()):
        if not sentence:
            continue
        verdict = _sentence_verdict(sentence)
        if verdict is None:
            kept.append(sentence)
        elif verdict != first_is_better:
            return ""
    return " ".join(kept)


def relativity_from_scores(
    scored: Sequence[ScoredImage],
    *,
    n_pairs: int,
    rng: np.random.Generator,
    min_gap: float = 0.0,
    config: ConversationConfig = ConversationConfig(),
) -> list[Conversation]:
    """Relativity conversations from MOS: random pairs within one source (paper 000, Sec. 3.2).

    The label is ``[1, 0]`` if the first image's score is higher, else ``[0, 1]``;
    pairs whose scores differ by ``min_gap`` or less are skipped (ties carry no order).

    Parameters
    ----------
    scored : sequence of ScoredImage
    n_pairs : int
        Pairs to draw (with replacement over all same-source pairs).
    rng : numpy.random.Generator
    min_gap : float
        Smallest score difference that counts as an order (``>= 0``).
    config : ConversationConfig

    Returns
    -------
    list of Conversation, at most ``n_pairs`` (fewer if draws fall under ``min_gap``).

    Raises
    ------
    ValueError
        ``n_pairs < 0``, ``min_gap < 0`` or no source with two images.
    """
    rng = check_rng(rng)
    if n_pairs < 0:
        raise ValueError("n_pairs must be >= 0")
    if min_gap < 0:
        raise ValueError("min_gap must be >= 0")
    by_source: dict[str, list[ScoredImage]] = {}
    for item in scored:
        by_source.setdefault(item.source, []).append(item)
    sources = sorted(s for s, items in by_source.items() if len(items) >= 2)
    if not sources:
        raise ValueError("need a source with at least two scored images")
    weights = np.array([len(by_source[s]) for s in sources], dtype=float)
    weights /= weights.sum()
    out = []
    for _ in range(n_pairs):
        items = by_source[sources[int(rng.choice(len(sources), p=weights))]]
        i, j = rng.choice(len(items), size=2, replace=False)
        first, second = items[int(i)], items[int(j)]
        if abs(first.score - second.score) <= min_gap:
            continue
        out.append(
            _pair_conversation(first.image, second.image, first.score > second.score, config, rng)
        )
    return out
