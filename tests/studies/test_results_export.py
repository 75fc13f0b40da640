"""Study results and votes in the exports: registered from the studies app, read back, equal to the results service."""
import csv
import datetime as dt
import io
import json
import uuid
import zipfile
from pathlib import Path

import pytest
from django.utils import timezone

import exports
from exports.filters import ExportFilters, export_filters_parse
from exports.formats import FORMATS
from exports.services import export_file_absolute, export_job_create, export_job_run
from exports.writing import export_write
from studies.models import Study, TrialLease, Vote
from studies.selectors import study_results
from studies.services.voting import NoTrial, trial_next, vote_submit
from tests.factories import AnnotatorFactory, MembershipFactory, ProjectFactory
from tests.studies.builders import SYSTEM_NAMES, study_with_systems

pytestmark = pytest.mark.django_db


def _vote_all(study, annotator, wanted):
    """Vote every trial the annotator gets with outcome wanted[k] (relative to A) on the k-th item, A meets every criterion, B misses one."""
    order = {item_id: k for k, item_id in enumerate(study.items.order_by("pk").values_list("pk", flat=True))}
    while True:
        try:
            trial = trial_next(study=study, annotator=annotator)
        except NoTrial:
            return
        lease = TrialLease.objects.select_related("trial").get(token=trial.token)
        outcome = wanted[order[lease.trial.item_id]]
        on_left = outcome if lease.left_is_a else -outcome
        a_marks, b_marks = [True, True, True], [True, False, True]
        vote_submit(token=trial.token, annotator=annotator, choice={1: "left", 0: "same", -1: "right"}[on_left], client_id=uuid.uuid4(),
                    criteria_left=a_marks if lease.left_is_a else b_marks, criteria_right=b_marks if lease.left_is_a else a_marks)


@pytest.fixture
def two_annotators(project, annotator_member):
    other = AnnotatorFactory(username="zz-second-voter")
    MembershipFactory(project=project, user=other)
    return [annotator_member, other]


@pytest.fixture
def voted(project, researcher, two_annotators):
    """A voted study, a second voted study with three systems, and one without votes (left out of the results)."""
    first = study_with_systems(project=project, researcher=researcher, annotators=two_annotators, n_images=4, ask_criteria=True)
    _vote_all(first, two_annotators[0], [1, 1, 0, -1])
    _vote_all(first, two_annotators[1], [1, 0, 0, -1])
    second = study_with_systems(project=project, researcher=researcher, annotators=two_annotators[:1], n_images=2,
                                names=("alpha-sys", "beta-sys", "gamma-sys"), ask_criteria=True)
    _vote_all(second, two_annotators[0], [-1, 1])
    study_with_systems(project=project, researcher=researcher, annotators=two_annotators, n_images=2, names=("unvoted-a", "unvoted-b"))
    return [first, second]


def _write(project, tmp_path, fmt, filters=None) -> str:
    path = tmp_path / FORMATS[fmt].file_name
    export_write(project=project, formats=[fmt], filters=filters or ExportFilters(), include_images=False, path=path)
    return path.read_text(encoding="utf-8")


def test_study_formats_are_registered_without_exports_importing_studies():
    """The studies app adds study_results and study_votes to the registry; no exports module names the studies app."""
    assert FORMATS["study_results"].file_name == "study_results.jsonl" and FORMATS["study_votes"].file_name == "study_votes.csv"
    for module in Path(exports.__file__).parent.rglob("*.py"):
        text = module.read_text()
        assert "from studies" not in text and "import studies" not in text, module


def test_study_results_lines_equal_the_results_service(project, researcher, voted, tmp_path):
    """One JSON line per voted study, equal to what the results page shows (BT, pairs, bias, α, reasonable rate)."""
    other_project = ProjectFactory(created_by=researcher)
    foreign_annotator = MembershipFactory(project=other_project, user=AnnotatorFactory()).user
    foreign = study_with_systems(project=other_project, researcher=researcher, annotators=[foreign_annotator], n_images=2)
    _vote_all(foreign, foreign_annotator, [1, 1])
    lines = [json.loads(line) for line in _write(project, tmp_path, "study_results").splitlines()]
    assert [line["study"]["id"] for line in lines] == [study.pk for study in voted]
    for line, study in zip(lines, voted):
        expected = json.loads(json.dumps(study_results(study=study)))
        assert line == {"project_id": project.pk, **expected}
    first, second = lines
    assert [s["name"] for s in first["systems"]] == list(SYSTEM_NAMES) and len(second["pairs"]) == 3
    (pair,) = first["pairs"]
    assert (pair["n"], pair["good"], pair["same"], pair["bad"]) == (8, 3, 3, 2)
    assert pair["gs_share"] == pytest.approx(6 / 8) and pair["sb_share"] == pytest.approx(5 / 8)
    assert pair["win_ci"][0] <= pair["win"] <= pair["win_ci"][1]
    for system in first["systems"]:
        assert system["bt_ci"][0] <= system["bt"] <= system["bt_ci"][1]
    assert [s["reasonable_rate"] for s in first["systems"]] == [1.0, 0.0] and first["systems"][0]["reasonable_marked"] == 8
    assert first["position_bias"]["decisive"] == 5 and first["krippendorff_alpha"] is not None


