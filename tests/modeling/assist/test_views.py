"""The researcher's LLM pages and API: revisions with the flag, prompt versions, VQA review and export, usage."""
import json
import uuid

import pytest
from django.urls import reverse

from annotation.models import TextRevision
from annotation.services import revisions
from annotation.services.queue import assignment_next, judgement_submit
from modeling.assist import services as llm_services
from modeling.assist.models import PromptVersion, VQAItem
from modeling.assist.tasks import vqa_generate
from tests.factories import AnnotatorFactory, MembershipFactory, ResearcherFactory
from tests.work_data import work_project

DESCRIPTION = {
    "texture_category": "bricks", "texture_condition": "barely", "overall": "mild",
    "distortions": {"brightness": "undistorted", "color": "mild", "noise": "severe", "artifacts": "undistorted", "blurriness": "mild"},
}
FEEDBACK = {
    "description": "The image is blurry all over and underexposed in the background, with visible noise in the sky.",
    "conclusion": "Poor quality because of the blur and the dark exposure.",
}

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _offline(settings):
    settings.LOUPE_LLM_API_KEY = ""


def _saved(project, annotator, *, total: int, unchanged: int):
    for number in range(total):
        lease = assignment_next(project=project, annotator=annotator).lease
        judgement = judgement_submit(lease_id=lease.pk, annotator=annotator, client_id=uuid.uuid4(), answer=DESCRIPTION).judgement
        revision = TextRevision.objects.get(judgement=judgement)
        revisions.revision_draft_store(revision_id=revision.pk, text="A draft.", model="m", prompt_name="p", prompt_version=1, problems=[])
        final = "A draft." if number < unchanged else "A better draft."
        revisions.revision_save(revision_id=revision.pk, annotator=annotator, final_text=final, time_spent_ms=2000)


@pytest.fixture
def feedback(project, annotator_member):
    work_project(project, kinds=["pathway"], images=1)
    lease = assignment_next(project=project, annotator=annotator_member).lease
    return judgement_submit(lease_id=lease.pk, annotator=annotator_member, client_id=uuid.uuid4(), answer=FEEDBACK).judgement


PAGES = ["modeling:llm_revisions", "modeling:llm_prompts", "modeling:llm_usage", "modeling:llm_vqa", "modeling:llm_vqa_export"]


@pytest.mark.parametrize("name", PAGES)
def test_annotators_get_403(client, project, annotator_member, name):
    client.force_login(annotator_member)
    assert client.get(reverse(name, args=[project.pk])).status_code == 403


@pytest.mark.parametrize("name", PAGES)
def test_the_managing_researcher_opens_every_page(client, project, researcher, name):
    client.force_login(researcher)
    assert client.get(reverse(name, args=[project.pk])).status_code == 200


def test_the_project_tabs_link_to_the_llm_pages(client, project, researcher):
    client.force_login(researcher)
    html = client.get(reverse("annotation:project_detail", args=[project.pk])).content.decode()
    assert reverse("modeling:llm_revisions", args=[project.pk]) in html


def test_the_revisions_page_flags_who_accepts_drafts_unchanged(client, project, researcher):
    """The copier is flagged (share above 0.5 and above peers' median + 2×MAD, ≥ 10 drafts); the rule is stated."""
    work_project(project, kinds=["description"], images=10, overlap=3)
    users = [AnnotatorFactory(username=name) for name in ("copier", "peer1", "peer2")]
    for user in users:
        MembershipFactory(project=project, user=user)
    _saved(project, users[0], total=10, unchanged=10)
    _saved(project, users[1], total=10, unchanged=1)
    _saved(project, users[2], total=10, unchanged=0)
    client.force_login(researcher)
    html = client.get(reverse("modeling:llm_revisions", args=[project.pk])).content.decode()
    assert 'data-annotator="copier" class="flagged" data-flagged' in html
    assert 'data-annotator="peer1" class="flagged"' not in html
    assert "median absolute deviation" in html
    assert "A better draft." in html  # the revisions themselves, draft beside final text
    stats = client.get(reverse("api:revision_stats", args=[project.pk])).json()
    assert [row["username"] for row in stats if row["flagged"]] == ["copier"]


def test_a_new_prompt_version_from_the_page(client, project, researcher):
    client.force_login(researcher)
    url = reverse("modeling:llm_prompt_new", args=[project.pk, "description_paragraph"])
    form = client.get(url)
    assert form.status_code == 200 and "Plants or foliage" in form.content.decode()  # the examples, pre-filled
    base = llm_services.prompt_active(project=project, name="description_paragraph").to_dict()
    data = {
        "system": base["system"], "instruction": "Write the paragraph.", "examples": json.dumps(base["examples"]),
        "rules": json.dumps(base["rules"]), "temperature": "0.3", "max_tokens": "500", "note": "shorter instruction", "activate": "on",
    }
    response = client.post(url, data)
    assert response.status_code == 302
    row = PromptVersion.objects.get()
    assert (row.version, row.active, row.created_by) == (2, True, researcher)
    assert llm_services.prompt_active(project=project, name="description_paragraph").instruction == "Write the paragraph."
    page = client.get(reverse("modeling:llm_prompts", args=[project.pk])).content.decode()
    assert "shorter instruction" in page
    # Back to the built-in version, then this one again.
    client.post(reverse("modeling:llm_prompts", args=[project.pk]), {"name": "description_paragraph", "version_id": ""})
    assert llm_services.prompt_active(project=project, name="description_paragraph").version == 1
    client.post(reverse("modeling:llm_prompts", args=[project.pk]), {"name": "description_paragraph", "version_id": str(row.pk)})
    assert llm_services.prompt_active(project=project, name="description_paragraph").version == 2


