"""The critic's data from a project's rows: the held-out split, the training conversations, the judgement snapshot.

Reads the database into the plain label dataclasses of :mod:`modeling.conversations` and calls its
builders; no model or torch here. What enters training (issue 8):

- judgements of work and gold items, never excluded ones (quality control's hook: `Judgement.excluded`
  is set for everything an excluded annotator did), never consistency repeats or training answers;
- never anything about a held-out image: a fixed share of the project's images chosen by content hash
  (`image_is_heldout`), so the same images stay held out in every version and the metrics compare.
"""
from __future__ import annotations

import hashlib
import math
from collections import Counter
from dataclasses import asdict, dataclass, field

import numpy as np
from django.db.models import Max, QuerySet

from annotation.models import Image, Judgement, Project, TextRevision, WorkItem
from annotation.vocabulary import TaskKind
from modeling import conversation_kinds as kinds
from modeling import conversations as conv
from modeling.assist.answers import llm_answers
from modeling.critic import data_sources

HELDOUT_SALT = "loupe-critic-heldout"
#: Judgements of these items may train the critic (the same as scaling's: no training answers).
USABLE_PURPOSES = (WorkItem.Purpose.WORK, WorkItem.Purpose.GOLD)
USABLE_KINDS = (TaskKind.PAIR, TaskKind.RATING, TaskKind.PATHWAY, TaskKind.DESCRIPTION)
#: Fewer held-out images than this and no metric would mean anything: the run fails with a message.
MIN_HELDOUT_IMAGES = 3
RATING_RANGE = (1.0, 5.0)
MOS_RANGE = (0.0, 100.0)
ANSWER_TEXTS = ("template", "llm")
LEVEL_BOUNDS = ("observed", "scale")
ABSOLUTE_SCORES = ("per_source", "joint")
ANSWER_FORMATS = ("levels", "numbers", "both")


class CriticDataError(ValueError):
    """The project's data cannot make a training run (too few images, nothing to learn from)."""


