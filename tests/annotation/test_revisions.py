"""Text revisions: created with description and reasoning judgements, drafted elsewhere, saved by their owner only."""
import uuid

import pytest
from django.core.exceptions import ValidationError
from django.urls import reverse

from annotation.models import Judgement, TextRevision
from annotation.services import revisions
from annotation.services.queue import assignment_next, judgement_submit
from annotation.signals import draft_requested
from tests.factories import AnnotatorFactory, MembershipFactory
from tests.work_data import work_project

DESCRIPTION = {
    "texture_category": "bricks", "texture_condition": "barely", "overall": "mild",
    "distortions": {"brightness": "undistorted", "color": "mild", "noise": "severe", "artifacts": "undistorted", "blurriness": "mild"},
}
REASONING = {
    "texture_category": "faces", "texture_a": "clear", "texture_b": "barely", "overall": "a_better",
    "distortions": {"brightness": "a_much_less", "color": "equal", "noise": "equal", "artifacts": "equal", "blurriness": "a_less"},
}


def _answer(project, annotator, answer, **extra):
    lease = assignment_next(project=project, annotator=annotator).lease
    return judgement_submit(lease_id=lease.pk, annotator=annotator, client_id=uuid.uuid4(), answer=answer, **extra).judgement


@pytest.fixture
def described(project, annotator_member):
    """A description judgement by the annotator member, and its revision (still drafting)."""
    work_project(project, kinds=["description"], images=2)
    judgement = _answer(project, annotator_member, DESCRIPTION)
    return TextRevision.objects.get(judgement=judgement)


def _ready(revision, text="Overall, this image shows mild distortion, with severe noise.", problems=()):
    return revisions.revision_draft_store(
        revision_id=revision.pk, text=text, model="fake-vision-1", prompt_name="description_paragraph", prompt_version=1,
        problems=list(problems),
    )


# --------------------------------------------------------------------------------------------- creation


def test_a_description_judgement_gets_a_drafting_revision(described, annotator_member, project):
    """Submitting a description questionnaire writes a revision in "drafting", owned by the annotator."""
    assert described.status == TextRevision.Status.DRAFTING
    assert described.annotator == annotator_member and described.project == project
    assert described.draft == "" and described.final_text == ""


def test_draft_requested_is_sent_once_the_judgement_commits(project, annotator_member, django_capture_on_commit_callbacks):
    """The signal goes out on commit, with the project and the new revision."""
    work_project(project, kinds=["description"], images=1)
    received = []

    def receiver(sender, **kwargs):
        received.append(kwargs)

    draft_requested.connect(receiver)
    try:
        with django_capture_on_commit_callbacks(execute=True):
            judgement = _answer(project, annotator_member, DESCRIPTION)
    finally:
        draft_requested.disconnect(receiver)
    assert len(received) == 1
    assert received[0]["revision"].judgement_id == judgement.pk and received[0]["project"] == project


def test_a_pair_with_reasoning_gets_a_revision_in_screen_terms(project, annotator_member):
    """A comparison with the reasoning questionnaire is drafted from the answer as the annotator saw it (A = left)."""
    work_project(project, kinds=["pair"], images=3, pair_reasoning=True)
    judgement = _answer(project, annotator_member, {"choice": "a", "reasoning": REASONING})
    revision = TextRevision.objects.get(judgement=judgement)
    task, answer = revisions.revision_questionnaire(revision=revision)
    assert task == "comparison"
    assert answer == {**REASONING, "choice": "a"}  # screen terms, whatever the swap was


@pytest.mark.parametrize(
    "kinds, answer, settings_",
    [
        (["rating"], {"level": 3}, {}),
        (["pathway"], {"description": "Strong blur over the whole frame and noise in the sky.", "conclusion": "Poor quality overall."}, {}),
        (["pair"], {"choice": "b"}, {}),
    ],
)
def test_other_judgements_get_no_revision(project, annotator_member, kinds, answer, settings_):
    """Ratings, pathway feedback and comparisons without reasoning are not drafted."""
    work_project(project, kinds=kinds, images=3, **settings_)
    _answer(project, annotator_member, answer)
    assert Judgement.objects.count() == 1
    assert not TextRevision.objects.exists()


