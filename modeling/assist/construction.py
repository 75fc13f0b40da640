"""LLM-written answers for the critic's training data: VisualCritic's data-construction prompts (paper 000, Fig. 3-4).

A project whose critic trains with `answer_text="llm"` (CriticDataSettings) gets, besides the fixed answers:

- a description of each training image's quality from its scores (MOS, else the mean rating on 0-100),
  without numbers, as an extra description conversation;
- with the numeric answer format (or "numeric answers too" on the button), the MOS and attribute numbers
  put into a sentence by Fig. 3's quantitative prompt, as the numeric conversation's answer; an output
  that changes, drops or adds a number is rejected (and checked again when training reads it);
- an authenticity sentence instead of the fixed "Yes, this image is AI-generated.";
- for pairs of same-source images with MOS, a comparison sentence after the fixed relativity answer
  (the pair scorer reads the fixed words, see conversations.relativity_from_sentences);
- ten paraphrased questions about the MOS, added to the scoring task's question pool (needs a model:
  the offline drafter has no paraphrases).

"Write answers with the LLM" (the Critic page) queues `modeling.llm_construct` on the default queue,
which writes ConstructedText rows through the LLM client (or, with no key, the offline template drafter,
labelled `loupe-template-drafter`), each checked against the prompt's rules: rejected outputs stay
visible and never train. Training reads the accepted rows whose input is still the same (hash of the
rendered input), and counts every input that fell back to the fixed answer.
"""
from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from typing import Any

import numpy as np

from annotation.models import Authenticity, Image, Project
from annotation.vocabulary import TaskKind
from modeling.assist.answers import (
    PARAPHRASE_METRIC, PROMPTS, authenticity_payload, input_hash, input_text, quantitative_payload, scores_payload,
)
from modeling.assist.models import ConstructedText, LLMCall
from modeling.assist.services import _call_record, llm_client_for, llm_model_name, prompt_active
from modeling.critic import data_sources
from modeling.critic.data import CriticDataSettings, heldout_split, judgements_usable
from modeling.critic.models import CriticVersion
from modeling.assist.core.drafting import construct_text
from modeling.assist.core.errors import LLMError, LLMRequestRejected

#: At most this many model calls per "Write answers" run (a click never spends without bound).
MAX_CALLS_PER_RUN = 2000
#: MOS pairs per source: as many as the source has images with MOS, at most this many.
MAX_PAIRS_PER_SOURCE = 500
PAIR_SEED = 0


@dataclass(frozen=True)
class ConstructionInput:
    purpose: str
    key: str
    payload: Any


# ------------------------------------------------------------------------------------------ inputs


def construction_inputs(*, project: Project, data: CriticDataSettings | None = None, numeric: bool = False) -> list[ConstructionInput]:
    """What the next training run can use an LLM answer for, on the training images (held-out ones never).

    Quantitative answers (numbers) for images with a MOS when `data` has a numeric answer format or `numeric`.
    """
    data = data or CriticDataSettings()
    train_ids, _ = heldout_split(project=project, fraction=data.heldout_fraction)
    rows = list(Image.objects.filter(project=project, id__in=train_ids.tolist()).order_by("id").values_list(
        "id", "source_dataset", "mos_normalised", "authenticity", "attributes",
    ))
    levels: dict[int, list[float]] = {}
    for image_id, level in judgements_usable(project=project).filter(
        kind__in=(TaskKind.RATING, TaskKind.PATHWAY), level__isnull=False, item__image_id__in=train_ids.tolist(),
    ).values_list("item__image_id", "level"):
        levels.setdefault(image_id, []).append(float(level))
    out: list[ConstructionInput] = []
    by_source: dict[str, list[tuple[int, float]]] = {}
    if numeric or data.answer_format != "levels":
        with_mos = {row[0]: (row[0], None, row[1], None, row[2], row[3], row[4]) for row in rows}
        for item in data_sources.numeric_scores(with_mos):
            out.append(ConstructionInput(ConstructedText.Purpose.QUANTITATIVE, f"image:{item.image}", quantitative_payload(item)))
    for image_id, source, mos, authenticity, _ in rows:
        if mos is not None:
            out.append(ConstructionInput(ConstructedText.Purpose.SCORES, f"image:{image_id}", scores_payload(mos, source="mos")))
            by_source.setdefault(source, []).append((image_id, float(mos)))
        elif image_id in levels:
            payload = scores_payload(float(np.mean(levels[image_id])), source="ratings")
            out.append(ConstructionInput(ConstructedText.Purpose.SCORES, f"image:{image_id}", payload))
        if authenticity:
            payload = authenticity_payload(authenticity == Authenticity.PHOTOGRAPHIC)
            out.append(ConstructionInput(ConstructedText.Purpose.AUTHENTICITY, f"image:{image_id}", payload))
    if any(item.purpose == ConstructedText.Purpose.SCORES for item in out):
        out.append(ConstructionInput(ConstructedText.Purpose.PARAPHRASES, f"metric:{PARAPHRASE_METRIC}", PARAPHRASE_METRIC))
    rng = np.random.default_rng(PAIR_SEED)
    for source in sorted(by_source):
        items = by_source[source]
        if len(items) < 2:
            continue
        seen = set()
        for _ in range(min(len(items), MAX_PAIRS_PER_SOURCE)):
            i, j = (int(k) for k in rng.choice(len(items), size=2, replace=False))
            (a, mos_a), (b, mos_b) = items[i], items[j]
            if (a, b) in seen or round(mos_a, 2) == round(mos_b, 2):
                continue
            seen.add((a, b))
            out.append(ConstructionInput(ConstructedText.Purpose.MOS_PAIR, f"pair:{a}:{b}", (round(mos_a, 2), round(mos_b, 2))))
    return out


