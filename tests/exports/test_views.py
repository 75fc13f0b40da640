"""Export pages, API and command: requests, progress, downloads, permissions and clear errors for bad input."""
import csv
import io
import json
import re
import zipfile

import pytest
from django.core.management import CommandError, call_command
from django.urls import reverse

from exports.models import ExportJob
from exports.services import export_job_create, export_job_run, export_path
from tests.exports.data import images, judge, pair_item
from tests.factories import AnnotatorFactory, MembershipFactory, ResearcherFactory


@pytest.fixture
def judged(project):
    annotator = MembershipFactory(project=project, user=AnnotatorFactory()).user
    a, b = images(project, 2)
    judge(pair_item(project, a, b), annotator, choice="a")
    return annotator


def _done_job(project, researcher, formats=("pairs",), **kwargs):
    job = export_job_create(project=project, requested_by=researcher, formats=list(formats), **kwargs)
    return export_job_run(job_id=job.pk)


@pytest.mark.django_db
def test_researcher_asks_for_an_export_on_the_page_and_it_is_listed(client, project, researcher, judged, django_capture_on_commit_callbacks):
    """Posting the form saves a queued job (sent to the worker on commit) and the list shows it."""
    client.force_login(researcher)
    url = reverse("exports:export_list", kwargs={"project_id": project.pk})
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        response = client.post(url, {"formats": ["pairs", "mos"], "date_from": "2026-01-01", "annotators": judged.username})
    assert response.status_code == 302 and len(callbacks) == 1
    job = ExportJob.objects.get(project=project)
    assert job.formats == ["pairs", "mos"] and job.filters["annotator_ids"] == [judged.pk] and job.status == "queued"
    page = client.get(url)
    assert page.status_code == 200 and f'id="export-{job.pk}"' in page.content.decode() and "hx-get" in page.content.decode()


@pytest.mark.django_db
def test_page_shows_clear_errors_for_bad_input(client, project, researcher):
    """No format, a bad date or an unknown annotator re-render the form with a message and save nothing."""
    client.force_login(researcher)
    url = reverse("exports:export_list", kwargs={"project_id": project.pk})
    assert "This field is required" in client.post(url, {}).content.decode()
    assert "Enter a valid date" in client.post(url, {"formats": ["pairs"], "date_to": "31/02/2026"}).content.decode()
    response = client.post(url, {"formats": ["pairs"], "annotators": "ghost"})
    assert response.status_code == 400 and "Not annotators of this project: ghost" in response.content.decode()
    assert not ExportJob.objects.exists()


@pytest.mark.django_db
def test_finished_export_downloads_from_page_and_api(client, project, researcher, judged):
    """A done job's file downloads as an attachment from the page link and the API, with its checksum on the job."""
    job = _done_job(project, researcher)
    client.force_login(researcher)
    kwargs = {"project_id": project.pk, "export_id": job.pk}
    row = client.get(reverse("exports:export_status", kwargs=kwargs)).content.decode()
    assert "Done" in row and reverse("exports:export_download", kwargs=kwargs) in row and "hx-get" not in row
    for name in ("exports:export_download", "api:export_download"):
        response = client.get(reverse(name, kwargs=kwargs))
        assert response.status_code == 200 and "attachment" in response["Content-Disposition"]
        body = b"".join(response.streaming_content).decode()
        rows = list(csv.DictReader(io.StringIO(body)))
        assert len(rows) == 1 and rows[0]["choice"] == "a"
    detail = client.get(reverse("api:export_detail", kwargs=kwargs)).json()
    assert detail["status"] == "done" and detail["row_counts"] == {"pairs": 1} and len(detail["sha256"]) == 64
    assert detail["download_url"].endswith(reverse("api:export_download", kwargs=kwargs))


@pytest.mark.django_db
def test_api_create_answers_202_and_bad_input_400(client, project, researcher, judged, django_capture_on_commit_callbacks):
    """POST makes a job (202, Location to poll); unknown formats and bad dates are 400 with the reason."""
    client.force_login(researcher)
    url = reverse("api:export_list", kwargs={"project_id": project.pk})
    with django_capture_on_commit_callbacks(execute=False):
        response = client.post(url, {"formats": ["pairs", "conversations"], "include_images": True}, content_type="application/json")
    assert response.status_code == 202
    body = response.json()
    assert response["Location"] == body["url"] and body["status"] == "queued" and body["download_url"] is None
    bad = client.post(url, {"formats": ["pairs", "parquet"]}, content_type="application/json")
    assert bad.status_code == 400 and "Unknown format(s): parquet" in bad.json()["errors"]["non_field_errors"][0]
    bad = client.post(url, {"formats": ["pairs"], "date_from": "2026-02-30"}, content_type="application/json")
    assert bad.status_code == 400 and "date_from must be a date" in bad.json()["errors"]["non_field_errors"][0]
    listed = client.get(url).json()
    assert listed["count"] == 1 and listed["results"][0]["id"] == body["id"]


