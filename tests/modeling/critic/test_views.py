"""The Critic pages and API: who may use them, and what retrain, promote, rollback and cancel do."""
import pytest
from django.urls import reverse

from modeling.critic.models import CriticVersion
from tests.factories import AnnotatorFactory
from tests.work_data import project_images


def _finished(project, number, *, status=CriticVersion.Status.READY, srcc=0.61, n=12, **fields):
    return CriticVersion.objects.create(
        project=project, number=number, status=status, base_model_dir="/x", artifact_sha256="0" * 64,
        metrics={"evaluated": True, "n_heldout_images": n, "scaling": {"n": n, "srcc": srcc, "plcc": 0.7},
                 "mos": {"n": 0, "srcc": None, "plcc": None}, "pairwise": {"n": 3, "accuracy": 0.67},
                 "demo_hidden_severity": {"n": n, "srcc": 0.55, "plcc": None, "note": "demo only"}},
        **fields,
    )


@pytest.fixture
def no_enqueue(monkeypatch):
    from modeling.selection import tasks
    from modeling.critic import tasks as tasks_critic

    calls = []
    for task in (tasks_critic.critic_retrain, tasks_critic.critic_score_pool, tasks.pair_queue_refill, tasks.pair_queue_replan):
        monkeypatch.setattr(task, "delay", lambda *a, name=task.name: calls.append((name, a)))
    return calls


@pytest.mark.parametrize("name", ["index", "retrain", "rollback"])
def test_annotators_get_403_on_critic_pages(client, project, annotator_member, name):
    """Annotators are refused every critic page: members 403, others 404 (as for no such project)."""
    client.force_login(annotator_member)
    url = reverse(f"critic:{name}", kwargs={"project_id": project.pk})
    assert client.get(url).status_code == 403 and client.post(url).status_code == 403
    client.force_login(AnnotatorFactory())
    assert client.get(url).status_code == 404


def test_page_lists_versions_with_metrics_and_actions(client, project, researcher):
    """The versions table shows status, held-out metrics, the demo-only label and the Promote button."""
    _finished(project, 1)
    client.force_login(researcher)
    response = client.get(reverse("critic:index", kwargs={"project_id": project.pk}))
    text = response.content.decode()
    assert response.status_code == 200
    assert "v1" in text and "SRCC 0.610" in text and "demo severity" in text and "Promote" in text
    assert 'aria-current="page">Critic' in text


def test_retrain_button_queues_one_version_and_page_polls(client, project, researcher, settings, tmp_path, no_enqueue, django_capture_on_commit_callbacks):
    """Retrain queues a version (once, however often pressed) and the page then polls its live part."""
    settings.LOUPE_CRITIC_DIR = tmp_path
    client.force_login(researcher)
    url = reverse("critic:retrain", kwargs={"project_id": project.pk})
    with django_capture_on_commit_callbacks(execute=True):
        assert client.post(url).status_code == 302
        client.post(url)
    version = CriticVersion.objects.get(project=project)
    assert version.status == CriticVersion.Status.QUEUED and version.created_by == researcher
    assert no_enqueue == [("modeling.critic_retrain", (version.pk,))]
    partial = client.get(reverse("critic:index", kwargs={"project_id": project.pk}), headers={"HX-Request": "true"})
    assert 'hx-trigger="every 1s"' in partial.content.decode() and "<html" not in partial.content.decode()


def test_promote_rollback_and_refusals_through_the_pages(client, project, researcher, no_enqueue):
    """Promote activates and asks for scores; rollback restores the previous; a failed version is refused with a message."""
    project_images(project, 2)
    first, second = _finished(project, 1), _finished(project, 2)
    failed = CriticVersion.objects.create(project=project, number=3, status=CriticVersion.Status.FAILED, base_model_dir="/x", error="boom")
    client.force_login(researcher)
    kwargs = {"project_id": project.pk}
    for version in (first, second):
        client.post(reverse("critic:promote", kwargs={**kwargs, "version_id": version.pk}))
    assert CriticVersion.objects.get(status="active") == second
    response = client.post(reverse("critic:promote", kwargs={**kwargs, "version_id": failed.pk}), follow=True)
    assert "only a finished and evaluated version" in response.content.decode()
    client.post(reverse("critic:rollback", kwargs=kwargs))
    assert CriticVersion.objects.get(status="active") == first
    detail = client.get(reverse("critic:version", kwargs={**kwargs, "version_id": first.pk}))
    assert detail.status_code == 200 and "demo only" in detail.content.decode()