# ------------------------------------------------------------------------------------------ writing


def data_settings_for(project: Project) -> CriticDataSettings:
    """The data settings of the project's newest version (its held-out split), else the defaults."""
    latest = CriticVersion.objects.filter(project=project).order_by("-number").values_list("training_settings", flat=True).first()
    try:
        return CriticDataSettings(**(latest or {}).get("data", {}))
    except (TypeError, ValueError):
        return CriticDataSettings()


def constructed_texts_write(
    *, project: Project, data: CriticDataSettings | None = None, max_calls: int = MAX_CALLS_PER_RUN, numeric: bool = False,
) -> dict[str, int]:
    """Write the missing answers for the project's current inputs; returns counts by status (and "skipped").

    The inputs are those of the training images under `data`'s held-out split (default: the newest version's);
    `numeric`: quantitative answers too, whatever `data`'s answer format (construction_inputs).

    An input that has a row for the active prompt version and the current model is skipped, so running
    twice calls nothing twice. Failed calls are stored (status failed, the error shown) and are tried again
    next time; every call is on the LLM ledger (purpose "construction"). When the endpoint policy refuses the
    configured server, one failed ledger row says so, nothing is written and the counts are {"refused": 1}.
    """

    model = llm_model_name()[:200]
    templates = {purpose: prompt_active(project=project, name=name) for purpose, name in PROMPTS.items()}
    done = set(
        ConstructedText.objects.filter(project=project).exclude(status=ConstructedText.Status.FAILED).values_list(
            "purpose", "input_key", "input_hash", "prompt_name", "prompt_version", "model",
        )
    )
    counts: Counter = Counter()
    calls = 0
    try:
        client = llm_client_for(project)
    except LLMRequestRejected as error:  # no call can be made this run: one ledger row says why; nothing is stored
        template = templates[ConstructedText.Purpose.SCORES]
        _call_record(project=project, purpose=LLMCall.Purpose.CONSTRUCTION, template=template, error=error)
        return {"refused": 1}
    try:
        for item in construction_inputs(project=project, data=data or data_settings_for(project), numeric=numeric):
            template = templates[item.purpose]
            digest = input_hash(item.purpose, item.payload)
            if (item.purpose, item.key, digest, template.name, template.version, model) in done:
                counts["skipped"] += 1
                continue
            if client is None and item.purpose == ConstructedText.Purpose.PARAPHRASES:
                counts["needs_a_model"] += 1  # no offline version: the built-in question pool stays
                continue
            if calls >= max_calls:
                counts["left_for_next_run"] += 1
                continue
            calls += 1
            row = {"input_text": input_text(item.purpose, item.payload)}
            try:
                draft = construct_text(client, template, item.payload)
            except LLMError as error:
                _call_record(project=project, purpose=LLMCall.Purpose.CONSTRUCTION, template=template, error=error)
                row.update(status=ConstructedText.Status.FAILED, error=str(error), text="", problems=[])
            else:
                _call_record(project=project, purpose=LLMCall.Purpose.CONSTRUCTION, template=template, draft=draft)
                status = ConstructedText.Status.ACCEPTED if draft.ok else ConstructedText.Status.REJECTED
                row.update(status=status, text=draft.text, problems=list(draft.problems), error="")
            ConstructedText.objects.update_or_create(
                project=project, purpose=item.purpose, input_key=item.key, input_hash=digest,
                prompt_name=template.name, prompt_version=template.version, model=model, defaults=row,
            )
            counts[row["status"]] += 1
    finally:
        if client is not None:
            client.close()
    return dict(counts)


def constructed_texts_summary(*, project: Project) -> dict:
    """Counts by purpose and status, and the latest rejected or failed rows for review."""
    rows = ConstructedText.objects.filter(project=project)
    counts: dict[str, dict[str, int]] = {}
    for purpose, status in rows.values_list("purpose", "status"):
        counts.setdefault(purpose, Counter())[status] += 1
    labels = dict(ConstructedText.Purpose.choices)
    return {
        "by_purpose": [{"purpose": labels.get(p, p), **dict(c)} for p, c in sorted(counts.items())],
        "problems": list(rows.exclude(status=ConstructedText.Status.ACCEPTED)[:20]),
        "total": rows.count(),
    }
