"""The Benchmarks pages and API: start a run, read its results, download them, choose a challenge set; who may."""
import csv
import io
import json

import pytest
from django.urls import reverse

from system_benchmarks.models import BenchmarkRun, ChallengeSet
from system_benchmarks.services.execution import benchmark_run_execute
from tests.factories import ProjectFactory, ResearcherFactory
from tests.system_benchmarks.conftest import labelled, script_run

pytestmark = pytest.mark.django_db


def _form(server, **overrides) -> dict:
    data = {
        "system_kind": "endpoint", "endpoint_base_url": server.base_url, "endpoint_model": "fake-vision-1", "endpoint_key_env": "",
        "protocols": ["single", "double"], "promptings": ["standard"], "subset_size": 10, "seed": 0, "rounds": 2, "list_size": 4,
    }
    return {**data, **overrides}


@pytest.fixture
def finished_run(client, project, researcher, llm_server):
    """A run started from the page and answered in-process by the scripted server."""
    labelled(project, 10)
    client.force_login(researcher)
    response = client.post(reverse("benchmarks:create", args=[project.pk]), _form(llm_server))
    assert response.status_code == 302, response.content.decode()[:2000]
    run = BenchmarkRun.objects.get(project=project)
    assert response["Location"] == reverse("benchmarks:run", args=[project.pk, run.pk])
    script_run(llm_server, run, garbage_every=6)
    return benchmark_run_execute(run_id=run.pk)


def test_the_run_page_shows_results_table_plot_and_downloads(client, project, finished_run):
    """Done: a row per protocol × prompting with SRCC/PLCC, the SVG plot, and CSV/JSON with the same figures."""
    page = client.get(reverse("benchmarks:run", args=[project.pk, finished_run.pk])).content.decode()
    assert 'data-testid="benchmark-results"' in page and 'data-cell="single:standard"' in page and 'data-cell="double:standard"' in page
    assert "<svg" in page and 'data-cells="2"' in page
    assert "Unparseable and failed calls" in page and "I am sorry" in page
    rows = list(csv.DictReader(io.StringIO(client.get(reverse("benchmarks:run_csv", args=[project.pk, finished_run.pk])).content.decode())))
    assert [(row["protocol"], row["prompting"]) for row in rows] == [("single", "standard"), ("double", "standard")]
    assert float(rows[0]["srcc"]) == pytest.approx(finished_run.results["cells"][0]["srcc"])
    download = client.get(reverse("benchmarks:run_json", args=[project.pk, finished_run.pk]))
    assert "attachment" in download["Content-Disposition"]
    data = json.loads(download.content)
    assert data["results"]["cells"][1]["n_unparseable"] == finished_run.results["cells"][1]["n_unparseable"]
    assert set(data["predictions"]) == {"single:standard", "double:standard"}
    calls = client.get(reverse("benchmarks:run_calls_csv", args=[project.pk, finished_run.pk]))
    rows = list(csv.DictReader(io.StringIO(b"".join(calls.streaming_content).decode())))
    assert len(rows) == finished_run.n_calls
    garbage = [row for row in rows if row["status"] == "unparseable"]
    assert garbage and all(row["answer"].startswith("I am sorry") and row["reason"] for row in garbage)
    index = client.get(reverse("benchmarks:index", args=[project.pk])).content.decode()
    assert f"#{finished_run.pk}" in index and "fake-vision-1" in index