def test_version_of_another_project_is_404(client, project, researcher):
    """A version id from another project is not found under this one."""
    from tests.factories import ProjectFactory

    other = _finished(ProjectFactory(), 1)
    client.force_login(researcher)
    assert client.get(reverse("critic:version", kwargs={"project_id": project.pk, "version_id": other.pk})).status_code == 404


def test_api_lists_retrains_promotes_and_cancels(client, project, researcher, settings, tmp_path, no_enqueue):
    """The API: versions page, 202 on retrain, 400 on promoting an unfinished version, cancel of a queued one."""
    settings.LOUPE_CRITIC_DIR = tmp_path
    client.force_login(researcher)
    kwargs = {"project_id": project.pk}
    response = client.post(reverse("critic_api:critic_retrain", kwargs=kwargs))
    assert response.status_code == 202 and response.json()["status"] == "queued"
    version_id = response.json()["id"]
    listing = client.get(reverse("critic_api:critic_versions", kwargs=kwargs)).json()
    assert listing["count"] == 1 and listing["results"][0]["id"] == version_id
    promote = client.post(reverse("critic_api:critic_promote", kwargs={**kwargs, "version_id": version_id}))
    assert promote.status_code == 400 and "evaluated" in promote.json()["detail"]
    cancel = client.post(reverse("critic_api:critic_cancel", kwargs={**kwargs, "version_id": version_id}))
    assert cancel.status_code == 200 and cancel.json()["status"] == "cancelled"
    ready = _finished(project, 9)
    assert client.post(reverse("critic_api:critic_promote", kwargs={**kwargs, "version_id": ready.pk})).json()["status"] == "active"


def test_api_refuses_annotators(client, project, annotator_member):
    """Annotators get 403 from the critic API."""
    client.force_login(annotator_member)
    assert client.get(reverse("critic_api:critic_versions", kwargs={"project_id": project.pk})).status_code == 403


def test_metrics_on_too_few_images_read_too_few_to_judge(client, project, researcher):
    """A held-out metric on fewer than 10 images (or pairs) is shown as "too few to judge", not as a number;
    the API still carries the number with its n."""
    version = _finished(project, 1, srcc=0.91, n=7)
    client.force_login(researcher)
    kwargs = {"project_id": project.pk}
    index = client.get(reverse("critic:index", kwargs=kwargs)).content.decode()
    assert "0.910" not in index and "SRCC too few to judge (n=7)" in index and "pairs too few to judge (n=3)" in index
    page = client.get(reverse("critic:version", kwargs={**kwargs, "version_id": version.pk})).content.decode()
    table = page.split('data-testid="critic-metrics"', 1)[1].split("</table>", 1)[0]
    assert "0.910" not in table and table.count("too few to judge") >= 3
    api = client.get(reverse("critic_api:critic_versions", kwargs=kwargs)).json()["results"][0]["metrics"]
    assert api["scaling"] == {"n": 7, "srcc": 0.91, "plcc": 0.7}


def test_held_out_srcc_shows_its_interval(client, project, researcher):
    """On enough images an SRCC carries its 95 % interval (evaluation.metrics.srcc_interval); on too few, none."""
    version = _finished(project, 1, srcc=0.5, n=37)
    client.force_login(researcher)
    page = client.get(reverse("critic:version", kwargs={"project_id": project.pk, "version_id": version.pk})).content.decode()
    table = page.split('data-testid="critic-metrics"', 1)[1].split("</table>", 1)[0]
    assert table.count('data-testid="srcc-ci"') == 2 and "95 % CI 0.19 to 0.72" in table  # scaling and hidden severity; no MOS
    few = _finished(project, 2, srcc=0.5, n=7)
    page = client.get(reverse("critic:version", kwargs={"project_id": project.pk, "version_id": few.pk})).content.decode()
    assert 'data-testid="srcc-ci"' not in page