@dataclass(frozen=True)
class CriticDataSettings:
    """Which data trains a version and in what proportions (stored on the version as `training_settings["data"]`).

    Attributes
    ----------
    heldout_fraction : float
        Share of images held out for evaluation, chosen by content hash (0 < f < 1).
    seed : int
        Seeds paraphrases, pair order and mixing.
    curriculum : bool
        Train in paper 000's stages (relativity, then scoring, then descriptions) in that order;
        otherwise one shuffled mixture in the proportions of `mix`.
    mix : dict
        Task -> weight for the single mixture.
    n_conversations : int or None
        Size of the single mixture; None: every conversation of the mixed tasks once.
    answer_text : str
        "template": fixed answers. "llm": also the answers the LLM wrote from the data-construction
        prompts (paper 000, Fig. 3-4; cached as ConstructedText by "Write answers with the LLM"):
        descriptions from scores, authenticity sentences, MOS-pair sentences, paraphrased scoring
        questions; inputs without an accepted text fall back to the fixed answers and are counted
        (modeling.assist.construction).
    groups : dict or None
        Paper 001's data mixing (Algorithm 1): group -> ratio, groups "assessment" (D1: scoring,
        relativity, numeric, authenticity), "perception" (D2: descriptions, comparison reasoning, VQA
        items) and "general" (D3); the paper's D1:D2:D3 is 1 : 2.5 : 1.04 (``QSIT_GROUP_RATIOS``).
        Set, it replaces `curriculum` and `mix`; the built set's shares are recorded on the version.
    perception : bool
        Accepted VQA items and conversations from pathway feedback train as "perception" (paper 001, §III-B4/5).
    general_data : str
        A LLaVA-style JSON file under LOUPE_GENERAL_DATA_DIR (paper 001's D3), "upload:<id>" for a zip uploaded
        on the Critic page (modeling/critic/general_uploads.py), "" for none.
    level_bounds : str
        Eq. 1 of paper 001: "observed" (the paper's: each source's lowest and highest score) or "scale"
        (the scale's ends, 0-100 for MOS and 1-5 for ratings).
    scoring_system_prompt : bool
        Paper 001's "Assume you are an image quality evaluator." before scoring conversations (and the scorer's prompt).
    absolute_scores : str
        "per_source" (paper 000, Table 5: levels within each source, relativity within each source's pairs)
        or "joint" (one scale over every source's MOS).
    answer_format : str
        "levels" (Q-SiT's words), "numbers" (VisualCritic's MOS and attribute numbers instead of levels for
        images with a MOS) or "both".
    brief_answers : bool
        DepictQA's brief answers (paper 002, Task 2) beside each chosen comparison's reasoning.
    """

    heldout_fraction: float = 0.2
    seed: int = 0
    curriculum: bool = True
    mix: dict = field(default_factory=lambda: {"scoring": 0.5, "relativity": 0.3, "description": 0.1, "comparison_reasoning": 0.05, "authenticity": 0.05})
    n_conversations: int | None = None
    answer_text: str = "template"
    groups: dict | None = None
    perception: bool = True
    general_data: str = ""
    level_bounds: str = "observed"
    scoring_system_prompt: bool = True
    absolute_scores: str = "per_source"
    answer_format: str = "levels"
    brief_answers: bool = False

    def __post_init__(self):
        if self.answer_text not in ANSWER_TEXTS:
            raise ValueError(f"answer_text must be one of {ANSWER_TEXTS}")
        for name, allowed in (("level_bounds", LEVEL_BOUNDS), ("absolute_scores", ABSOLUTE_SCORES), ("answer_format", ANSWER_FORMATS)):
            if getattr(self, name) not in allowed:
                raise ValueError(f"{name} must be one of {allowed}")
        if self.groups is not None:
            unknown = set(self.groups) - set(kinds.GROUP_TASKS)
            if unknown:
                raise ValueError(f"unknown groups in groups: {sorted(unknown)}; expected some of {sorted(kinds.GROUP_TASKS)}")
            if not self.groups or any(not (isinstance(w, (int, float)) and w >= 0 and math.isfinite(w)) for w in self.groups.values()) \
                    or sum(self.groups.values()) <= 0:
                raise ValueError("group ratios must be finite, >= 0 and not all 0")
        if not isinstance(self.general_data, str) or len(self.general_data) > 500:
            raise ValueError("general_data must be a file name under the general-data folder")
        if not 0.0 < self.heldout_fraction < 1.0:
            raise ValueError("heldout_fraction must be in (0, 1)")
        if self.n_conversations is not None and self.n_conversations <= 0:
            raise ValueError("n_conversations must be > 0")
        unknown = set(self.mix) - set(conv.TASKS)
        if unknown:
            raise ValueError(f"unknown tasks in mix: {sorted(unknown)}")
        if not self.mix or any(not (w >= 0 and math.isfinite(w)) for w in self.mix.values()) or sum(self.mix.values()) <= 0:
            raise ValueError("mix weights must be finite, >= 0 and not all 0")

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass
class TrainingSet:
    """The conversations of one run and what they came from."""

    conversations: list[conv.Conversation]
    judgement_ids: np.ndarray  # [n_used] int64, sorted
    training_image_ids: np.ndarray  # [n_train] int64, sorted
    heldout_image_ids: np.ndarray  # [n_heldout] int64, sorted
    counts: dict[str, int]  # conversations per task
    image_names: dict[str, str]  # key (str(image id)) -> storage name of the file
    answer_text: dict = field(default_factory=dict)  # answer_text "llm": LLM answers used / fallen back, per purpose
    image_files: dict[str, str] = field(default_factory=dict)  # key -> absolute path, for general-data images (not in storage)
    composition: dict = field(default_factory=dict)  # what went in: per task and source, mix configured vs actual, notes


def scorer_config(training_settings: dict) -> conv.ConversationConfig:
    """The prompt the scorer must ask a version with: its scoring system prefix as it was trained.

    Versions stored before the option existed trained without the prefix, so a missing key means off.
    """
    data = (training_settings or {}).get("data") or {}
    return conv.ConversationConfig(scoring_system_prompt=bool(data.get("scoring_system_prompt", False)))


