"""The export formats, one registry: each format is a streaming writer of one file from a project's rows.

Add a format with one `format_register(ExportFormat(...))` call (a study app registers its results the same way):
a writer takes an `ExportContext` and a text stream, writes its rows as it reads them (querysets iterated in chunks,
never loaded whole) and returns the number of rows it wrote. Aggregating formats keep one image's or one pair's
counts at a time, so memory stays flat in the number of judgements.
"""
from __future__ import annotations

import csv
import json
import math
from typing import TextIO

from scipy import stats

from annotation.spreadsheet import csv_safe
from annotation.vocabulary import LEVEL_LABELS, TaskKind
from exports.registry import (  # noqa: F401 -- re-exported: callers import the registry from here
    DEFAULT_CHUNK_SIZE,
    FORMATS,
    ExportContext,
    ExportDataError,
    ExportFormat,
    format_register,
    formats_bundled,
)
from exports.trainer_formats import register_trainer_formats

RATING_MIN, RATING_MAX = 1.0, 5.0


def _number(value: float | None, digits: int = 6) -> str:
    return "" if value is None or not math.isfinite(value) else f"{value:.{digits}f}"


# ----------------------------------------------------------------------------- text: pathway and questionnaires


def write_pathway(ctx: ExportContext, out: TextIO) -> int:
    """Pathway feedback, one JSON object a line: image, feedback text, annotator, conclusion level."""
    rows = ctx.judgements.filter(kind=TaskKind.PATHWAY).order_by("id").values_list(
        "id", "item__image_id", "item__image__file", "item__image__original_name", "annotator_id", "annotator__username",
        "answer", "level", "submitted_at", "is_repeat",
    )
    count = 0
    for judgement_id, image_id, file, name, annotator_id, username, answer, level, submitted_at, is_repeat in rows.iterator(chunk_size=ctx.chunk_size):
        answer = answer if isinstance(answer, dict) else {}
        out.write(json.dumps({
            "judgement_id": judgement_id, "image_id": image_id, "image": file, "original_name": name,
            "annotator_id": annotator_id, "annotator": username,
            "description": answer.get("description", ""), "conclusion": answer.get("conclusion", ""),
            "level": level, "level_label": LEVEL_LABELS.get(level, ""),
            "is_repeat": is_repeat, "submitted_at": submitted_at.isoformat(),
        }, ensure_ascii=False) + "\n")
        count += 1
        ctx.tick()
    return count


REVISION_FIELDS = (
    "status", "prompt_name", "prompt_version", "model", "draft", "draft_problems", "final_text", "edit_distance",
    "accepted_unchanged", "drafted_at", "saved_at",
)


def write_questionnaires(ctx: ExportContext, out: TextIO) -> int:
    """Description and comparison-reasoning questionnaires, one JSON object a line, with the LLM draft and revision.

    Answers are in the item's terms ("a" is `image`, "b" is `image_b`); `swap` says B was shown on the left, which
    is how the paragraph names them ("Image A" is the left one). `revision` is null when no paragraph was drafted.
    """
    from annotation.models import TextRevision

    rows = ctx.judgements.filter(kind__in=(TaskKind.DESCRIPTION, TaskKind.PAIR)).order_by("id").values_list(
        "id", "kind", "item__image_id", "item__image__file", "item__image_b_id", "item__image_b__file",
        "annotator_id", "annotator__username", "answer", "choice", "swap", "submitted_at", "is_repeat", named=True,
    )
    count = 0
    for chunk in _chunks(rows.iterator(chunk_size=ctx.chunk_size), ctx.chunk_size):
        chunk = [row for row in chunk if row.kind == TaskKind.DESCRIPTION or (isinstance(row.answer, dict) and row.answer.get("reasoning"))]
        revisions = {
            row["judgement_id"]: row
            for row in TextRevision.objects.filter(judgement_id__in=[row.id for row in chunk]).values("judgement_id", *REVISION_FIELDS)
        }
        for judgement_id, kind, image_id, file, image_b_id, file_b, annotator_id, username, answer, choice, swap, submitted_at, is_repeat in chunk:
            revision = revisions.get(judgement_id)
            if revision is not None:
                revision = {key: (value.isoformat() if hasattr(value, "isoformat") else value) for key, value in revision.items() if key != "judgement_id"}
            record = {
                "judgement_id": judgement_id, "kind": "description" if kind == TaskKind.DESCRIPTION else "comparison_reasoning",
                "image_id": image_id, "image": file, "annotator_id": annotator_id, "annotator": username,
                "answer": answer, "revision": revision, "is_repeat": is_repeat, "submitted_at": submitted_at.isoformat(),
            }
            if kind == TaskKind.PAIR:
                record.update({"image_b_id": image_b_id, "image_b": file_b, "choice": choice, "swap": swap})
            out.write(json.dumps(record, ensure_ascii=False) + "\n")
            count += 1
            ctx.tick()
    return count


