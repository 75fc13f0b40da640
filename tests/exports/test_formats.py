"""Each export format written and read back: JSON with json.load, JSONL line by line, CSV with the csv module."""
import csv
import hashlib
import io
import json
import math

import pytest
from scipy import stats

from annotation.vocabulary import TaskKind
from evaluation.services import project_scale
from exports.filters import ExportFilters
from exports.formats import mos_summary
from exports.writing import export_write
from modeling.critic.data import CriticDataSettings, judgement_last_id, training_set_build
from modeling.llava_format import to_llava
from tests.exports.data import images, judge, pair_item, rating_item, revision
from tests.factories import AnnotatorFactory, ImageFactory, MembershipFactory

PATHWAY_ANSWER = {
    "description": "The left part is underexposed and the sky shows banding along its edges.",
    "conclusion": "Overall the quality is fair.", "level": 3,
}
DESCRIPTION_ANSWER = {
    "texture_category": "bricks", "texture_condition": "clear", "overall": "mild",
    "distortions": {"brightness": "undistorted", "color": "mild", "noise": "undistorted", "artifacts": "undistorted", "blurriness": "mild"},
}


@pytest.fixture
def annotators(project):
    return [MembershipFactory(project=project, user=AnnotatorFactory()).user for _ in range(3)]


def _export(project, fmt, tmp_path, **filters):
    path = tmp_path / f"out-{fmt}"
    result = export_write(project=project, formats=[fmt], filters=ExportFilters(**filters), include_images=False, path=path)
    return path.read_text(encoding="utf-8"), result


def _csv(text):
    return list(csv.reader(io.StringIO(text)))


@pytest.mark.django_db
def test_mos_csv_matches_hand_computed_mean_std_and_interval(project, annotators, tmp_path):
    """Ratings 2, 4, 4 give mean 10/3, s = 1.1547, CI 10/3 ± 4.3027·s/√3 cut to the 1-5 scale (flagged, and n < 15
    flagged small); 0-100 is (x-1)/4·100; a single rating has no std."""
    first, second = images(project, 2)
    item = rating_item(project, first)
    for annotator, level in zip(annotators, (2, 4, 4)):
        judge(item, annotator, level=level)
    judge(rating_item(project, second), annotators[0], level=5)
    judge(item, annotators[0], level=1, is_repeat=True)  # repeats never count twice
    text, result = _export(project, "mos", tmp_path)
    rows = list(csv.DictReader(io.StringIO(text)))
    assert result.row_counts == {"mos": 2} and len(rows) == 2
    row = rows[0]
    assert int(row["image_id"]) == first.pk and int(row["n"]) == 3
    mean, std = 10 / 3, math.sqrt(((2 - 10 / 3) ** 2 + 2 * (4 - 10 / 3) ** 2) / 2)
    half = 4.302652729911275 * std / math.sqrt(3)  # t(0.975, 2)
    assert float(row["mos"]) == pytest.approx(mean, abs=1e-6)
    assert float(row["std"]) == pytest.approx(1.154701, abs=1e-6)
    assert mean - half < 1 and mean + half > 5  # Student's t with n = 3 reaches past both ends of the scale
    assert (float(row["ci95_low"]), float(row["ci95_high"]), row["ci95_clipped"], row["small_n"]) == (1.0, 5.0, "1", "1")
    assert float(row["mos_100"]) == pytest.approx((mean - 1) / 4 * 100, abs=1e-6)
    assert float(row["std_100"]) == pytest.approx(std * 25, abs=1e-6)
    assert (float(row["ci95_low_100"]), float(row["ci95_high_100"])) == (0.0, 100.0)
    single = rows[1]
    assert (single["n"], single["mos"], single["mos_100"], single["std"], single["ci95_low"]) == ("1", "5.000000", "100.000000", "", "")


@pytest.mark.django_db
def test_pairs_csv_and_count_matrix_agree_and_sum_to_the_judgements(project, annotators, tmp_path):
    """Pairs CSV lists every judgement with its winner; the matrix (ties 0.5 each way) sums to their number."""
    a, b, c = images(project, 3)
    ab, bc = pair_item(project, a, b), pair_item(project, b, c)
    judge(ab, annotators[0], choice="a")
    judge(ab, annotators[1], choice="b", swap=True)
    judge(ab, annotators[2], choice="a")
    judge(bc, annotators[0], choice="tie")
    judge(bc, annotators[1], choice="b")
    text, result = _export(project, "pairs", tmp_path)
    rows = list(csv.DictReader(io.StringIO(text)))
    assert result.row_counts == {"pairs": 5}
    assert [(int(r["image_a_id"]), int(r["image_b_id"]), r["choice"], r["winner_id"]) for r in rows] == [
        (a.pk, b.pk, "a", str(a.pk)), (a.pk, b.pk, "b", str(b.pk)), (a.pk, b.pk, "a", str(a.pk)),
        (b.pk, c.pk, "tie", ""), (b.pk, c.pk, "b", str(c.pk)),
    ]
    assert rows[1]["b_shown_left"] == "1" and rows[0]["annotator"] == annotators[0].username

    text, result = _export(project, "pair_matrix", tmp_path)
    matrix = _csv(text)
    assert matrix[0] == ["image_id", str(a.pk), str(b.pk), str(c.pk)]
    cells = {row[0]: [float(x) for x in row[1:]] for row in matrix[1:]}
    assert cells[str(a.pk)] == [0, 2, 0] and cells[str(b.pk)] == [1, 0, 0.5] and cells[str(c.pk)] == [0, 1.5, 0]
    assert sum(sum(row) for row in cells.values()) == len(rows)