def test_a_challenge_set_is_chosen_saved_and_downloadable(client, project, finished_run):
    """From a done run: the form saves N images chosen by eq. 5; its page lists them; CSV and JSON carry the ids."""
    response = client.post(
        reverse("benchmarks:challenge_create", args=[project.pk, finished_run.pk]),
        {"cell": "double:standard", "n_select": 4, "lam": 0.01, "epsilon": 1.0, "name": "Hard four"},
    )
    challenge = ChallengeSet.objects.get(project=project)
    assert response.status_code == 302 and response["Location"] == reverse("benchmarks:challenge", args=[project.pk, challenge.pk])
    assert len(challenge.image_ids) == 4 and challenge.name == "Hard four"
    assert set(challenge.image_ids) <= {row["image_id"] for row in finished_run.pool}
    difficulties = [item["difficulty"] for item in challenge.items]
    assert difficulties[0] == max(difficulties)  # the first pick is the hardest (nothing chosen yet, so no diversity)
    page = client.get(reverse("benchmarks:challenge", args=[project.pk, challenge.pk])).content.decode()
    assert "Hard four" in page and 'data-testid="challenge-items"' in page
    rows = list(csv.DictReader(io.StringIO(client.get(reverse("benchmarks:challenge_csv", args=[project.pk, challenge.pk])).content.decode())))
    assert [int(row["image_id"]) for row in rows] == challenge.image_ids
    assert json.loads(client.get(reverse("benchmarks:challenge_json", args=[project.pk, challenge.pk])).content)["image_ids"] == challenge.image_ids
    too_many = client.post(
        reverse("benchmarks:challenge_create", args=[project.pk, finished_run.pk]), {"cell": "double:standard", "n_select": 99, "lam": 0, "epsilon": 1},
    )
    assert too_many.status_code == 400 and "choose between 1 and" in too_many.content.decode()


def test_a_key_pasted_into_the_form_is_refused_and_not_stored(client, project, researcher, llm_server):
    """The key field takes a registered credential's name; a pasted key is an error shown on the form (without the key),
    and no run is made."""
    labelled(project, 6)
    client.force_login(researcher)
    response = client.post(reverse("benchmarks:create", args=[project.pk]), _form(llm_server, endpoint_key_env="sk-live-1234"))
    assert response.status_code == 400
    assert "not a registered credential" in response.content.decode() and "sk-live-1234" not in response.content.decode()
    assert not BenchmarkRun.objects.exists()


def test_cancel_and_resume_from_the_page(client, project, researcher, llm_server):
    """Cancel on a queued run cancels it; Resume queues it again."""
    labelled(project, 6)
    client.force_login(researcher)
    client.post(reverse("benchmarks:create", args=[project.pk]), _form(llm_server, protocols=["single"]))
    run = BenchmarkRun.objects.get(project=project)
    client.post(reverse("benchmarks:run_cancel", args=[project.pk, run.pk]))
    run.refresh_from_db()
    assert run.status == BenchmarkRun.Status.CANCELLED
    client.post(reverse("benchmarks:run_resume", args=[project.pk, run.pk]))
    run.refresh_from_db()
    assert run.status == BenchmarkRun.Status.QUEUED


def test_another_projects_run_is_not_found_and_other_researchers_are_refused(client, project, researcher, finished_run):
    """Run ids are scoped by project (404 under another project); a researcher of another project gets 404 too."""
    other = ProjectFactory(created_by=researcher)
    assert client.get(reverse("benchmarks:run", args=[other.pk, finished_run.pk])).status_code == 404
    assert client.get(reverse("benchmarks_api:benchmark_run", args=[other.pk, finished_run.pk])).status_code == 404
    client.force_login(ResearcherFactory())
    assert client.get(reverse("benchmarks:run", args=[project.pk, finished_run.pk])).status_code == 404
    assert client.get(reverse("benchmarks:run_json", args=[project.pk, finished_run.pk])).status_code == 404


