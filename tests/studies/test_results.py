"""A study's results from real votes: G+S/S+B, win/tie/loss, BT, position bias, agreement, reasonable rate; page, CSV, JSON, API."""
import csv
import io
import uuid

import pytest
from django.urls import reverse

from studies.models import System, TrialLease
from studies.selectors import study_results
from studies.services.voting import NoTrial, trial_next, vote_submit
from tests.factories import AnnotatorFactory, MembershipFactory
from tests.studies.builders import SYSTEM_NAMES, study_with_systems

pytestmark = pytest.mark.django_db

#: Outcome wanted (relative to system A, the first system) on the trials in item order: 2 A better, 1 same, 1 B better.
WANTED = [1, 1, 0, -1]


def _vote_all(study, annotator, wanted, *, criteria=None):
    """Vote every trial the annotator gets so that the outcome relative to A is wanted[item order]."""
    order = {item_id: k for k, item_id in enumerate(study.items.order_by("pk").values_list("pk", flat=True))}
    while True:
        try:
            trial = trial_next(study=study, annotator=annotator)
        except NoTrial:
            return
        lease = TrialLease.objects.select_related("trial").get(token=trial.token)
        outcome = wanted[order[lease.trial.item_id]]
        on_left = outcome if lease.left_is_a else -outcome
        choice = {1: "left", 0: "same", -1: "right"}[on_left]
        marks = criteria or {}
        vote_submit(token=trial.token, annotator=annotator, choice=choice, client_id=uuid.uuid4(),
                    criteria_left=marks.get("left"), criteria_right=marks.get("right"))


@pytest.fixture
def voted(project, researcher, annotator_member):
    other = AnnotatorFactory()
    MembershipFactory(project=project, user=other)
    study = study_with_systems(project=project, researcher=researcher, annotators=[annotator_member, other], n_images=4, ask_criteria=True)
    for user in (annotator_member, other):
        _vote_all(study, user, WANTED, criteria={"left": [True, True, True], "right": [True, True, True]})
    return study


def test_results_match_hand_counts(voted):
    """Two annotators voting 2 wins, 1 tie, 1 loss for A each: G=4, S=2, B=2, ratio 6/4, α = 1, A ranked first."""
    results = study_results(study=voted, n_resamples=200)
    (pair,) = results["pairs"]
    assert (pair["system_1"], pair["system_2"]) == SYSTEM_NAMES
    assert (pair["n"], pair["good"], pair["same"], pair["bad"]) == (8, 4, 2, 2)
    assert pair["gsb_ratio"] == pytest.approx(1.5)
    assert pair["win"] == 0.5 and pair["win_ci"][0] <= 0.5 <= pair["win_ci"][1]
    first, second = results["systems"]
    assert first["rank"] == 1 and first["bt"] > second["bt"]
    assert first["bt_ci"][0] <= first["bt"] <= first["bt_ci"][1]
    assert first["bt_length_controlled"] is not None and results["length_coef"] is not None
    assert results["krippendorff_alpha"] == pytest.approx(1.0)
    assert results["position_bias"]["decisive"] == 6
    assert first["reasonable_rate"] == 1.0 and first["reasonable_marked"] == 8


def test_results_page_csv_json_and_api(client, voted, researcher):
    """The researcher sees tables and plots, and downloads the same numbers as CSV and JSON; the API agrees."""
    client.force_login(researcher)
    page = client.get(reverse("studies:study_results", kwargs={"study_id": voted.pk}))
    body = page.content.decode()
    assert page.status_code == 200 and "<svg" in body and 'data-testid="gsb">1.50<' in body
    rows = list(csv.DictReader(io.StringIO(client.get(reverse("studies:study_results_csv", kwargs={"study_id": voted.pk})).content.decode())))
    pair = next(r for r in rows if r["section"] == "pair")
    assert (pair["good"], pair["same"], pair["bad"], float(pair["gsb_ratio"])) == ("4", "2", "2", 1.5)
    assert {r["system_1"] for r in rows if r["section"] == "system"} == set(SYSTEM_NAMES)
    downloaded = client.get(reverse("studies:study_results_json", kwargs={"study_id": voted.pk}))
    assert "attachment" in downloaded["Content-Disposition"] and downloaded.json()["pairs"][0]["good"] == 4
    api = client.get(reverse("api:study_results", kwargs={"study_id": voted.pk})).json()
    assert api["pairs"][0]["gsb_ratio"] == 1.5
    detail = client.get(reverse("api:study_detail", kwargs={"study_id": voted.pk})).json()
    assert {s["name"] for s in detail["systems"]} == set(SYSTEM_NAMES) and detail["progress"]["votes"] == 8
    listing = client.get(reverse("api:study_list", kwargs={"project_id": voted.project_id})).json()
    assert [s["id"] for s in listing] == [voted.pk]


def test_results_without_votes_are_empty_not_an_error(client, project, researcher, annotator_member):
    """Before any vote the page and the API answer with empty results."""
    study = study_with_systems(project=project, researcher=researcher, annotators=[annotator_member])
    client.force_login(researcher)
    assert "No votes yet" in client.get(reverse("studies:study_results", kwargs={"study_id": study.pk})).content.decode()
    results = client.get(reverse("api:study_results", kwargs={"study_id": study.pk})).json()
    assert results["n_votes"] == 0 and results["pairs"] == [] and all(s["bt"] is None for s in results["systems"])
    assert System.objects.filter(study=study).count() == 2
