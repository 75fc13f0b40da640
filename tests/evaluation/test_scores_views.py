"""Scores pages, CSV and API, and the pair-queue page: who may open them, and what they show."""
import csv
import io
import re

import pytest
from django.urls import reverse

from annotation.models import PairSource, WorkItem
from annotation.vocabulary import TaskKind
from evaluation.models import ScalingRun
from evaluation.plots import scores_errorbar_svg
from evaluation.services import project_scale
from tests.evaluation.judgement_builders import annotators_make, images_make, judgements_add
from tests.factories import ResearcherFactory

PAGES = ["evaluation:project_scores", "evaluation:project_scores_csv", "evaluation:pair_queue"]
API = ["api:project_scores", "api:project_scores_recompute"]


@pytest.fixture
def scored(project):
    """A project with three compared images and a finished run: c > b > a."""
    a, b, c = images_make(project, 3)
    a.original_name = "=cmd.png"  # a name a spreadsheet would run as a formula
    a.save()
    judgements_add(project, [(c, b, "a"), (b, a, "a"), (c, a, "a")] * 2, annotators_make(project, 2))
    return project_scale(project)


def _url(name, project):
    return reverse(name, kwargs={"project_id": project.pk})


@pytest.mark.parametrize("method", ["get", "post"])
@pytest.mark.parametrize("name", PAGES + API)
def test_annotators_get_403(client, project, annotator_member, name, method):
    """An annotator of the project is refused every scores page and endpoint, GET and POST."""
    client.force_login(annotator_member)
    assert getattr(client, method)(_url(name, project)).status_code == 403


@pytest.mark.parametrize("name", PAGES + API)
def test_researchers_of_other_projects_get_404(client, project, name):
    """A researcher with no role in the project is told it does not exist."""
    client.force_login(ResearcherFactory())
    assert client.get(_url(name, project)).status_code == 404


@pytest.mark.parametrize("name", PAGES)
def test_anonymous_users_go_to_login(client, project, name):
    """Anonymous users are sent to the login page."""
    response = client.get(_url(name, project))
    assert response.status_code == 302 and response["Location"].startswith(reverse("login"))


def test_scores_page_shows_the_plot_and_the_table(client, researcher, scored):
    """The page has the run's facts, an inline SVG with one point per image, and the table best first."""
    client.force_login(researcher)
    html = client.get(_url("evaluation:project_scores", scored.project)).content.decode()
    assert f"Run #{scored.pk}" in html
    assert '<svg xmlns="http://www.w3.org/2000/svg" class="scoreplot"' in html
    assert 'data-items="3"' in html and 'data-points="3"' in html and html.count('class="dot"') == 3
    assert "https://" not in html.replace('xmlns="http://www.w3.org/2000/svg"', "") and "http://" not in html.replace(
        'xmlns="http://www.w3.org/2000/svg"', ""
    )  # no CDN, no chart library
    names = re.findall(r'<span class="breakall">([^<]+)</span>', html)
    assert names == ["img0002.png", "img0001.png", "=cmd.png"]
    assert reverse("evaluation:project_scores_csv", kwargs={"project_id": scored.project_id}) in html


def test_scores_page_without_a_run_says_so(client, researcher, project):
    """Before any run the page explains that there are no scores yet and offers Recompute."""
    client.force_login(researcher)
    html = client.get(_url("evaluation:project_scores", project)).content.decode()
    assert "No scores yet" in html and "Recompute" in html and "<svg" not in html


def test_recompute_queues_a_run_and_the_status_polls(client, researcher, project):
    """POST queues a run; the htmx status part then polls until it finishes, and asks for a reload once it has."""
    client.force_login(researcher)
    response = client.post(_url("evaluation:project_scores", project))
    assert response.status_code == 302
    run = ScalingRun.objects.get(project=project)
    assert run.status == ScalingRun.Status.QUEUED and run.trigger == ScalingRun.Trigger.MANUAL

    part = client.post(_url("evaluation:project_scores", project), HTTP_HX_REQUEST="true").content.decode()
    assert ScalingRun.objects.filter(project=project).count() == 1  # the queued one is reused
    assert 'hx-trigger="every 1s"' in part and f"?run={run.pk}" in part

    ScalingRun.objects.filter(pk=run.pk).update(status=ScalingRun.Status.DONE)
    polled = client.get(_url("evaluation:project_scores", project) + f"?run={run.pk}", HTTP_HX_REQUEST="true")
    assert polled["HX-Refresh"] == "true" and "every 1s" not in polled.content.decode()


def test_a_failed_run_shows_its_error(client, researcher, project):
    """A failed run's message is on the page."""
    ScalingRun.objects.create(project=project, status=ScalingRun.Status.FAILED, error="Nothing to scale yet: no judgements.")
    client.force_login(researcher)
    assert "Nothing to scale yet: no judgements." in client.get(_url("evaluation:project_scores", project)).content.decode()


def test_csv_has_every_image_best_first(client, researcher, scored):
    """The CSV download has the documented columns and one row per image, best first, formulas defused."""
    client.force_login(researcher)
    response = client.get(_url("evaluation:project_scores_csv", scored.project))
    assert response["Content-Type"].startswith("text/csv")
    assert f"-scores-run{scored.pk}.csv" in response["Content-Disposition"]
    rows = list(csv.reader(io.StringIO(response.content.decode())))
    assert rows[0] == ["image_id", "original_name", "score", "variance", "ci_low", "ci_high", "score_0_100", "n_comparisons", "mos"]
    assert [row[1] for row in rows[1:]] == ["img0002.png", "img0001.png", "'=cmd.png"]
    scores = [float(row[2]) for row in rows[1:]]
    assert scores == sorted(scores, reverse=True)
    for row in rows[1:]:
        assert float(row[4]) < float(row[2]) < float(row[5]) and row[7] == "4" and row[8] == ""
    assert [float(row[6]) for row in rows[1:]] == [100.0, pytest.approx(float(rows[2][6])), 0.0]