def test_a_resubmission_makes_no_second_revision(project, annotator_member):
    """The same client_id twice: one judgement, one revision."""
    work_project(project, kinds=["description"], images=2)
    lease = assignment_next(project=project, annotator=annotator_member).lease
    client_id = uuid.uuid4()
    first = judgement_submit(lease_id=lease.pk, annotator=annotator_member, client_id=client_id, answer=DESCRIPTION)
    again = judgement_submit(lease_id=lease.pk, annotator=annotator_member, client_id=client_id, answer=DESCRIPTION)
    assert not again.created and again.judgement.pk == first.judgement.pk
    assert TextRevision.objects.count() == 1


def test_the_template_drafter_name_matches_the_core():
    """annotation labels offline drafts by the name the (Django-free) template drafter signs them with."""
    from modeling.assist.core.template_drafter import TEMPLATE_DRAFTER_MODEL

    assert revisions.TEMPLATE_DRAFTER_MODEL == TEMPLATE_DRAFTER_MODEL


# ----------------------------------------------------------------------------------------------- saving


def test_the_owner_saves_an_edited_draft(described, annotator_member):
    """The final text, its Levenshtein distance from the draft and the time spent are stored."""
    _ready(described, text="A mild image.")
    saved = revisions.revision_save(revision_id=described.pk, annotator=annotator_member, final_text="  A mild photo. ", time_spent_ms=4200)
    assert saved.status == TextRevision.Status.SAVED
    assert saved.final_text == "A mild photo."
    assert saved.edit_distance == 5  # "image" -> "photo": five substitutions
    assert not saved.accepted_unchanged
    assert saved.time_spent_ms == 4200 and saved.saved_at is not None


def test_saving_the_draft_as_it_is_counts_as_accepted_unchanged(described, annotator_member):
    _ready(described, text="A mild image.")
    saved = revisions.revision_save(revision_id=described.pk, annotator=annotator_member, final_text="A mild image.")
    assert saved.accepted_unchanged and saved.edit_distance == 0


def test_a_paragraph_written_without_the_draft_has_no_edit_distance(described, annotator_member):
    """Writing it yourself (no draft shown) is not compared with a draft the annotator never saw."""
    _ready(described, text="A mild image.")
    saved = revisions.revision_save(revision_id=described.pk, annotator=annotator_member, final_text="My own words.", draft_shown=False)
    assert saved.edit_distance is None and not saved.accepted_unchanged


def test_another_annotator_cannot_save_or_see_it(described, project):
    """To anyone but the owner the revision does not exist, and nothing changes."""
    other = AnnotatorFactory()
    MembershipFactory(project=project, user=other)
    with pytest.raises(revisions.RevisionNotFound):
        revisions.revision_save(revision_id=described.pk, annotator=other, final_text="Not mine.")
    with pytest.raises(revisions.RevisionNotFound):
        revisions.revision_of_annotator(revision_id=described.pk, annotator=other)
    described.refresh_from_db()
    assert described.status == TextRevision.Status.DRAFTING and described.final_text == ""


@pytest.mark.parametrize("text", ["", "   \n ", "x" * (revisions.REVISION_TEXT_MAX_CHARS + 1)])
def test_an_empty_or_too_long_text_is_refused_and_nothing_is_written(described, annotator_member, text):
    _ready(described)
    with pytest.raises(ValidationError) as error:
        revisions.revision_save(revision_id=described.pk, annotator=annotator_member, final_text=text)
    assert "final_text" in error.value.message_dict
    described.refresh_from_db()
    assert described.status == TextRevision.Status.DRAFT_READY and described.final_text == ""
    assert described.judgement.answer == DESCRIPTION