def test_the_api_starts_reads_and_mines_a_run(client, project, researcher, llm_server):
    """POST starts a run (202), GET reads its results once done, a challenge set is made (201) and read; bad input is 400."""
    labelled(project, 8)
    client.force_login(researcher)
    url = reverse("benchmarks_api:benchmark_runs", args=[project.pk])
    bad = client.post(url, {**_form(llm_server), "protocols": ["quadruple"]}, content_type="application/json")
    assert bad.status_code == 400 and "protocols" in bad.json()["errors"]
    bad = client.post(url, {**_form(llm_server), "endpoint_key_env": "sk-abc-def"}, content_type="application/json")
    assert bad.status_code == 400 and "not a registered credential" in bad.json()["detail"]
    created = client.post(url, {**_form(llm_server), "protocols": ["single"]}, content_type="application/json")
    assert created.status_code == 202, created.content
    run_id = created.json()["id"]
    script_run(llm_server, BenchmarkRun.objects.get(pk=run_id))
    benchmark_run_execute(run_id=run_id)
    detail = client.get(reverse("benchmarks_api:benchmark_run", args=[project.pk, run_id])).json()
    assert detail["status"] == "done" and detail["results"]["cells"][0]["srcc"] == pytest.approx(1.0)
    assert client.get(url).json()["count"] == 1
    made = client.post(
        reverse("benchmarks_api:challenge_create", args=[project.pk, run_id]), {"cell": "single:standard", "n_select": 3}, content_type="application/json",
    )
    assert made.status_code == 201 and len(made.json()["image_ids"]) == 3
    read = client.get(reverse("benchmarks_api:challenge_set", args=[project.pk, made.json()["id"]])).json()
    assert read["image_ids"] == made.json()["image_ids"]
    unknown = client.post(
        reverse("benchmarks_api:challenge_create", args=[project.pk, run_id]), {"cell": "double:standard", "n_select": 3}, content_type="application/json",
    )
    assert unknown.status_code == 400 and "no predictions" in unknown.json()["detail"]


def test_the_index_explains_what_a_benchmark_needs_and_offers_trained_versions(client, project, researcher):
    """With no labels the page says how to get them; the form lists only trained critic versions."""
    from modeling.critic.models import CriticVersion

    CriticVersion.objects.create(project=project, number=1, base_model_dir="/x")  # never trained
    CriticVersion.objects.create(project=project, number=2, base_model_dir="/x", status="ready", artifact_sha256="0" * 64)
    client.force_login(researcher)
    page = client.get(reverse("benchmarks:index", args=[project.pk])).content.decode()
    assert "0 labelled images" in page and "needs at least 4" in page
    assert "v2 (ready)" in page and "v1 (" not in page
    assert 'data-testid="benchmark-form"' in page and "csrfmiddlewaretoken" in page


def test_a_full_reference_challenge_set_picks_references_then_their_hardest_images(client, project, researcher, llm_server):
    """Eqs. 3-4: with per_reference=2, two references are chosen and the two hardest distorted images of each, in order."""
    from annotation.models import Image
    from tests.llm_server import Ok

    images = labelled(project, 12)
    for i, image in enumerate(images[3:]):
        Image.objects.filter(pk=image.pk).update(reference=images[i % 3])
    client.force_login(researcher)
    client.post(reverse("benchmarks:create", args=[project.pk]), _form(llm_server, protocols=["single"], subset_size=12))
    run = BenchmarkRun.objects.get(project=project)
    llm_server.script(*[Ok(str((17 * k) % 100)) for k in range(run.n_calls)])  # an expert that is often wrong
    benchmark_run_execute(run_id=run.pk)
    url = reverse("benchmarks_api:challenge_create", args=[project.pk, run.pk])
    made = client.post(url, {"cell": "single:standard", "n_select": 2, "per_reference": 2}, content_type="application/json")
    assert made.status_code == 201, made.content
    items = made.json()["items"]
    assert len(items) == 4 and made.json()["per_reference"] == 2
    references = [item["reference_id"] for item in items]
    assert references[0] == references[1] != references[2] == references[3]
    assert set(references) <= {image.pk for image in images[:3]}
    for first, second in (items[:2], items[2:]):
        assert first["difficulty"] >= second["difficulty"]
    too_many = client.post(url, {"cell": "single:standard", "n_select": 4, "per_reference": 1}, content_type="application/json")
    assert too_many.status_code == 400 and "between 1 and 3 references" in too_many.json()["detail"]
