"""A researcher sets a study up in headless Chromium (create, import JSONL systems) and reads its results page."""
import re
import uuid

import pytest

from studies.models import Study, System, TrialLease
from studies.selectors import study_results
from studies.services.voting import NoTrial, trial_next, vote_submit
from tests.factories import AnnotatorFactory, MembershipFactory
from tests.studies.builders import answers_jsonl, images_add

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def _vote_all(study, annotator, wanted):
    """Vote every trial the annotator gets with outcome wanted[k] (relative to A) on the k-th item, through the voting service."""
    order = {item_id: k for k, item_id in enumerate(study.items.order_by("pk").values_list("pk", flat=True))}
    while True:
        try:
            trial = trial_next(study=study, annotator=annotator)
        except NoTrial:
            return
        lease = TrialLease.objects.select_related("trial").get(token=trial.token)
        outcome = wanted[order[lease.trial.item_id]]
        on_left = outcome if lease.left_is_a else -outcome
        vote_submit(token=trial.token, annotator=annotator, choice={1: "left", 0: "same", -1: "right"}[on_left], client_id=uuid.uuid4())


def _import(page, name: str, path) -> None:
    form = page.locator("[data-testid=imported-form]")
    form.locator("input[name=name]").fill(name)
    form.locator("input[name=answers]").set_input_files(str(path))
    with page.expect_navigation():
        form.get_by_role("button", name="Import").click()


def test_researcher_creates_a_study_imports_systems_and_reads_results(page, live_server, login, project, researcher, annotator_member, tmp_path):
    """Create from the page, import two JSONL systems (a bad file shows its lines), trials appear; votes show on the results page."""
    second = AnnotatorFactory(username="zz-study-voter")
    MembershipFactory(project=project, user=second)
    images = images_add(project, 3)
    login(page, live_server, researcher)

    page.goto(f"{live_server.url}/projects/{project.pk}/studies/new/")
    form = page.locator("[data-testid=study-form]")
    form.locator("input[name=name]").fill("Browser study")
    form.locator("input[name=image_count]").fill("0")
    form.locator("input[name=votes_per_trial]").fill("2")
    for user in (annotator_member, second):
        form.locator(f"input[name=annotators][value='{user.pk}']").check()
    with page.expect_navigation():
        form.get_by_role("button", name="Create study").click()
    study = Study.objects.get(name="Browser study")
    assert page.url.endswith(f"/studies/{study.pk}/")
    assert study.items.count() == 3 and set(study.annotators.all()) == {annotator_member, second}
    assert "Browser study" in page.inner_text("body")

    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"image": "sbs-0.png", "answer": "fine"}\n{not json\n{"image": "missing.png", "answer": "x"}\n')
    _import(page, "broken-sys", bad)
    errors = page.locator("[data-testid=import-errors] li")
    assert errors.count() == 2
    assert errors.nth(0).inner_text().startswith("line 2") and "missing.png" in errors.nth(1).inner_text()
    assert not System.objects.filter(study=study).exists()

    for name, style in (("alpha-sys", "alpha"), ("beta-sys", "beta")):
        path = tmp_path / f"{name}.jsonl"
        path.write_bytes(answers_jsonl(images, style))
        _import(page, name, path)
        row = page.locator(f"[data-testid=system-{name}]")
        assert "Ready" in row.inner_text() and "3 / 3" in row.inner_text()
    progress = page.locator("[data-testid=study-progress]").inner_text()
    assert re.search(r"Trials\s+3 \(0 with all their votes\)", progress), progress
    assert re.search(r"Votes\s+0 of 6", progress), progress

    _vote_all(study, annotator_member, [1, 1, -1])
    _vote_all(study, second, [1, 0, -1])
    expected = study_results(study=study)
    (pair,) = expected["pairs"]
    assert (pair["good"], pair["same"], pair["bad"]) == (3, 1, 2)

    page.goto(f"{live_server.url}/studies/{study.pk}/results/")
    table = page.locator("[data-testid=pairs-table]")
    cells = table.locator("tbody tr").first.locator("td")
    assert [cells.nth(k).inner_text() for k in range(4)] == ["alpha-sys", "beta-sys", "6", "3 / 1 / 2"]
    assert table.locator("[data-testid=gsb]").inner_text() == f"{(3 + 1) / (1 + 2):.2f}"
    plot = page.locator("[data-testid=bt-plot] svg")
    assert plot.count() == 1 and plot.get_attribute("data-rows") == "2" and plot.locator("text", has_text="alpha-sys").count() >= 1
    assert plot.locator("line, rect, circle, path").count() >= 2  # the strengths and their intervals are drawn
    alpha = page.locator("[data-testid=alpha]").inner_text()
    assert alpha == f"{expected['krippendorff_alpha']:.3f}"
    bt_rows = page.locator("[data-testid=bt-table] tbody tr")
    assert bt_rows.count() == 2 and bt_rows.nth(0).locator("td").nth(1).inner_text() in ("alpha-sys", "beta-sys")
