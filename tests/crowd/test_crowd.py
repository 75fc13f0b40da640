"""Crowd entry links: participants come in by the public URL with their platform ids, work, get the completion code;
the researcher sets the link up, sees quality control's verdict, and approves or rejects (rejecting excludes)."""
import csv
import io
import os
import uuid

import pytest
from django.test import Client, override_settings
from django.urls import reverse

from annotation.models import ExclusionEvent, Judgement, Membership
from annotation.services import queue
from crowd.models import CrowdJudgement, CrowdParticipant
from crowd.services import crowd_link_update
from tests.factories import AnnotatorFactory
from tests.work_data import work_project

HTMX = {"HTTP_HX_REQUEST": "true"}
PROLIFIC = {"PROLIFIC_PID": "5f8a9c0b1d2e3f4a5b6c7d8e", "STUDY_ID": "study1", "SESSION_ID": "sess1"}


@pytest.fixture
def crowd_project(project):
    work_project(project, kinds=["rating"], images=4)
    link = crowd_link_update(project=project, enabled=True, platform="prolific", items_required=2, completion_code="C0DE42")
    return project, link


def _entry(link) -> str:
    return reverse("crowd:entry", kwargs={"token": link.token})


def _enter(client, link, params=PROLIFIC):
    return client.post(_entry(link), params)


def _rate(client, project, level=4):
    lease = client.get(reverse("annotation:annotate_item", kwargs={"project_id": project.pk}), **HTMX).context["lease"]
    data = {"lease_id": lease.pk, "client_id": str(uuid.uuid4()), "level": str(level)}
    return client.post(reverse("annotation:annotate_submit", kwargs={"project_id": project.pk}), data, **HTMX)


def test_opening_the_link_shows_the_start_button_and_makes_nothing(client, crowd_project):
    """GET only shows who you take part as; no account exists until Start is pressed."""
    project, link = crowd_project
    response = client.get(_entry(link), PROLIFIC)
    assert response.status_code == 200
    assert PROLIFIC["PROLIFIC_PID"] in response.content.decode()
    assert not CrowdParticipant.objects.exists()


def test_start_makes_an_annotator_signs_in_and_reuses_it_on_return(client, crowd_project):
    """POST makes one passwordless annotator per platform id and signs it in; coming back reuses it with the new ids."""
    project, link = crowd_project
    response = _enter(client, link)
    assert response.status_code == 302 and response["Location"] == reverse("annotation:annotate", kwargs={"project_id": project.pk})
    participant = CrowdParticipant.objects.get()
    assert participant.platform_ids == {"study_id": "study1", "session_id": "sess1"}
    assert not participant.user.has_usable_password()
    assert Membership.objects.get(user=participant.user, project=project).role == Membership.Role.ANNOTATOR
    assert client.get(reverse("annotation:annotate", kwargs={"project_id": project.pk})).status_code == 200
    other_browser = Client()
    _enter(other_browser, link, {**PROLIFIC, "SESSION_ID": "sess2"})
    assert CrowdParticipant.objects.count() == 1
    participant.refresh_from_db()
    assert participant.entries == 2 and participant.platform_ids["session_id"] == "sess2"


def test_training_comes_first_when_the_project_has_a_round(client, crowd_project):
    """With training required and training items, the participant lands on the training page."""
    project, link = crowd_project
    from annotation.services.work import gold_item_add

    gold_item_add(project, kind="rating", purpose="training", image=project.images.first(), gold_answer={"level": 3}, feedback="Fair.")
    project.training_required = True
    project.save(update_fields=["training_required"])
    response = _enter(client, link)
    assert response["Location"] == reverse("annotation:training", kwargs={"project_id": project.pk})


@pytest.mark.parametrize(
    "params, message",
    [
        ({}, "needs your Prolific id"),
        ({"PROLIFIC_PID": "<script>"}, "not a valid id"),
        ({"PROLIFIC_PID": "-1+1"}, "not a valid id"),
        ({"PROLIFIC_PID": "a" * 65}, "not a valid id"),
        ({"PROLIFIC_PID": "abc", "SESSION_ID": "x y"}, "SESSION_ID parameter is not a valid id"),
    ],
)
def test_bad_ids_get_a_clear_400_and_make_nothing(client, crowd_project, params, message):
    """Missing or malformed ids are refused with the reason, on GET and POST; no account is made."""
    project, link = crowd_project
    for response in (client.get(_entry(link), params), _enter(client, link, params)):
        assert response.status_code == 400
        assert message in response.content.decode()
    assert not CrowdParticipant.objects.exists()


def test_a_closed_or_unknown_link_is_404(client, crowd_project):
    """A link the researcher closed lets nobody in; a made-up token is 404 too."""
    project, link = crowd_project
    crowd_link_update(project=project, enabled=False, platform="prolific", items_required=2, completion_code="C0DE42")
    assert client.get(_entry(link), PROLIFIC).status_code == 404
    assert _enter(client, link).status_code == 404
    assert client.get(reverse("crowd:entry", kwargs={"token": "nope"}), PROLIFIC).status_code == 404
    assert not CrowdParticipant.objects.exists()