def test_a_late_draft_leaves_a_saved_revision_alone(described, annotator_member):
    """The annotator wrote it themself before the draft came: the draft does not overwrite anything."""
    revisions.revision_save(revision_id=described.pk, annotator=annotator_member, final_text="My own words.")
    _ready(described)
    revisions.revision_draft_failed(revision_id=described.pk, message="Too late.")
    described.refresh_from_db()
    assert described.status == TextRevision.Status.SAVED and described.final_text == "My own words." and described.draft == ""


def test_a_failed_draft_keeps_the_message_and_the_answers(described):
    revisions.revision_draft_failed(revision_id=described.pk, message="The text assistant is unavailable right now.")
    described.refresh_from_db()
    assert described.status == TextRevision.Status.DRAFT_FAILED
    assert described.draft_error == "The text assistant is unavailable right now."
    assert described.judgement.answer == DESCRIPTION


# ------------------------------------------------------------------------------------------ the work page


def _htmx(client, method, url, data=None):
    return getattr(client, method)(url, data or {}, HTTP_HX_REQUEST="true")


def test_submitting_a_description_shows_the_draft_box(client, project, annotator_member):
    """The submit endpoint answers with the draft box (waiting), not the next item; polling says 204 until ready."""
    work_project(project, kinds=["description"], images=2)
    client.force_login(annotator_member)
    lease = assignment_next(project=project, annotator=annotator_member).lease
    data = {"lease_id": lease.pk, "client_id": str(uuid.uuid4()), "texture_category": "bricks", "texture_condition": "barely",
            "overall": "mild", **{f"distortion_{k}": v for k, v in DESCRIPTION["distortions"].items()}}
    response = _htmx(client, "post", reverse("annotation:annotate_submit", args=[project.pk]), data)
    assert response.status_code == 200, response.content.decode()[:500]
    html = response.content.decode()
    assert 'data-state="revision"' in html and 'data-testid="draft-waiting"' in html and 'data-testid="write-own"' in html
    revision = TextRevision.objects.get()
    poll = _htmx(client, "get", reverse("annotation:revision_panel", args=[project.pk, revision.pk]) + "?poll=1")
    assert poll.status_code == 204
    _ready(revision)
    ready = _htmx(client, "get", reverse("annotation:revision_panel", args=[project.pk, revision.pk]) + "?poll=1")
    assert ready.status_code == 200
    assert "Overall, this image shows mild distortion, with severe noise.</textarea>" in ready.content.decode()
    assert "fake-vision-1" in ready.content.decode()


def test_the_item_view_shows_an_unsaved_draft_before_the_next_item(client, described, annotator_member, project):
    """Reloading the page brings back the draft box, so a paragraph is not skipped by accident."""
    client.force_login(annotator_member)
    response = _htmx(client, "get", reverse("annotation:annotate_item", args=[project.pk]))
    assert f'data-revision="{described.pk}"' in response.content.decode()


def test_the_template_drafter_label_and_rule_problems_are_shown(client, described, annotator_member, project):
    revisions.revision_draft_store(
        revision_id=described.pk, text="Overall 5 out of 5.", model=revisions.TEMPLATE_DRAFTER_MODEL,
        prompt_name="description_paragraph", prompt_version=1, problems=["contains digits (5), which this prompt forbids"],
    )
    client.force_login(annotator_member)
    html = _htmx(client, "get", reverse("annotation:revision_panel", args=[project.pk, described.pk])).content.decode()
    assert "Written by the offline template drafter" in html
    assert "contains digits (5), which this prompt forbids" in html


def test_a_failed_draft_shows_the_error_and_an_empty_box(client, described, annotator_member, project):
    revisions.revision_draft_failed(revision_id=described.pk, message="The text assistant did not answer in time.")
    client.force_login(annotator_member)
    html = _htmx(client, "get", reverse("annotation:revision_panel", args=[project.pk, described.pk])).content.decode()
    assert 'data-testid="draft-error"' in html and "The text assistant did not answer in time." in html
    assert '"revision-text"></textarea>' in html