def test_csv_without_scores_is_only_the_header(client, researcher, project):
    """No run yet: the CSV holds just the header."""
    client.force_login(researcher)
    assert client.get(_url("evaluation:project_scores_csv", project)).content.decode().strip().startswith("image_id,")
    assert len(client.get(_url("evaluation:project_scores_csv", project)).content.decode().strip().splitlines()) == 1


def test_api_lists_the_current_scores(client, researcher, scored):
    """GET /api/projects/<id>/scores/ returns the run and its scores a page at a time."""
    client.force_login(researcher)
    body = client.get(_url("api:project_scores", scored.project) + "?page_size=2").json()
    assert body["run"]["id"] == scored.pk and body["run"]["status"] == "done" and body["count"] == 3
    assert len(body["results"]) == 2 and body["next"]
    first = body["results"][0]
    assert set(first) >= {"image_id", "original_name", "score", "variance", "ci_low", "ci_high", "score_0_100", "n_comparisons", "mos"}
    assert first["original_name"] == "img0002.png"


def test_api_without_scores_has_no_run(client, researcher, project):
    """Before any run the API answers with run null and no results."""
    client.force_login(researcher)
    body = client.get(_url("api:project_scores", project)).json()
    assert body["run"] is None and body["results"] == [] and body["count"] == 0


def test_api_recompute_queues_a_run(client, researcher, project):
    """POST /api/projects/<id>/scores/recompute/ answers 202 with the queued run."""
    client.force_login(researcher)
    response = client.post(_url("api:project_scores_recompute", project))
    assert response.status_code == 202 and response.json()["status"] == "queued"
    assert response["Location"].endswith(_url("api:project_scores", project))


def test_pair_queue_page_lists_proposals_and_refills(client, researcher, project):
    """The pair-queue page's Refill now adds a batch; the page then lists them with strategy and gain."""
    project.task_kinds, project.pair_source, project.pair_batch_size = [TaskKind.PAIR], PairSource.PROPOSED, 4
    project.save()
    images_make(project, 6)
    client.force_login(researcher)
    response = client.post(_url("evaluation:pair_queue", project), follow=True)
    html = response.content.decode()
    assert "Added 4 pairs chosen by eig" in html and "fell back" in html
    assert WorkItem.objects.filter(project=project, kind=TaskKind.PAIR).exclude(strategy="").count() == 4
    assert html.count('class="row-open"') == 4 and "none</td>" in html
    judged = client.get(_url("evaluation:pair_queue", project) + "?state=judged").content.decode()
    assert "No proposed pairs in this state" in judged


def test_pair_queue_paging_keeps_the_state_filter(client, researcher, project, settings):
    """Next/Last links carry ?state= along with the page, so paging a filtered list stays filtered."""
    from modeling.selection import views

    project.task_kinds, project.pair_source, project.pair_batch_size = [TaskKind.PAIR], PairSource.PROPOSED, 4
    project.save()
    images_make(project, 6)
    client.force_login(researcher)
    client.post(_url("evaluation:pair_queue", project))
    original, views.PAIRS_PER_PAGE = views.PAIRS_PER_PAGE, 2
    try:
        html = client.get(_url("evaluation:pair_queue", project) + "?state=open").content.decode()
    finally:
        views.PAIRS_PER_PAGE = original
    assert "Page 1 of 2" in html and 'href="?state=open&amp;page=2"' in html


def test_errorbar_svg_subsamples_beyond_the_limit():
    """400 items: 300 points drawn, over a band of every interval, with a note saying so; labels are escaped."""
    scores = [i / 100 for i in range(400)]
    svg = scores_errorbar_svg(scores, [s - 0.1 for s in scores], [s + 0.1 for s in scores], labels=[f"<b>{i}</b>" for i in range(400)])
    assert 'data-items="400"' in svg and 'data-points="300"' in svg
    assert svg.count('class="dot"') == 300 and 'class="band"' in svg and "300 of 400 drawn" in svg
    assert "<b>" not in svg and "&lt;b&gt;" in svg


def test_errorbar_svg_orders_by_score():
    """Points run from the lowest score on the left to the highest on the right."""
    svg = scores_errorbar_svg([2.0, -1.0, 0.5], [1.5, -1.5, 0.0], [2.5, -0.5, 1.0], labels=["high", "low", "mid"])
    titles = re.findall(r'<g class="point"><title>(\w+):', svg)
    assert titles == ["low", "mid", "high"]


@pytest.mark.django_db
def test_scores_and_pair_queue_are_tabs_of_the_project(client, researcher, project):
    """Scores and the pair queue are in the project's tab bar on every project page, and each marks its own tab
    current (issue 17, researcher flow)."""
    client.force_login(researcher)
    scores = reverse("evaluation:project_scores", kwargs={"project_id": project.pk})
    queue = reverse("evaluation:pair_queue", kwargs={"project_id": project.pk})
    detail = client.get(reverse("annotation:project_detail", kwargs={"project_id": project.pk})).content.decode()
    assert f'href="{scores}">Scores</a>' in detail and f'href="{queue}">Pair queue</a>' in detail
    assert f'href="{scores}" aria-current="page">Scores</a>' in client.get(scores).content.decode()
    assert f'href="{queue}" aria-current="page">Pair queue</a>' in client.get(queue).content.decode()