def test_mturk_preview_and_worker_ids(client, project):
    """MTurk: the preview (ASSIGNMENT_ID_NOT_AVAILABLE) asks to accept the HIT; then workerId, hitId, assignmentId are kept."""
    work_project(project, kinds=["rating"], images=2)
    link = crowd_link_update(project=project, enabled=True, platform="mturk", items_required=1, completion_code="MT1")
    preview = client.get(_entry(link), {"assignmentId": "ASSIGNMENT_ID_NOT_AVAILABLE", "hitId": "H1"})
    assert b"crowd-preview" in preview.content
    _enter(client, link, {"workerId": "A1B2C3", "assignmentId": "ASG9", "hitId": "H1", "turkSubmitTo": "https://x"})
    participant = CrowdParticipant.objects.get()
    assert (participant.worker_id, participant.platform_ids) == ("A1B2C3", {"assignment_id": "ASG9", "hit_id": "H1"})


@override_settings(LOUPE_CROWD_ENTRY_LIMIT=3)
def test_entries_are_rate_limited_per_address(client, crowd_project):
    """One address cannot mint accounts in bulk: past the limit, 429 and nothing made."""
    from django.core.cache import cache

    cache.clear()
    project, link = crowd_project
    for number in range(3):
        assert _enter(client, link, {"PROLIFIC_PID": f"worker{number}"}).status_code == 302
    response = _enter(client, link, {"PROLIFIC_PID": "worker9"})
    assert response.status_code == 429 and b"Too many entries" in response.content
    assert CrowdParticipant.objects.count() == 3
    cache.clear()