def test_saving_on_the_page_brings_the_next_item(client, described, annotator_member, project):
    _ready(described, text="A mild image.")
    client.force_login(annotator_member)
    url = reverse("annotation:revision_save", args=[project.pk, described.pk])
    response = _htmx(client, "post", url, {"final_text": "A mild photo.", "time_spent_ms": "1234.5", "draft_shown": "1"})
    assert response.status_code == 200
    assert 'data-testid="work-item"' in response.content.decode()
    described.refresh_from_db()
    assert described.final_text == "A mild photo." and described.edit_distance == 5 and described.time_spent_ms == 1234


def test_saving_an_empty_text_on_the_page_is_refused(client, described, annotator_member, project):
    _ready(described)
    client.force_login(annotator_member)
    response = _htmx(client, "post", reverse("annotation:revision_save", args=[project.pk, described.pk]), {"final_text": "  ", "draft_shown": "1"})
    assert response.status_code == 422
    assert 'data-testid="revision-errors"' in response.content.decode()
    described.refresh_from_db()
    assert described.status == TextRevision.Status.DRAFT_READY


def test_another_annotator_gets_404_on_the_page(client, described, project):
    other = AnnotatorFactory()
    MembershipFactory(project=project, user=other)
    client.force_login(other)
    assert _htmx(client, "get", reverse("annotation:revision_panel", args=[project.pk, described.pk])).status_code == 404
    response = _htmx(client, "post", reverse("annotation:revision_save", args=[project.pk, described.pk]), {"final_text": "Mine now."})
    assert response.status_code == 404
    described.refresh_from_db()
    assert described.final_text == ""


# ---------------------------------------------------------------------------------------------- the API


def test_api_owner_reads_and_saves(client, described, annotator_member):
    """GET shows the status and draft; POST saves; the body says what was stored."""
    client.force_login(annotator_member)
    url = reverse("api:revision", args=[described.pk])
    assert client.get(url).json()["status"] == "drafting"
    _ready(described, text="A mild image.")
    body = client.get(url).json()
    assert body["status"] == "draft_ready" and body["draft"] == "A mild image." and not body["written_by_template_drafter"]
    saved = client.post(url, {"final_text": "A mild image.", "time_spent_ms": 900}, content_type="application/json")
    assert saved.status_code == 200
    assert saved.json()["accepted_unchanged"] is True and saved.json()["status"] == "saved"


def test_api_another_annotator_gets_404(client, described, project):
    other = AnnotatorFactory()
    MembershipFactory(project=project, user=other)
    client.force_login(other)
    url = reverse("api:revision", args=[described.pk])
    assert client.get(url).status_code == 404
    assert client.post(url, {"final_text": "Mine."}, content_type="application/json").status_code == 404


def test_api_empty_text_is_400_and_nothing_is_written(client, described, annotator_member):
    _ready(described)
    client.force_login(annotator_member)
    response = client.post(reverse("api:revision", args=[described.pk]), {"final_text": ""}, content_type="application/json")
    assert response.status_code == 400
    assert response.json()["code"] == "invalid" and "final_text" in response.json()["errors"]
    described.refresh_from_db()
    assert described.status == TextRevision.Status.DRAFT_READY and described.final_text == ""


def test_api_revision_list_shows_annotators_their_own(client, described, annotator_member, researcher, project):
    """An annotator finds the revision of their judgement; another annotator sees none of it; the researcher sees all."""
    url = reverse("api:revision_list", args=[project.pk])
    client.force_login(annotator_member)
    body = client.get(url, {"judgement": described.judgement_id}).json()
    assert [row["id"] for row in body["results"]] == [described.pk]
    other = AnnotatorFactory()
    MembershipFactory(project=project, user=other)
    client.force_login(other)
    assert client.get(url).json()["count"] == 0
    client.force_login(researcher)
    assert client.get(url, {"status": "drafting"}).json()["count"] == 1