@pytest.mark.django_db
def test_pathway_jsonl_has_image_feedback_annotator_and_level(project, annotators, tmp_path):
    """Each line is one pathway judgement with its text, annotator and conclusion level."""
    (image,) = images(project, 1)
    item = rating_item(project, image)
    item.kind = TaskKind.PATHWAY
    item.save()
    judgement = judge(item, annotators[0], answer=PATHWAY_ANSWER, level=3)
    text, result = _export(project, "pathway", tmp_path)
    lines = [json.loads(line) for line in text.splitlines()]
    assert result.row_counts == {"pathway": 1}
    assert lines == [{
        "judgement_id": judgement.pk, "image_id": image.pk, "image": image.file.name, "original_name": image.original_name,
        "annotator_id": annotators[0].pk, "annotator": annotators[0].username,
        "description": PATHWAY_ANSWER["description"], "conclusion": PATHWAY_ANSWER["conclusion"],
        "level": 3, "level_label": "Fair", "is_repeat": False, "submitted_at": judgement.submitted_at.isoformat(),
    }]


@pytest.mark.django_db
def test_questionnaires_jsonl_carry_the_answers_drafts_and_revisions(project, annotators, tmp_path):
    """Description and reasoned-pair questionnaires come with their LLM draft and final text; plain pairs do not."""
    a, b = images(project, 2)
    item = rating_item(project, a)
    item.kind = TaskKind.DESCRIPTION
    item.save()
    described = judge(item, annotators[0], answer=DESCRIPTION_ANSWER)
    revision(described, draft="The image has mild colour distortion.", final="The image has mild colour distortion and slight blur.")
    reasoning = {"texture_category": "bricks", "texture_a": "clear", "texture_b": "barely",
                 "distortions": {"brightness": "equal", "color": "equal", "noise": "a_less", "artifacts": "equal", "blurriness": "a_much_less"},
                 "overall": "a_better"}
    pair = pair_item(project, a, b)
    reasoned = judge(pair, annotators[1], answer={"choice": "a", "reasoning": reasoning}, choice="a", swap=True)
    judge(pair, annotators[2], choice="b")  # no reasoning: not a questionnaire
    text, result = _export(project, "questionnaires", tmp_path)
    lines = [json.loads(line) for line in text.splitlines()]
    assert result.row_counts == {"questionnaires": 2}
    assert lines[0]["judgement_id"] == described.pk and lines[0]["kind"] == "description"
    assert lines[0]["answer"] == DESCRIPTION_ANSWER
    assert lines[0]["revision"]["draft"] == "The image has mild colour distortion."
    assert lines[0]["revision"]["final_text"].endswith("slight blur.")
    assert lines[0]["revision"]["model"] == "loupe-template-drafter" and lines[0]["revision"]["status"] == "saved"
    assert lines[1]["judgement_id"] == reasoned.pk and lines[1]["kind"] == "comparison_reasoning"
    assert (lines[1]["image_b_id"], lines[1]["choice"], lines[1]["swap"], lines[1]["revision"]) == (b.pk, "a", True, None)
    assert lines[1]["answer"]["reasoning"] == reasoning


@pytest.mark.django_db
def test_scores_csv_is_the_current_scaling_run_with_intervals(project, annotators, tmp_path):
    """Thurstone scores of the latest finished run, best first, each inside its 95% interval; header only before a run."""
    text, result = _export(project, "scores", tmp_path)
    assert _csv(text) == [_csv(text)[0]] and result.row_counts == {"scores": 0} and "recompute" in result.notes["scores"]
    a, b, c = images(project, 3)
    for x, y in ((a, b), (b, c)):
        item = pair_item(project, x, y)
        for annotator in annotators:
            judge(item, annotator, choice="a")
    run = project_scale(project)
    text, result = _export(project, "scores", tmp_path)
    rows = list(csv.DictReader(io.StringIO(text)))
    assert result.row_counts == {"scores": 3}
    assert [int(row["image_id"]) for row in rows] == [a.pk, b.pk, c.pk]
    for row in rows:
        assert float(row["ci95_low"]) <= float(row["score"]) <= float(row["ci95_high"])
        assert int(row["scaling_run_id"]) == run.pk
    assert "Human-only scores: Thurstone Case V" in result.notes["scores"] and "Critic" not in result.notes["scores"]