def _chunks(iterable, size: int):
    chunk = []
    for item in iterable:
        chunk.append(item)
        if len(chunk) == size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


# ----------------------------------------------------------------------------- MOS from ratings

MOS_HEADER = [
    "image_id", "image", "original_name", "n", "mos", "std", "ci95_low", "ci95_high",
    "mos_100", "std_100", "ci95_low_100", "ci95_high_100", "ci95_clipped", "small_n",
]
#: Fewer ratings than the 15 observers ITU-T P.910 and ITU-R BT.500 ask for: the row's `small_n` is 1, so
#: its mean and interval are read with care (with two ratings Student's t is 12.7 and the interval is mostly the scale).
MOS_SMALL_N = 15


def mos_summary(levels: list[float]) -> tuple[int, float, float | None, float | None, float | None, bool]:
    """(n, mean, sample std, 95% interval low, high, whether the interval was clipped) of one image's ratings.

    The interval is mean ± t(0.975, n-1) · s / sqrt(n) (Student's t, since n is small), intersected with the
    rating scale [RATING_MIN, RATING_MAX]: the mean of ratings on the scale cannot lie outside it, so the part of
    the interval beyond it holds no possible value (with n = 2 the t interval is mean ± 12.7 · s / √2). The last
    value says the interval was cut at the scale's ends. std and interval are None for a single rating.
    """
    n = len(levels)
    mean = sum(levels) / n
    if n < 2:
        return n, mean, None, None, None, False
    std = math.sqrt(sum((x - mean) ** 2 for x in levels) / (n - 1))
    half = float(stats.t.ppf(0.975, n - 1)) * std / math.sqrt(n)
    low, high = max(mean - half, float(RATING_MIN)), min(mean + half, float(RATING_MAX))
    return n, mean, std, low, high, (low, high) != (mean - half, mean + half)


def _to_100(value: float | None) -> float | None:
    return None if value is None else (value - RATING_MIN) / (RATING_MAX - RATING_MIN) * 100.0


def write_mos(ctx: ExportContext, out: TextIO) -> int:
    """Mean opinion score per rated image: raw 1-5 scale and 0-100 ((x - 1) / 4 · 100), repeats left out; the
    95% interval stays on the scale (`ci95_clipped` says it was cut) and `small_n` flags fewer than 15 ratings."""
    writer = csv.writer(out)
    writer.writerow(MOS_HEADER)
    rows = ctx.judgements.filter(kind=TaskKind.RATING, is_repeat=False, level__isnull=False).order_by("item__image_id", "id").values_list(
        "item__image_id", "item__image__file", "item__image__original_name", "level",
    )
    count, current, levels = 0, None, []

    def flush():
        n, mean, std, low, high, clipped = mos_summary(levels)
        writer.writerow([
            current[0], current[1], csv_safe(current[2]), n, _number(mean), _number(std), _number(low), _number(high),
            _number(_to_100(mean)), _number(None if std is None else std * 100.0 / (RATING_MAX - RATING_MIN)),
            _number(_to_100(low)), _number(_to_100(high)), int(clipped), int(n < MOS_SMALL_N),
        ])

    for image_id, file, name, level in rows.iterator(chunk_size=ctx.chunk_size):
        if current is not None and image_id != current[0]:
            flush()
            count += 1
            levels = []
        current = (image_id, file, name)
        levels.append(float(level))
        ctx.tick()
    if current is not None:
        flush()
        count += 1
    return count


# ----------------------------------------------------------------------------- pairs

PAIRS_HEADER = [
    "judgement_id", "item_id", "image_a_id", "image_b_id", "image_a", "image_b", "choice", "winner_id",
    "b_shown_left", "annotator_id", "annotator", "purpose", "is_repeat", "excluded", "submitted_at", "duration_ms",
]


def _pair_rows(ctx: ExportContext):
    return ctx.judgements.filter(kind=TaskKind.PAIR).exclude(choice="").order_by("id")


def write_pairs(ctx: ExportContext, out: TextIO) -> int:
    """Every pair judgement, one CSV row: the item's A and B, the choice (a, b or tie) in the item's terms."""
    writer = csv.writer(out)
    writer.writerow(PAIRS_HEADER)
    rows = _pair_rows(ctx).values_list(
        "id", "item_id", "item__image_id", "item__image_b_id", "item__image__file", "item__image_b__file", "choice",
        "swap", "annotator_id", "annotator__username", "purpose", "is_repeat", "excluded", "submitted_at", "duration_ms",
    )
    count = 0
    for row in rows.iterator(chunk_size=ctx.chunk_size):
        (judgement_id, item_id, a, b, file_a, file_b, choice, swap, annotator_id, username, purpose, is_repeat,
         excluded, submitted_at, duration_ms) = row
        winner = a if choice == "a" else b if choice == "b" else ""
        writer.writerow([
            judgement_id, item_id, a, b, file_a, file_b, choice, winner, int(swap), annotator_id, csv_safe(username),
            purpose, int(is_repeat), int(excluded), submitted_at.isoformat(), "" if duration_ms is None else duration_ms,
        ])
        count += 1
        ctx.tick()
    return count