@pytest.mark.skipif(os.environ.get("LOUPE_EXPECT_SERVICES") != "1", reason="needs the real Redis (CI's second run)")
def test_with_a_redis_cache_the_entry_limit_holds_across_processes(settings, client, crowd_project):
    """CACHE_URL on Redis (README, Production): the count lives in Redis, so every web process reads the same one."""
    from django.core.cache.backends.redis import RedisCache

    url = settings.CELERY_BROKER_URL.rsplit("/", 1)[0] + "/14"  # a database of its own: clear() empties it
    settings.CACHES = {"default": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": url}}
    settings.LOUPE_CROWD_ENTRY_LIMIT = 2
    from django.core.cache import cache

    cache.clear()
    project, link = crowd_project
    for number in range(2):
        assert _enter(client, link, {"PROLIFIC_PID": f"worker{number}"}).status_code == 302
    another_process = RedisCache(url, {})  # a connection of its own, as another gunicorn worker would have
    assert another_process.get("crowd-entry:127.0.0.1") == 2
    assert _enter(client, link, {"PROLIFIC_PID": "worker9"}).status_code == 429
    cache.clear()


def test_completion_code_after_the_required_items_and_ids_on_each_judgement(client, crowd_project):
    """After items_required answers the work page shows the code (recorded once); each judgement keeps the platform ids."""
    project, link = crowd_project
    _enter(client, link)
    _rate(client, project, 4)
    response = _rate(client, project, 2)
    assert b"crowd-complete" in response.content and b"C0DE42" in response.content
    participant = CrowdParticipant.objects.get()
    assert participant.completed_at is not None and participant.completion_code == "C0DE42"
    again = client.get(reverse("annotation:annotate_item", kwargs={"project_id": project.pk}), **HTMX)
    assert b"C0DE42" in again.content
    ids = [crowd.platform_ids for crowd in CrowdJudgement.objects.filter(participant=participant)]
    assert ids == [{"platform": "prolific", "worker_id": PROLIFIC["PROLIFIC_PID"], "study_id": "study1", "session_id": "sess1"}] * 2
    assert Judgement.objects.filter(annotator=participant.user).count() == 2


def test_completion_url_redirects_with_the_code(client, project):
    """With a completion URL, the last answer's response sends the browser there (HX-Redirect), {code} filled in."""
    work_project(project, kinds=["rating"], images=2)
    link = crowd_link_update(
        project=project, enabled=True, platform="prolific", items_required=1, completion_code="XY12",
        completion_url="https://app.prolific.com/submissions/complete?cc={code}",
    )
    _enter(client, link)
    response = _rate(client, project)
    assert response["HX-Redirect"] == "https://app.prolific.com/submissions/complete?cc=XY12"


def test_other_annotators_are_not_touched(client, crowd_project, annotator_member):
    """A regular annotator of the same project gets items, never a completion code, and no crowd ids."""
    project, link = crowd_project
    client.force_login(annotator_member)
    for _ in range(3):
        assert b"crowd-complete" not in _rate(client, project).content
    assert not CrowdJudgement.objects.exists()


# --- the researcher's side ------------------------------------------------------------------------


def _project_url(project, name="crowd:project"):
    return reverse(name, kwargs={"project_id": project.pk})


def test_researcher_page_is_for_the_projects_researchers(client, crowd_project, researcher):
    """Anonymous: login; an annotator of the project: 403; a stranger: 404; the researcher: the page and the CSV."""
    project, link = crowd_project
    assert client.get(_project_url(project)).status_code == 302
    annotator = AnnotatorFactory()
    Membership.objects.create(project=project, user=annotator, role=Membership.Role.ANNOTATOR)
    client.force_login(annotator)
    assert client.get(_project_url(project)).status_code == 403
    assert client.get(_project_url(project, "crowd:participants_csv")).status_code == 403
    client.force_login(AnnotatorFactory())
    assert client.get(_project_url(project)).status_code == 404
    client.force_login(researcher)
    response = client.get(_project_url(project))
    assert response.status_code == 200
    assert response.context["entry_url"].endswith(
        f"/crowd/{link.token}/?PROLIFIC_PID={{{{%PROLIFIC_PID%}}}}&STUDY_ID={{{{%STUDY_ID%}}}}&SESSION_ID={{{{%SESSION_ID%}}}}"
    )


def test_settings_are_validated_and_saved(client, project, researcher):
    """Bad settings are refused with the field marked and nothing saved; good ones open the link."""
    client.force_login(researcher)
    data = {"enabled": "on", "platform": "prolific", "items_required": "0", "completion_code": "", "completion_url": "not a url"}
    response = client.post(_project_url(project), data)
    assert response.status_code == 400
    assert set(response.context["form"].errors) == {"items_required", "completion_code", "completion_url"}
    assert not project.crowd_link.enabled
    data.update(items_required="5", completion_code="ABC", completion_url="")
    assert client.post(_project_url(project), data).status_code == 302
    project.crowd_link.refresh_from_db()
    assert project.crowd_link.enabled and project.crowd_link.items_required == 5


def test_rotating_the_link_kills_the_old_url(client, crowd_project, researcher):
    """A new token: the old URL is 404."""
    project, link = crowd_project
    client.force_login(researcher)
    client.post(_project_url(project), {"action": "rotate"})
    assert Client().get(_entry(link), PROLIFIC).status_code == 404


def test_reject_excludes_through_quality_control_and_csv_lists_it(client, crowd_project, researcher):
    """Rejecting a participant excludes their judgements (audited); approving restores; the CSV has code and verdict."""
    project, link = crowd_project
    participant_client = Client()
    _enter(participant_client, link)
    _rate(participant_client, project)
    _rate(participant_client, project)
    participant = CrowdParticipant.objects.get()
    client.force_login(researcher)
    url = reverse("crowd:decide", kwargs={"project_id": project.pk, "participant_id": participant.pk})
    client.post(url, {"decision": "rejected", "reason": "clicked through"})
    participant.refresh_from_db()
    assert participant.decision == "rejected"
    assert all(Judgement.objects.filter(annotator=participant.user).values_list("excluded", flat=True))
    event = ExclusionEvent.objects.get(annotator=participant.user)
    assert "clicked through" in event.reason
    rows = list(csv.DictReader(io.StringIO(client.get(_project_url(project, "crowd:participants_csv")).content.decode())))
    assert len(rows) == 1
    assert rows[0]["worker_id"] == PROLIFIC["PROLIFIC_PID"] and rows[0]["completion_code"] == "C0DE42"
    assert rows[0]["decision"] == "rejected" and rows[0]["excluded"] == "True" and rows[0]["judgements"] == "2"
    assert rows[0]["qc_verdict"] in ("ok",) or rows[0]["qc_verdict"].startswith("flagged")
    client.post(url, {"decision": "approved"})
    assert not any(Judgement.objects.filter(annotator=participant.user).values_list("excluded", flat=True))
    assert client.post(url, {"decision": "maybe"}).status_code == 302
    participant.refresh_from_db()
    assert participant.decision == "approved"


def test_verdict_flags_a_participant_who_did_not_pass_training(client, crowd_project, researcher):
    """The verdict says when training was required and not passed (quality control's flags follow it)."""
    project, link = crowd_project
    _enter(Client(), link)
    project.training_required = True
    project.save(update_fields=["training_required"])
    client.force_login(researcher)
    rows = client.get(_project_url(project)).context["rows"]
    assert rows[0]["verdict"].startswith("flagged: training not passed")


def test_the_queue_service_is_unchanged_for_participants(crowd_project):
    """A participant is an ordinary annotator for the queue: items come, judgements are written."""
    project, link = crowd_project
    Client().post(_entry(link), PROLIFIC)
    user = CrowdParticipant.objects.get().user
    lease = queue.assignment_next(project=project, annotator=user).lease
    result = queue.judgement_submit(lease_id=lease.pk, annotator=user, client_id=uuid.uuid4(), answer={"level": 3})
    assert result.created