@pytest.mark.django_db
def test_scores_export_says_a_critic_prior_chose_the_pairs(project, annotators, tmp_path):
    """When the newest proposed pairs were chosen with a critic's prior, the scores' manifest note names that critic
    and that the scores themselves are from human judgements only."""
    from modeling.critic.models import CriticVersion

    a, b, c = images(project, 3)
    for x, y in ((a, b), (b, c)):
        item = pair_item(project, x, y)
        for annotator in annotators:
            judge(item, annotator, choice="a")
    project_scale(project)
    version = CriticVersion.objects.create(project=project, number=4, status=CriticVersion.Status.ACTIVE, base_model_dir="/x")
    proposed = pair_item(project, a, c)
    proposed.strategy, proposed.critic_version_id = "eig_prior", version.pk  # as the refill records it
    proposed.save(update_fields=["strategy", "critic_version_id"])
    _, result = _export(project, "scores", tmp_path)
    assert "Pairs are chosen with Critic v4's prior; scores shown are from human judgements only." in result.notes["scores"]


def _conversation_project(project, annotators):
    """30 images from one source (some held out by hash), pairs among them, ratings and pathway feedback."""
    # Fixed content hashes: the held-out split is chosen by hash, so it must not depend on the factory's
    # sequence (which moves with the tests that ran before). 5 of these 30 fall in the 20% held-out split.
    pool = [ImageFactory(project=project, source_dataset="demo", content_hash=hashlib.sha256(f"export-{i}".encode()).hexdigest())
            for i in range(30)]
    for i in range(0, 28, 2):
        judge(pair_item(project, pool[i], pool[i + 1]), annotators[i % 3], choice="a" if i % 4 else "b")
    for i, image in enumerate(pool[:20]):
        judge(rating_item(project, image), annotators[i % 3], level=1 + i % 5)
    item = rating_item(project, pool[25])
    item.kind = TaskKind.PATHWAY
    item.save()
    judge(item, annotators[0], answer=PATHWAY_ANSWER, level=3)
    return pool


@pytest.mark.django_db
def test_conversations_json_is_the_critics_own_training_set_in_llava_form(project, annotators, tmp_path):
    """The export loads with json.load and equals the builder's conversations (training_set_build) through to_llava."""
    _conversation_project(project, annotators)
    text, result = _export(project, "conversations", tmp_path)
    records = json.loads(text)
    built = training_set_build(project=project, last_judgement_id=judgement_last_id(project=project), data=CriticDataSettings())
    expected = [to_llava(c, record_id=f"{c.task}-{i}", image_paths=built.image_names) for i, c in enumerate(built.conversations)]
    sources = [record.pop("source") for record in records]  # traced in tests/exports/test_trainer_formats.py
    assert records == expected and result.row_counts == {"conversations": len(expected)}
    assert len(sources) == len(records)
    assert {record["task"] for record in records} >= {"relativity", "scoring"}
    for record in records:
        paths = record["image"] if isinstance(record["image"], list) else [record["image"]]
        assert all(path.startswith("images/") for path in paths)
        assert record["conversations"][0]["value"].count("<image>") == len(paths)
    heldout = {str(i) for i in built.heldout_image_ids.tolist()}
    assert not any(path in heldout for record in records for path in ([record["image"]] if isinstance(record["image"], str) else record["image"]))


@pytest.mark.django_db
def test_conversations_follow_the_export_filters(project, annotators, tmp_path):
    """Only the chosen annotator's judgements feed the conversations (the builder's `within`)."""
    _conversation_project(project, annotators)
    everyone = json.loads(_export(project, "conversations", tmp_path)[0])
    one = json.loads(_export(project, "conversations", tmp_path, annotator_ids=(annotators[1].pk,))[0])
    relativity = lambda records: [r for r in records if r["task"] == "relativity"]  # noqa: E731
    assert 0 < len(relativity(one)) < len(relativity(everyone))


@pytest.mark.django_db
def test_mos_intervals_stay_on_the_rating_scale_and_small_n_is_flagged(project, annotators, tmp_path):
    """Two ratings 1 and 5 (t interval [-22.4, 28.4]) and 2 and 3 ([-3.85, 8.85]) give intervals inside 1-5, flagged as
    cut and as fewer than 15 ratings; an interval well inside the scale is left as Student's t gives it (issue 17, bug 3)."""
    wide, narrow = images(project, 2)
    for image, levels in ((wide, (1, 5)), (narrow, (2, 3))):
        item = rating_item(project, image)
        for annotator, level in zip(annotators, levels):
            judge(item, annotator, level=level)
    rows = list(csv.DictReader(io.StringIO(_export(project, "mos", tmp_path)[0])))
    assert len(rows) == 2
    for row in rows:
        assert 1.0 <= float(row["ci95_low"]) <= float(row["mos"]) <= float(row["ci95_high"]) <= 5.0
        assert 0.0 <= float(row["ci95_low_100"]) <= float(row["ci95_high_100"]) <= 100.0
        assert (row["ci95_clipped"], row["small_n"]) == ("1", "1")
    n, mean, std, low, high, clipped = mos_summary([3.0] * 10 + [4.0] * 10)
    half = float(stats.t.ppf(0.975, 19)) * std / math.sqrt(20)
    assert (low, high, clipped) == (pytest.approx(mean - half), pytest.approx(mean + half), False)