def test_promote_of_a_worse_version_asks_for_confirmation_on_the_page(client, project, researcher, no_enqueue):
    """Promoting a version worse than the active one (on enough held-out images) shows a confirm step naming the
    metric and changes nothing; "Promote anyway" (confirm=1) promotes it. A worse one on too few images needs no confirm."""
    project_images(project, 2)
    active, worse = _finished(project, 1, srcc=0.61), _finished(project, 2, srcc=0.30)
    client.force_login(researcher)
    kwargs = {"project_id": project.pk}
    client.post(reverse("critic:promote", kwargs={**kwargs, "version_id": active.pk}))
    url = reverse("critic:promote", kwargs={**kwargs, "version_id": worse.pk})
    response = client.post(url, headers={"HX-Request": "true"})
    text = response.content.decode()
    assert response.status_code == 200 and 'data-testid="confirm-promote"' in text
    assert "SRCC vs scaled scores 0.300 against v1&#x27;s 0.610 (n=12)" in text and 'name="confirm" value="1"' in text
    assert CriticVersion.objects.get(status="active") == active
    assert client.post(url).status_code == 409  # the same step as a whole page without htmx
    client.post(url, {"confirm": "1"})
    assert CriticVersion.objects.get(status="active") == worse
    few = _finished(project, 3, srcc=0.1, n=8)
    client.post(reverse("critic:promote", kwargs={**kwargs, "version_id": few.pk}))
    assert CriticVersion.objects.get(status="active") == few


def test_api_promote_of_a_worse_version_needs_confirm(client, project, researcher, no_enqueue):
    """The API answers 409 `confirmation_required` with the worse metrics, changes nothing, and promotes with confirm."""
    project_images(project, 2)
    active, worse = _finished(project, 1, srcc=0.61), _finished(project, 2, srcc=0.30)
    client.force_login(researcher)
    kwargs = {"project_id": project.pk}
    assert client.post(reverse("critic_api:critic_promote", kwargs={**kwargs, "version_id": active.pk})).status_code == 200
    url = reverse("critic_api:critic_promote", kwargs={**kwargs, "version_id": worse.pk})
    refused = client.post(url, {}, content_type="application/json")
    body = refused.json()
    assert refused.status_code == 409 and body["code"] == "confirmation_required" and "worse than the active v1" in body["detail"]
    assert body["errors"]["non_field_errors"] == ["SRCC vs scaled scores 0.300 against v1's 0.610 (n=12)"]
    assert CriticVersion.objects.get(status="active") == active
    bad = client.post(url, {"confirm": "perhaps"}, content_type="application/json")
    assert bad.status_code == 400 and bad.json()["code"] == "invalid" and "confirm" in bad.json()["errors"]
    promoted = client.post(url, {"confirm": True}, content_type="application/json")
    assert promoted.status_code == 200 and promoted.json()["status"] == "active"


def test_retrain_by_htmx_shows_its_message_in_place_and_leaves_no_stale_flash(client, project, researcher, settings, tmp_path, no_enqueue):
    """Retrain pressed on the page (htmx) shows "Critic v1 is queued" in the live part; the next full page (the
    Annotation settings) does not show it again (issue 17, bug 10)."""
    settings.LOUPE_CRITIC_DIR = tmp_path
    client.force_login(researcher)
    partial = client.post(reverse("critic:retrain", kwargs={"project_id": project.pk}), headers={"HX-Request": "true"})
    assert "Critic v1 is queued; this page follows it." in partial.content.decode()
    later = client.get(reverse("annotation:project_annotation_settings", kwargs={"project_id": project.pk}))
    assert "this page follows it" not in later.content.decode()
def test_version_page_shows_the_global_batch_and_a_resume(client, project, researcher):
    """The version page spells out the global batch (per process × processes × accumulation) and where it resumed."""
    version = _finished(project, 1, training_settings={
        "optimisation": {"batch_size": 2}, "scale": {"processes": 2, "global_batch_size": 8, "gradient_accumulation_steps": 2},
    })
    version.metrics = {**version.metrics, "resumed_from_step": 200}
    version.save(update_fields=["metrics"])
    client.force_login(researcher)
    text = client.get(reverse("critic:version", kwargs={"project_id": project.pk, "version_id": version.pk})).content.decode()
    assert "global batch 8 = 2 per process × 2 processes × 2 accumulated; resumed from step 200" in text


def test_progress_names_the_stage_of_a_stage_wise_run(client, project, researcher):
    """A training version's live progress shows its stage before the step count."""
    from django.utils import timezone

    from config.processes import worker_identity

    CriticVersion.objects.create(
        project=project, number=1, status=CriticVersion.Status.TRAINING, base_model_dir="/x", step=42, total_steps=102,
        stage="stage 2/3 absolute: step 40/100", heartbeat_at=timezone.now(), worker=worker_identity(),
    )
    client.force_login(researcher)
    text = client.get(reverse("critic:index", kwargs={"project_id": project.pk})).content.decode()
    assert "stage 2/3 absolute: step 40/100 · step 42/102" in text