def test_study_votes_csv_has_every_vote_with_system_names(project, voted, tmp_path, two_annotators):
    """Each vote is one row: image, systems A/B by name, left_is_a, outcome, criteria, annotator, time."""
    rows = list(csv.DictReader(io.StringIO(_write(project, tmp_path, "study_votes"))))
    votes = {vote.pk: vote for vote in Vote.objects.select_related("trial__system_a", "trial__system_b", "trial__item__image", "annotator")}
    assert sorted(int(row["vote_id"]) for row in rows) == sorted(votes) and len(rows) == 8 + 6
    for row in rows:
        vote = votes[int(row["vote_id"])]
        assert (row["system_a"], row["system_b"]) == (vote.trial.system_a.name, vote.trial.system_b.name)
        assert row["image"] == vote.trial.item.image.file.name and int(row["image_id"]) == vote.trial.item.image_id
        assert int(row["left_is_a"]) == int(vote.left_is_a) and int(row["outcome"]) == vote.outcome
        assert row["winner"] == {1: "a", 0: "same", -1: "b"}[vote.outcome]
        assert row["criteria_a"] == "main_issue=1;no_false_distortion=1;consistent=1"
        assert row["criteria_b"] == "main_issue=1;no_false_distortion=0;consistent=1"
        assert row["annotator"] == vote.annotator.username
        assert dt.datetime.fromisoformat(row["submitted_at"]) == vote.submitted_at
    only_second = export_filters_parse(project=project, data={"annotators": "zz-second-voter"})
    rows = list(csv.DictReader(io.StringIO(_write(project, tmp_path, "study_votes", only_second))))
    assert len(rows) == 4 and {row["annotator"] for row in rows} == {"zz-second-voter"}
    tomorrow = timezone.localdate() + dt.timedelta(days=1)
    rows = list(csv.DictReader(io.StringIO(_write(project, tmp_path, "study_votes", ExportFilters(date_from=tomorrow)))))
    assert rows == []


def test_export_service_bundles_the_study_formats_with_a_manifest(project, researcher, voted):
    """An export job of study results, votes and pairs writes a zip whose manifest lists the study files and their rows."""
    job = export_job_create(project=project, requested_by=researcher, formats=["study_results", "study_votes", "pairs"])
    job = export_job_run(job_id=job.pk)
    assert job.status == job.Status.DONE, job.error
    assert job.row_counts == {"study_results": 2, "study_votes": 14, "pairs": 0}
    with zipfile.ZipFile(export_file_absolute(job)) as archive:
        manifest = json.loads(archive.read("manifest.json"))
        lines = archive.read("study_results.jsonl").decode().splitlines()
        votes = list(csv.DictReader(io.StringIO(archive.read("study_votes.csv").decode())))
    assert [(f["name"], f["file"], f["rows"]) for f in manifest["formats"]] == [
        ("study_results", "study_results.jsonl", 2), ("study_votes", "study_votes.csv", 14), ("pairs", "pairs.csv", 0),
    ]
    assert {"study_results.jsonl", "study_votes.csv"} <= set(manifest["members"])
    assert "export filters do not apply" in manifest["notes"]["study_results"]
    assert json.loads(lines[0])["study"]["id"] == Study.objects.filter(project=project).order_by("pk").first().pk
    assert len(votes) == 14


def test_a_project_without_study_votes_exports_empty_files(project, tmp_path):
    """No voted study: the results file is empty and the votes file holds its header only."""
    assert _write(project, tmp_path, "study_results") == ""
    assert _write(project, tmp_path, "study_votes").strip().split(",")[:3] == ["vote_id", "study_id", "study"]