def test_bad_prompt_json_is_refused_with_a_message(client, project, researcher):
    client.force_login(researcher)
    url = reverse("modeling:llm_prompt_new", args=[project.pk, "description_paragraph"])
    response = client.post(url, {"instruction": "x", "examples": "[[", "rules": "{}", "temperature": "0.2", "max_tokens": "100"})
    assert response.status_code == 400 and "Not valid JSON" in response.content.decode()
    response = client.post(url, {"instruction": "x", "examples": "[]", "rules": '{"nope": true}', "temperature": "0.2", "max_tokens": "100"})
    assert response.status_code == 400 and "unknown output rules" in response.content.decode()
    assert not PromptVersion.objects.exists()


def test_vqa_generate_review_and_export_from_the_page(client, project, researcher, feedback, monkeypatch, django_capture_on_commit_callbacks):
    """Pick feedback → generate (enqueued) → accept, edit, reject → the JSONL holds the accepted and edited items."""
    enqueued = []
    monkeypatch.setattr(vqa_generate, "delay", lambda project_id, ids: enqueued.append((project_id, ids)))
    client.force_login(researcher)
    page = client.get(reverse("modeling:llm_vqa", args=[project.pk])).content.decode()
    assert 'data-testid="offline-note"' in page and f'value="{feedback.pk}"' in page
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(reverse("modeling:llm_vqa", args=[project.pk]), {"judgement_ids": [str(feedback.pk)]})
    assert response.status_code == 302 and enqueued == [(project.pk, [feedback.pk])]
    vqa_generate.apply(args=enqueued[0])  # what the worker does
    items = list(VQAItem.objects.order_by("id"))
    assert len(items) >= 2
    listing = client.get(reverse("modeling:llm_vqa", args=[project.pk])).content.decode()
    assert f'data-vqa-item="{items[0].pk}"' in listing
    review = lambda item, **data: client.post(reverse("modeling:llm_vqa_review", args=[project.pk, item.pk]), data)  # noqa: E731
    assert review(items[0], action="accept").status_code == 302
    review(items[1], action="edit", question="Is the photo blurry?", answer="yes")
    for item in items[2:]:
        review(item, action="reject")
    bad = review(items[0], action="edit", question="Is it?", answer="maybe")  # not yes/no: refused, unchanged
    assert bad.status_code == 302
    assert VQAItem.objects.get(pk=items[0].pk).status == "accepted"
    export = client.get(reverse("modeling:llm_vqa_export", args=[project.pk]))
    assert export["Content-Disposition"].endswith('-vqa.jsonl"')
    lines = [json.loads(line) for line in b"".join(export.streaming_content).decode().splitlines()]
    assert [line["id"] for line in lines] == [items[0].pk, items[1].pk]
    assert lines[1]["question"] == "Is the photo blurry?"


def test_vqa_api(client, project, researcher, feedback, monkeypatch, django_capture_on_commit_callbacks):
    enqueued = []
    monkeypatch.setattr(vqa_generate, "delay", lambda project_id, ids: enqueued.append(ids))
    client.force_login(researcher)
    url = reverse("api:vqa_list", args=[project.pk])
    with django_capture_on_commit_callbacks(execute=True):
        assert client.post(url, {"judgement_ids": [feedback.pk]}, content_type="application/json").status_code == 202
    assert enqueued == [[feedback.pk]]
    llm_services.vqa_generate(project=project, judgement_ids=[feedback.pk])
    body = client.get(url, {"status": "proposed"}).json()
    assert body["count"] >= 2 and body["results"][0]["kind"] == "yes_no"
    item_id = body["results"][0]["id"]
    review = client.post(reverse("api:vqa_review", args=[project.pk, item_id]), {"action": "accept"}, content_type="application/json")
    assert review.status_code == 200 and review.json()["status"] == "accepted"
    missing = client.post(reverse("api:vqa_review", args=[project.pk, 999999]), {"action": "accept"}, content_type="application/json")
    assert missing.status_code == 404
    export = client.get(reverse("api:vqa_export", args=[project.pk]))
    assert [json.loads(line)["id"] for line in b"".join(export.streaming_content).decode().splitlines()] == [item_id]


def test_another_projects_researcher_cannot_review(client, project, feedback):
    llm_services.vqa_generate(project=project, judgement_ids=[feedback.pk])
    item = VQAItem.objects.first()
    client.force_login(ResearcherFactory())
    assert client.post(reverse("modeling:llm_vqa_review", args=[project.pk, item.pk]), {"action": "accept"}).status_code == 404
    item.refresh_from_db()
    assert item.status == "proposed"


def test_usage_page_shows_the_offline_drafter(client, project, researcher, annotator_member):
    work_project(project, kinds=["description"], images=1)
    lease = assignment_next(project=project, annotator=annotator_member).lease
    judgement = judgement_submit(lease_id=lease.pk, annotator=annotator_member, client_id=uuid.uuid4(), answer=DESCRIPTION).judgement
    llm_services.draft_for_revision(TextRevision.objects.get(judgement=judgement).pk)
    client.force_login(researcher)
    html = client.get(reverse("modeling:llm_usage", args=[project.pk])).content.decode()
    assert "loupe-template-drafter" in html and 'data-testid="usage-table"' in html
