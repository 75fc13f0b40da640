"""Cached reports (evaluation/report_cache.py): pages and APIs read the cache, data changes mark it pending once."""
import uuid

import pytest
from django.urls import reverse
from django.utils import timezone

from annotation.models import Judgement
from evaluation import report_cache
from evaluation.models import ReportCache
from evaluation.report_cache import QUALITY, STUDY_RESULTS, report_cached, report_mark_stale, report_refresh_run
from studies.models import System, TrialLease
from studies.services.voting import trial_next, vote_submit
from tests.evaluation.judgement_builders import annotators_make, images_make, judgements_add
from tests.factories import ProjectFactory
from tests.studies.builders import study_with_systems

pytestmark = pytest.mark.django_db


@pytest.fixture
def computes(monkeypatch):
    """Count the real compute functions' calls, per kind (they still compute)."""
    calls = {QUALITY: 0, STUDY_RESULTS: 0}
    for kind in calls:
        real = report_cache._KINDS[kind]

        def counted(object_id, kind=kind, real=real):
            calls[kind] += 1
            return real(object_id)

        monkeypatch.setitem(report_cache._KINDS, kind, counted)
    return calls


@pytest.fixture
def judged(project):
    images = images_make(project, 3)
    users = annotators_make(project, 2)
    judgements_add(project, [(images[0], images[1], "a"), (images[1], images[2], "b")], users)
    return project


def test_quality_page_and_api_read_the_cache(client, researcher, judged, computes, django_assert_max_num_queries):
    """The first load computes once and stores it; later loads and the API do not recompute, and match the page."""
    client.force_login(researcher)
    url = reverse("evaluation:project_quality", kwargs={"project_id": judged.pk})
    first = client.get(url)
    assert first.status_code == 200 and computes[QUALITY] == 1
    row = ReportCache.objects.get(kind=QUALITY, object_id=judged.pk)
    assert f"Computed {timezone.localtime(row.computed_at):%H:%M}" in first.content.decode()
    assert "updating" not in first.content.decode()
    with django_assert_max_num_queries(12):
        again = client.get(url)
    api = client.get(reverse("api:project_quality", kwargs={"project_id": judged.pk}))
    assert again.status_code == 200 and api.status_code == 200 and computes[QUALITY] == 1
    assert api.json() == row.data and api.json()["project_id"] == judged.pk
    assert sum(row["judgements"] for row in api.json()["annotators"]) == Judgement.objects.filter(project=judged).count() > 0
    assert api.headers["Last-Modified"]


def test_study_results_page_api_and_downloads_read_one_cache(client, researcher, project, annotator_member, computes):
    study = study_with_systems(project=project, researcher=researcher, annotators=[annotator_member])
    client.force_login(researcher)
    kwargs = {"study_id": study.pk}
    for name in ("studies:study_results", "studies:study_results_csv", "studies:study_results_json", "api:study_results"):
        assert client.get(reverse(name, kwargs=kwargs)).status_code == 200
    assert computes[STUDY_RESULTS] == 1
    assert client.get(reverse("api:study_results", kwargs=kwargs)).json() == client.get(reverse("studies:study_results_json", kwargs=kwargs)).json()


def test_votes_mark_the_study_pending_and_enqueue_one_recompute(project, researcher, annotator_member, django_capture_on_commit_callbacks):
    """Each vote bumps the stamp; only the first (fresh → pending) enqueues a recompute, after commit."""
    study = study_with_systems(project=project, researcher=researcher, annotators=[annotator_member], n_images=3)
    row = report_cached(kind=STUDY_RESULTS, object_id=study.pk, project_id=project.pk)
    assert row.data["n_votes"] == 0 and not row.pending
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        for _ in range(2):
            trial = trial_next(study=study, annotator=annotator_member)
            vote_submit(token=trial.token, annotator=annotator_member, choice="left", client_id=uuid.uuid4())
    row.refresh_from_db()
    assert row.pending and row.stamp == 2 and row.data["n_votes"] == 0
    assert [c.args for c in callbacks if getattr(c, "args", None) == (STUDY_RESULTS, study.pk)] == [(STUDY_RESULTS, study.pk)]
    assert TrialLease.objects.filter(trial__study=study).count() == 2

    report_refresh_run(kind=STUDY_RESULTS, object_id=study.pk)  # what the worker runs
    row.refresh_from_db()
    assert not row.pending and row.data["n_votes"] == 2


def test_a_change_while_computing_keeps_it_pending_and_runs_again(judged, monkeypatch, django_capture_on_commit_callbacks):
    row = report_cached(kind=QUALITY, object_id=judged.pk, project_id=judged.pk)
    report_mark_stale(kind=QUALITY, object_id=judged.pk)
    real = report_cache._KINDS[QUALITY]

    def compute_while_a_judgement_arrives(object_id):
        data = real(object_id)
        report_mark_stale(kind=QUALITY, object_id=object_id)
        return data

    monkeypatch.setitem(report_cache._KINDS, QUALITY, compute_while_a_judgement_arrives)
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        report_refresh_run(kind=QUALITY, object_id=judged.pk)
    row.refresh_from_db()
    assert row.pending and [c.args for c in callbacks] == [(QUALITY, judged.pk)]  # runs again for the change it may have missed


def test_a_row_of_another_project_is_never_shown(client, researcher, judged):
    """Even a row with this object id but another project is recomputed, not shown."""
    other = ProjectFactory()
    ReportCache.objects.create(kind=QUALITY, object_id=judged.pk, project=other, data={"project_id": other.pk, "secret": 1},
                               computed_at="2026-01-01T00:00:00Z")
    client.force_login(researcher)
    body = client.get(reverse("api:project_quality", kwargs={"project_id": judged.pk})).json()
    assert body["project_id"] == judged.pk and "secret" not in body
    assert ReportCache.objects.get(kind=QUALITY, object_id=judged.pk).project_id == judged.pk


def test_freshness_poll_says_updating_then_reloads(client, researcher, annotator, judged):
    client.force_login(researcher)
    url = reverse("evaluation:project_quality", kwargs={"project_id": judged.pk})
    client.get(url)
    report_mark_stale(kind=QUALITY, object_id=judged.pk)
    page = client.get(url).content.decode()
    assert "updating…" in page and "?freshness=1" in page
    poll = client.get(url, {"freshness": 1})
    assert "updating…" in poll.content.decode() and "HX-Refresh" not in poll.headers
    ReportCache.objects.filter(kind=QUALITY).update(pending=False)
    done = client.get(url, {"freshness": 1})
    assert done.headers["HX-Refresh"] == "true" and "updating" not in done.content.decode()
    client.force_login(annotator)
    assert client.get(url, {"freshness": 1}).status_code in (403, 404)


def test_adding_a_system_marks_the_study_results_pending(project, researcher, annotator_member, django_capture_on_commit_callbacks):
    study = study_with_systems(project=project, researcher=researcher, annotators=[annotator_member])
    row = report_cached(kind=STUDY_RESULTS, object_id=study.pk, project_id=project.pk)
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        System.objects.create(study=study, name="third", kind=System.Kind.IMPORTED)
    row.refresh_from_db()
    assert row.pending and [c.args for c in callbacks] == [(STUDY_RESULTS, study.pk)]
    report_refresh_run(kind=STUDY_RESULTS, object_id=study.pk)
    row.refresh_from_db()
    assert not row.pending and [s["name"] for s in row.data["systems"]][-1] == "third"