def write_pair_matrix(ctx: ExportContext, out: TextIO) -> int:
    """Pair counts as a square CSV matrix: cell (row i, column j) is how often i was preferred to j.

    The header row is `image_id` then the compared images' ids; a tie adds 0.5 to both cells, so the matrix sums
    to the number of pair judgements (repeats left out) — the input pwcmp and `evaluation.scaling` take.
    """
    counts: dict[tuple[int, int], float] = {}
    for a, b, choice in _pair_rows(ctx).filter(is_repeat=False).values_list("item__image_id", "item__image_b_id", "choice").iterator(chunk_size=ctx.chunk_size):
        for winner, loser, weight in (((a, b, 1.0),) if choice == "a" else ((b, a, 1.0),) if choice == "b" else ((a, b, 0.5), (b, a, 0.5))):
            counts[(winner, loser)] = counts.get((winner, loser), 0.0) + weight
        ctx.tick()
    ids = sorted({image for pair in counts for image in pair})
    writer = csv.writer(out)
    writer.writerow(["image_id", *ids])
    column = {image_id: index for index, image_id in enumerate(ids)}
    by_row: dict[int, list[tuple[int, float]]] = {}
    for (winner, loser), value in counts.items():
        by_row.setdefault(winner, []).append((column[loser], value))
    for image_id in ids:
        cells = ["0"] * len(ids)
        for index, value in by_row.get(image_id, ()):
            cells[index] = _count(value)
        writer.writerow([image_id, *cells])
    return len(ids)


def _count(value: float) -> str:
    return str(int(value)) if value == int(value) else f"{value:g}"


# ----------------------------------------------------------------------------- Thurstone scores

SCORES_HEADER = [
    "image_id", "image", "original_name", "score", "variance", "ci95_low", "ci95_high", "score_0_100",
    "n_comparisons", "n_ratings", "scaling_run_id",
]


def write_scores(ctx: ExportContext, out: TextIO) -> int:
    """The current Thurstone scores (the latest finished scaling run) with their 95% intervals.

    Scores are fitted on all of the project's usable judgements, so the judgement filters do not apply here; with
    no finished run the file holds the header only (and the manifest says so).
    """
    from evaluation.models import ItemScore
    from evaluation.selectors import scaling_run_current, scores_provenance

    writer = csv.writer(out)
    writer.writerow(SCORES_HEADER)
    run = scaling_run_current(project=ctx.project)
    if run is None:
        ctx.note("scores", "No finished scaling run yet: recompute the scores first.")
        return 0
    # Which scores these are (human-only), and whether a critic's prior chose the pairs people were asked about.
    provenance = " ".join(scores_provenance(project=ctx.project))
    ctx.note("scores", f"Scaling run #{run.pk}, fitted on all usable judgements (export filters do not apply). {provenance}")
    rows = ItemScore.objects.filter(run=run).order_by("-score", "image_id").values_list(
        "image_id", "image__file", "image__original_name", "score", "variance", "ci_low", "ci_high", "score_0_100",
        "n_comparisons", "n_ratings",
    )
    count = 0
    for image_id, file, name, score, variance, low, high, shown, n_comparisons, n_ratings in rows.iterator(chunk_size=ctx.chunk_size):
        writer.writerow([
            image_id, file, csv_safe(name), _number(score), _number(variance), _number(low), _number(high),
            _number(shown, 2), n_comparisons, n_ratings, run.pk,
        ])
        count += 1
        ctx.tick()
    return count


def _count_kind(*kinds):
    return lambda ctx: ctx.judgements.filter(kind__in=kinds).count()


register_trainer_formats(_count_kind(*TaskKind.values))
format_register(ExportFormat("pathway", "pathway.jsonl", "Pathway feedback (JSONL)", "application/jsonl", write_pathway, _count_kind(TaskKind.PATHWAY)))
format_register(ExportFormat("questionnaires", "questionnaires.jsonl", "Questionnaires with drafts and revisions (JSONL)", "application/jsonl", write_questionnaires, _count_kind(TaskKind.DESCRIPTION, TaskKind.PAIR)))
format_register(ExportFormat("mos", "mos.csv", "MOS per image from ratings (CSV)", "text/csv", write_mos, _count_kind(TaskKind.RATING)))
format_register(ExportFormat("pairs", "pairs.csv", "Pairwise judgements (CSV)", "text/csv", write_pairs, _count_kind(TaskKind.PAIR)))
format_register(ExportFormat("pair_matrix", "pair_matrix.csv", "Pairwise count matrix (CSV)", "text/csv", write_pair_matrix, _count_kind(TaskKind.PAIR)))
format_register(ExportFormat("scores", "scores.csv", "Thurstone scores with 95% intervals (CSV)", "text/csv", write_scores, lambda ctx: ctx.project.images.count()))
