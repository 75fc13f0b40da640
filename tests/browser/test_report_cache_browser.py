"""While the cached dashboard is being recomputed the page says "updating…"; once the worker is done it reloads itself."""
import pytest
from playwright.sync_api import expect

from annotation.vocabulary import TaskKind
from evaluation.models import ReportCache
from evaluation.report_cache import QUALITY, report_cached, report_refresh_run
from tests.evaluation.judgement_builders import annotators_make, images_make, judgements_add
from tests.factories import ProjectFactory, ResearcherFactory

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_quality_page_polls_while_updating_and_reloads_with_the_new_numbers(page, live_server, login):
    researcher = ResearcherFactory(username="rhea")
    project = ProjectFactory(created_by=researcher, name="Cached panel")
    images = images_make(project, 3)
    first, second = annotators_make(project, 2)
    judgements_add(project, [(image, 3) for image in images], [first], kind=TaskKind.RATING)
    report_cached(kind=QUALITY, object_id=project.pk, project_id=project.pk)
    ReportCache.objects.filter(kind=QUALITY, object_id=project.pk).update(pending=True)  # a recompute is queued

    login(page, live_server, researcher)
    page.goto(f"{live_server.url}/projects/{project.pk}/quality/")
    freshness = page.get_by_test_id("report-freshness")
    expect(freshness).to_contain_text("updating…")
    page.evaluate("window.beforeReload = true")

    judgements_add(project, [(image, 4) for image in images], [second], kind=TaskKind.RATING)
    report_refresh_run(kind=QUALITY, object_id=project.pk)  # what the worker runs
    expect(freshness).not_to_contain_text("updating", timeout=20_000)  # the poll saw it and reloaded the page
    expect(freshness).to_contain_text("Computed")
    assert page.evaluate("window.beforeReload === undefined")  # a whole new page, with the new report
    assert not page.locator("[hx-get*='freshness']").count()  # no more polling
    assert sum(row["judgements"] for row in ReportCache.objects.get(kind=QUALITY, object_id=project.pk).data["annotators"]) == 6