def image_is_heldout(content_hash: str, *, fraction: float) -> bool:
    """Whether an image is held out: the first 8 bytes of SHA-256(salt:hash) as a uniform number below `fraction`."""
    digest = hashlib.sha256(f"{HELDOUT_SALT}:{content_hash}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2.0**64 < fraction


def heldout_split(*, project: Project, fraction: float) -> tuple[np.ndarray, np.ndarray]:
    """(training image ids, held-out image ids), each sorted."""
    rows = Image.objects.filter(project=project).order_by("id").values_list("id", "content_hash")
    train, heldout = [], []
    for image_id, content_hash in rows:
        (heldout if image_is_heldout(content_hash, fraction=fraction) else train).append(image_id)
    return np.asarray(train, dtype=np.int64), np.asarray(heldout, dtype=np.int64)


def judgements_usable(*, project: Project) -> QuerySet[Judgement]:
    """The project's judgements that may train the critic (before the held-out images are taken out)."""
    return Judgement.objects.filter(
        project=project, excluded=False, is_repeat=False, purpose__in=USABLE_PURPOSES, kind__in=USABLE_KINDS,
    )


def judgement_last_id(*, project: Project) -> int:
    return Judgement.objects.filter(project=project).aggregate(last=Max("id"))["last"] or 0


def judgement_ids_digest(ids: np.ndarray) -> str:
    """SHA-256 of sorted judgement ids as little-endian int64: the identity of a training set's labels."""
    return hashlib.sha256(np.ascontiguousarray(np.sort(ids), dtype="<i8").tobytes()).hexdigest()


def judgement_ids_save(path, ids: np.ndarray) -> str:
    """Write sorted ids as compressed deltas (a million ids take a few hundred kB); returns their digest."""
    ids = np.sort(np.asarray(ids, dtype=np.int64))
    np.savez_compressed(path, deltas=np.diff(ids, prepend=0))
    return judgement_ids_digest(ids)


def judgement_ids_load(path) -> np.ndarray:
    with np.load(path) as data:
        return np.cumsum(data["deltas"]).astype(np.int64)


def training_set_build(
    *, project: Project, last_judgement_id: int, data: CriticDataSettings, within: QuerySet[Judgement] | None = None,
) -> TrainingSet:
    """Every conversation one run trains on, from judgements up to `last_judgement_id` and image metadata.

    Relativity (paper 000): pair judgements of two training images from the same source dataset (ties
    carry no order and are left out), and random same-source pairs ordered by MOS. Scoring syllabus
    (paper 001, eq. 1): one conversation per training image, from its MOS (0-100) if it has one, else
    the mean level of its ratings and pathway levels (1-5), else its Thurstone score from the training
    comparisons alone; levels between each source's observed lowest and highest score (or the scale's
    ends, `level_bounds`); MOS and attributes as numbers with `answer_format`. Descriptions: pathway text
    and saved questionnaire paragraphs, a full-reference image with its reference; pair paragraphs become
    comparison reasoning (paper 002's tags), with brief answers as an option. Authenticity from the
    images' labels when both classes are there. Perception: reviewed VQA items (paper 001). General: a
    local LLaVA-style file (paper 001's D3). Then the curriculum, the task mix or Algorithm 1's groups.

    `within`, if given, narrows the judgements further (a dataset export's filters); the rules above still apply.

    Raises
    ------
    CriticDataError
        Fewer than MIN_HELDOUT_IMAGES held-out images, nothing to train on, or unusable general data.
    """
    train_ids, heldout_ids = heldout_split(project=project, fraction=data.heldout_fraction)
    if heldout_ids.size < MIN_HELDOUT_IMAGES:
        raise CriticDataError(
            f"Only {heldout_ids.size} of the project's {train_ids.size + heldout_ids.size} images fall in the held-out "
            f"split ({data.heldout_fraction:.0%}); at least {MIN_HELDOUT_IMAGES} are needed to evaluate a version. Import more images."
        )
    rng = np.random.default_rng(data.seed)
    training = set(train_ids.tolist())
    images = {
        row[0]: row
        for row in Image.objects.filter(project=project, id__in=train_ids.tolist()).values_list(
            "id", "file", "source_dataset", "reference_id", "mos_normalised", "authenticity", "attributes",
        )
    }
    usable = judgements_usable(project=project).filter(id__lte=last_judgement_id)
    if within is not None:  # an export's filters (exports/filters.py): only these judgements, the same rules
        usable = usable.filter(id__in=within.values("id"))
    used: list[int] = []
    notes: list[str] = []
    pools: dict[str, list[conv.Conversation]] = {task: [] for task in conv.TASKS}

    # Comparisons: relativity conversations, and a Thurstone fit for images with nothing better.
    pair_rows = [
        row for row in usable.filter(kind=TaskKind.PAIR).exclude(choice="").values_list("id", "item__image_id", "item__image_b_id", "choice")
        if row[1] in training and row[2] in training
    ]
    used += [row[0] for row in pair_rows]
    same_source = [
        conv.PairJudgement(str(a), str(b), choice) for _, a, b, choice in pair_rows
        if choice in ("a", "b") and images[a][2] == images[b][2]
    ]
    pools["relativity"] += conv.relativity_from_judgements(same_source, rng=rng)
    compared = _comparison_scores(pair_rows)

    levels: dict[int, list[float]] = {}
    for judgement_id, image_id, level in usable.filter(kind__in=(TaskKind.RATING, TaskKind.PATHWAY), level__isnull=False).values_list(
        "id", "item__image_id", "level",
    ):
        if image_id in training:
            levels.setdefault(image_id, []).append(float(level))
            used.append(judgement_id)

    scored, mos_scored = [], []
    for image_id in train_ids.tolist():
        source, mos = images[image_id][2], images[image_id][4]
        if mos is not None:
            item = conv.ScoredImage(str(image_id), float(mos), source=f"mos:{source}")
            scored.append(item)
            mos_scored.append(item)
        elif image_id in levels:
            scored.append(conv.ScoredImage(str(image_id), float(np.mean(levels[image_id])), source="ratings"))
        elif image_id in compared:
            scored.append(conv.ScoredImage(str(image_id), compared[image_id], source="comparisons"))
    comparison_scores = [item.score for item in scored if item.source == "comparisons"]
    if comparison_scores and max(comparison_scores) - min(comparison_scores) <= 0:
        scored = [item for item in scored if item.source != "comparisons"]  # one value carries no level
    labels = [
        conv.AuthenticityLabel(str(image_id), row[5] == "photographic") for image_id, row in images.items() if row[5]
    ]
    numeric = data_sources.numeric_scores(images) if data.answer_format != "levels" else []
    found = None
    if data.answer_text == "llm":  # paper 000's data-construction answers, written ahead by the LLM
        mos = {image_id: float(row[4]) for image_id, row in images.items() if row[4] is not None}
        found = llm_answers(project=project, scored=scored, labels=labels, training=training, mos=mos, numeric=numeric)
    config = conv.ConversationConfig(scoring_system_prompt=data.scoring_system_prompt)
    if found is not None and found.questions:  # LLM paraphrases join the scoring question pool
        config = conv.ConversationConfig(scoring_system_prompt=data.scoring_system_prompt, extra_questions=(("scoring", found.questions),))
    if numeric:
        pools["numeric"] += kinds.numeric_conversations(numeric, rng=rng, answers=found.numeric if found is not None else None)
    levelled = [item for item in scored if not (data.answer_format == "numbers" and item.source.startswith("mos:"))]
    if data.absolute_scores == "joint":  # one scale over all sources' MOS (paper 000, Table 5's worse setup)
        levelled = [conv.ScoredImage(i.image, i.score, "mos:*") if i.source.startswith("mos:") else i for i in levelled]
    pools["scoring"] += conv.scoring_conversations(levelled, rng=rng, ranges=_level_ranges(levelled, data), config=config)
    if any(n >= 2 for n in Counter(item.source for item in mos_scored).values()):
        pools["relativity"] += conv.relativity_from_scores(mos_scored, n_pairs=len(mos_scored), rng=rng)

    # Text: pathway feedback, and questionnaire paragraphs the annotators revised and saved.
    def reference_of(image_id):  # a full-reference image's reference, when it is a training image too
        reference = images[image_id][3]
        return str(reference) if reference in training else None

    descriptions, reasoning = [], []
    for judgement_id, image_id, answer in usable.filter(kind=TaskKind.PATHWAY).values_list("id", "item__image_id", "answer"):
        text = _pathway_text(answer)
        if image_id in training and text:
            descriptions.append(conv.ImageDescription(str(image_id), text, reference=reference_of(image_id)))
            used.append(judgement_id)
    revisions = TextRevision.objects.filter(
        project=project, status=TextRevision.Status.SAVED, judgement__in=usable,
    ).exclude(final_text="").values_list(
        "judgement_id", "judgement__kind", "judgement__item__image_id", "judgement__item__image_b_id", "final_text", "judgement__choice",
    )
    for judgement_id, kind, image_id, image_b_id, text, choice in revisions:
        if image_id not in training or (image_b_id is not None and image_b_id not in training):
            continue
        if kind == TaskKind.PAIR and image_b_id is not None:
            reasoning.append(conv.ComparisonReasoning(
                str(image_id), str(image_b_id), text, reference=reference_of(image_id), winner=choice if choice in ("a", "b") else None,
            ))
        else:
            descriptions.append(conv.ImageDescription(str(image_id), text, reference=reference_of(image_id)))
        used.append(judgement_id)
    answer_text: dict = {}
    if found is not None:
        descriptions += found.descriptions
        labels = found.authenticity
        pools["relativity"] += conv.relativity_from_sentences(found.pairs, rng=rng)
        answer_text = found.report()
    pools["description"] += conv.description_conversations(descriptions, rng=rng)
    pools["comparison_reasoning"] += conv.comparison_reasoning_conversations(reasoning, rng=rng)
    if data.brief_answers:
        pools["comparison_reasoning"] += kinds.brief_comparison_conversations(reasoning, rng=rng)
    classes = {label.is_photograph for label in labels}
    if len(classes) == 1:
        notes.append(f"No authenticity conversations: every labelled training image is {'a photograph' if True in classes else 'AI-generated'}, "
                     "so there is nothing to tell apart.")
    else:
        pools["authenticity"] += conv.authenticity_conversations(labels, rng=rng)
    if data.perception:
        examples = data_sources.perception_examples(project=project, training=training, last_judgement_id=last_judgement_id)
        pools["perception"] += kinds.perception_conversations(examples, rng=rng)
    image_files: dict[str, str] = {}
    if data.general_data:
        try:
            general, image_files = data_sources.general_data_load(data.general_data, project=project)
        except data_sources.GeneralDataUnusable as error:
            raise CriticDataError(str(error)) from error
        pools["general"] += general

    conversations, mix = _arrange(pools, data=data, rng=rng)
    if not conversations:
        raise CriticDataError(
            "Nothing to train on yet: no usable comparisons, ratings, descriptions or MOS on the training images "
            "(excluded judgements and held-out images are left out)."
        )
    keys = {key for c in conversations for key in c.images}
    names = {str(row[0]): row[1] for row in images.values() if str(row[0]) in keys}
    counts: dict[str, int] = {}
    for c in conversations:
        counts[c.task] = counts.get(c.task, 0) + 1
    sources = {str(image_id): row[2] or "(no source)" for image_id, row in images.items()}
    return TrainingSet(
        conversations=conversations,
        judgement_ids=np.unique(np.asarray(used, dtype=np.int64)),
        training_image_ids=train_ids,
        heldout_image_ids=heldout_ids,
        counts=counts,
        image_names=names,
        answer_text=answer_text,
        image_files={key: path for key, path in image_files.items() if key in keys},
        composition=composition_summary(conversations, sources=sources, mix=mix, notes=notes, pools=pools),
    )


def _level_ranges(scored: list[conv.ScoredImage], data: CriticDataSettings) -> dict[str, tuple[float, float]]:
    """Eq. 1's (low, high) per source: the scale's ends, or (default) left to the observed lowest and highest.

    A source whose scores are all equal has no observed range and falls back to its scale.
    """
    scale = {source: (RATING_RANGE if source == "ratings" else MOS_RANGE) for source in {i.source for i in scored} if source != "comparisons"}
    if data.level_bounds == "scale":
        return scale
    observed: dict[str, list[float]] = {}
    for item in scored:
        observed.setdefault(item.source, []).append(item.score)
    return {source: scale[source] for source, values in observed.items() if max(values) <= min(values) and source in scale}


def composition_summary(conversations, *, sources: dict[str, str], mix: dict, notes: list[str], pools: dict) -> dict:
    """What went into a training set: conversations per task and source, the mix, distinct images, notes."""
    by_task_source: dict[str, dict[str, int]] = {}
    for c in conversations:
        source = "general data" if c.task == "general" else (sources.get(c.images[0], "(no source)") if c.images else "(no image)")
        row = by_task_source.setdefault(c.task, {})
        row[source] = row.get(source, 0) + 1
    return {
        "by_task_source": by_task_source,
        "mix": mix,
        "distinct_images": len({key for c in conversations for key in c.images}),
        "available": {task: len(pool) for task, pool in pools.items() if pool},
        "notes": notes,
    }


def _comparison_scores(pair_rows) -> dict[int, float]:
    """Thurstone MAP scores (paper 004, eq. 2) of the images in `pair_rows`, from those comparisons only."""
    from evaluation.scaling import thurstone_map_pairwise

    if not pair_rows:
        return {}
    ids = np.unique(np.asarray([(a, b) for _, a, b, _ in pair_rows], dtype=np.int64))
    a = np.searchsorted(ids, [row[1] for row in pair_rows])
    b = np.searchsorted(ids, [row[2] for row in pair_rows])
    choice = np.asarray([row[3] for row in pair_rows])
    b_won = choice == "b"
    result = thurstone_map_pairwise(ids.size, np.where(b_won, b, a), np.where(b_won, a, b), ties=choice == "tie")
    return {int(image_id): float(score) for image_id, score in zip(ids, np.asarray(result.scores))}


def _pathway_text(answer) -> str:
    if not isinstance(answer, dict):
        return ""
    parts = [str(answer.get(key) or "").strip() for key in ("description", "conclusion")]
    return " ".join(part for part in parts if part)


def _arrange(pools, *, data: CriticDataSettings, rng) -> tuple[list[conv.Conversation], dict]:
    """The run's conversations in training order, and the mix configured vs built.

    Algorithm 1's groups (paper 001) when `groups` is set; else curriculum stages one after another
    (paper 000); else one mixture of tasks.
    """
    if not any(pools.values()):
        return [], {}
    if data.groups:
        if not any(pools.get(task) for group, weight in data.groups.items() if weight > 0 for task in kinds.GROUP_TASKS[group]):
            return [], {}
        conversations, composition = kinds.mix_groups(pools, ratios=data.groups, n_conversations=data.n_conversations, rng=rng)
        return conversations, {"by": "groups", **composition}
    if data.curriculum:
        stages = conv.curriculum_conversations(pools, stages=conv.DEFAULT_CURRICULUM, rng=rng)
        conversations = [c for _, stage in stages for c in stage]
        return conversations, {"by": "curriculum", "stages": {name: len(stage) for name, stage in stages}}
    if not any(pools.get(task) for task, weight in data.mix.items() if weight > 0):
        return [], {}
    conversations = conv.mix_conversations(pools, mix=data.mix, n_conversations=data.n_conversations, rng=rng)
    total = sum(w for t, w in data.mix.items() if w > 0)
    actual = Counter(c.task for c in conversations)
    return conversations, {
        "by": "tasks",
        "configured": {t: round(w / total, 4) for t, w in data.mix.items() if w > 0},
        "actual": {t: round(actual[t] / len(conversations), 4) for t, w in data.mix.items() if w > 0},
        "missing": sorted(t for t, w in data.mix.items() if w > 0 and not pools.get(t)),
    }