@pytest.mark.django_db
def test_annotators_and_other_researchers_cannot_see_or_download_exports(client, project, researcher, judged):
    """The project's annotator gets 403 on pages, API and download; another project's researcher 404; ids of
    another project's exports are 404 even to a researcher."""
    job = _done_job(project, researcher)
    kwargs = {"project_id": project.pk, "export_id": job.pk}
    names = ["exports:export_status", "exports:export_download", "api:export_detail", "api:export_download"]
    for user, status in ((judged, 403), (ResearcherFactory(), 404)):
        client.force_login(user)
        for name in names:
            assert client.get(reverse(name, kwargs=kwargs)).status_code == status, (user, name)
        assert client.get(reverse("exports:export_list", kwargs={"project_id": project.pk})).status_code == status
        assert client.post(reverse("api:export_list", kwargs={"project_id": project.pk}), {"formats": ["pairs"]}, content_type="application/json").status_code == status
    other = MembershipFactory(project=project, user=ResearcherFactory(), role="researcher").user
    other_project_job = _done_job(MembershipFactory(user=other, role="researcher").project, other)
    client.force_login(researcher)
    for name in names:
        assert client.get(reverse(name, kwargs={"project_id": project.pk, "export_id": other_project_job.pk})).status_code == 404


@pytest.mark.django_db
def test_run_is_idempotent_and_a_failure_is_visible(project, researcher, judged, tmp_path):
    """A finished job is not written again; a job that cannot be made fails with its reason and leaves no file."""
    job = _done_job(project, researcher)
    path = export_path(job)
    stamp = path.stat().st_mtime_ns
    again = export_job_run(job_id=job.pk)
    assert again.status == "done" and path.stat().st_mtime_ns == stamp and again.sha256 == job.sha256
    failing = _done_job(project, researcher, formats=("conversations",))
    assert failing.status == "failed" and "held-out split" in failing.error
    assert not export_path(failing).exists() and not list(export_path(failing).parent.glob("*.part"))


@pytest.mark.django_db
def test_command_streams_an_export_to_a_file(project, judged, tmp_path, capsys):
    """`export_dataset` writes one format as a file and several as a zip; bad input is a CommandError."""
    out = tmp_path / "pairs.csv"
    call_command("export_dataset", project.slug, "--format", "pairs", "--out", str(out), "--annotator", judged.username)
    assert len(list(csv.DictReader(out.open()))) == 1 and "rows pairs: 1" in capsys.readouterr().out
    bundle = tmp_path / "all.zip"
    call_command("export_dataset", str(project.pk), "--format", "pairs", "--format", "pair_matrix", "--out", str(bundle))
    with zipfile.ZipFile(bundle) as archive:
        assert json.loads(archive.read("manifest.json"))["counts"]["rows"] == {"pairs": 1, "pair_matrix": 2}
    with pytest.raises(CommandError, match="Unknown format"):
        call_command("export_dataset", project.slug, "--format", "xml", "--out", str(tmp_path / "x"))
    with pytest.raises(CommandError, match="date_from must be a date"):
        call_command("export_dataset", project.slug, "--format", "pairs", "--from", "soon", "--out", str(tmp_path / "x"))
    with pytest.raises(CommandError, match="No project"):
        call_command("export_dataset", "no-such-project", "--format", "pairs", "--out", str(tmp_path / "x"))
    assert not (tmp_path / "x").exists()


@pytest.mark.django_db
def test_exports_page_polls_once_for_all_pending_jobs_with_a_doubling_wait(client, project, researcher):
    """Three pending jobs: the page makes one poll (the table body), not one per job each second; each answer
    waits twice as long, 1, 2, 4 ... up to 30 s; when no job is pending the polling stops (issue 17)."""
    jobs = [ExportJob.objects.create(project=project, requested_by=researcher, formats=["pairs"]) for _ in range(3)]
    client.force_login(researcher)
    url = reverse("exports:export_list", kwargs={"project_id": project.pk})
    page = client.get(url).content.decode()
    assert page.count("hx-get") == 1 and 'hx-trigger="load delay:1s"' in page and "every 1s" not in page
    delays, delay = [], 1
    for _ in range(7):
        body = client.get(url, {"poll": delay}, headers={"HX-Request": "true"})
        html = body.content.decode()
        assert html.lstrip().startswith('<tbody id="export-rows"'), html[:80]
        assert all(f'id="export-{job.pk}"' in html for job in jobs) and "<html" not in html
        delay = int(re.search(r'data-poll-delay="(\d+)"', html).group(1))
        delays.append(delay)
    assert delays == [2, 4, 8, 16, 30, 30, 30]
    ExportJob.objects.filter(project=project).update(status="done")
    done = client.get(url, {"poll": 30}, headers={"HX-Request": "true"}).content.decode()
    assert "hx-get" not in done and 'data-poll-delay=""' in done
    assert client.get(url, {"poll": "x"}, headers={"HX-Request": "true"}).status_code == 200  # a bad value starts over
