"""Drafts, VQA and the call ledger against a real Chat Completions server on loopback, and the offline drafter."""
import json
import uuid

import pytest

from annotation.models import TextRevision
from annotation.services import revisions
from annotation.services.queue import assignment_next, judgement_submit
from modeling.assist import selectors as llm_selectors
from modeling.assist import services as llm_services
from modeling.assist.core.errors import LLMRateLimited, LLMRequestRejected
from modeling.assist.models import LLMCall, PromptVersion, VQAItem
from modeling.assist.tasks import LLM_DRAFT_TASK_RETRIES, llm_draft, vqa_generate
from tests.factories import AnnotatorFactory, MembershipFactory
from tests.llm_server import FakeLLMServer, Malformed, Ok, RateLimited, Slow, Status
from tests.work_data import work_project

DESCRIPTION = {
    "texture_category": "bricks", "texture_condition": "barely", "overall": "mild",
    "distortions": {"brightness": "undistorted", "color": "mild", "noise": "severe", "artifacts": "undistorted", "blurriness": "mild"},
}
#: Follows the description prompt's rules for DESCRIPTION: no digits, 30-180 words, "mild" and the severe noise named.
GOOD_PARAGRAPH = (
    "This image shows mild distortion overall. The most damaging problem is severe noise, which covers the brick "
    "texture with grain. There is also mild color distortion and mild blurriness, while brightness and artifacts "
    "show no visible distortion. The bricks are barely identifiable. Therefore the severe noise decides the verdict."
)
FEEDBACK = {
    "description": "The image is blurry all over and underexposed in the background, with visible noise in the sky.",
    "conclusion": "Poor quality because of the blur and the dark exposure.",
    "level": 2,
}


@pytest.fixture
def revision(project, annotator_member):
    """A description judgement's revision, still drafting."""
    work_project(project, kinds=["description"], images=2)
    lease = assignment_next(project=project, annotator=annotator_member).lease
    judgement = judgement_submit(lease_id=lease.pk, annotator=annotator_member, client_id=uuid.uuid4(), answer=DESCRIPTION).judgement
    return TextRevision.objects.get(judgement=judgement)


def _run(revision):
    llm_draft.apply(args=[revision.pk])
    revision.refresh_from_db()
    return revision


def _answers_intact(revision):
    revision.judgement.refresh_from_db()
    assert revision.judgement.answer == DESCRIPTION


# ------------------------------------------------------------------------------------------ settings


def test_llm_settings_exist_and_are_spelled_right(settings):
    """The settings the LLM side reads are there, with an offline default (no key)."""
    from django.conf import settings as django_settings

    for name in ("LOUPE_LLM_BASE_URL", "LOUPE_LLM_MODEL", "LOUPE_LLM_API_KEY", "LOUPE_LLM_TIMEOUT_S",
                 "LOUPE_LLM_MAX_RETRIES", "LOUPE_LLM_REQUESTS_PER_MINUTE"):
        assert hasattr(django_settings, name), name
    assert django_settings.LOUPE_LLM_BASE_URL.startswith("http")


def test_no_key_means_no_client(offline, project):
    assert llm_services.llm_client_for(project) is None
    assert llm_services.llm_model_name() == "loupe-template-drafter"


def test_clients_of_a_project_share_its_rate_bucket(settings, project):
    """One limiter per process, keyed by project id."""
    settings.LOUPE_LLM_API_KEY = "sk-test"
    settings.LOUPE_LLM_REQUESTS_PER_MINUTE = 30
    with llm_services.llm_client_for(project) as first, llm_services.llm_client_for(project) as second:
        assert first.rate_limiter is second.rate_limiter and first.rate_key == project.pk


# ------------------------------------------------------------------------------------------ drafts


@pytest.mark.django_db
def test_a_draft_from_the_server(online, revision):
    """Success: the draft, its model and prompt version are stored; the call is on the ledger with tokens and cost."""
    online.script(Ok(GOOD_PARAGRAPH, prompt_tokens=1000, completion_tokens=500))
    revision = _run(revision)
    assert revision.status == TextRevision.Status.DRAFT_READY
    assert revision.draft == GOOD_PARAGRAPH and revision.draft_problems == []
    assert revision.model == "fake-vision-1" and (revision.prompt_name, revision.prompt_version) == ("description_paragraph", 1)
    request = online.chat_requests[0]
    assert request.body["model"] == "fake-vision-1"
    assert "Noise: Severe" in request.messages[-1]["content"]  # the answers, as labelled lines
    assert request.messages[0]["role"] == "system" and len(request.messages) == 6  # system, two examples, the input
    call = LLMCall.objects.get()
    assert call.ok and call.purpose == "draft" and (call.prompt_tokens, call.completion_tokens) == (1000, 500)
    assert call.cost == pytest.approx((1000 * 1.0 + 500 * 2.0) / 1e6)


@pytest.mark.django_db
def test_a_429_then_success(online, settings, revision):
    """The client waits out Retry-After and tries again; the draft arrives, the ledger counts two attempts."""
    settings.LOUPE_LLM_MAX_RETRIES = 1
    online.script(RateLimited(retry_after="0"), Ok(GOOD_PARAGRAPH))
    revision = _run(revision)
    assert revision.status == TextRevision.Status.DRAFT_READY and revision.draft == GOOD_PARAGRAPH
    assert LLMCall.objects.get().attempts == 2


@pytest.mark.django_db
def test_a_long_retry_after_requeues_the_task(online, revision):
    """A Retry-After longer than the client will sleep: the task retries itself (with that countdown) and succeeds."""
    online.script(RateLimited(retry_after="3600"), Ok(GOOD_PARAGRAPH))
    revision = _run(revision)
    assert revision.status == TextRevision.Status.DRAFT_READY
    calls = list(LLMCall.objects.order_by("id"))
    assert [call.ok for call in calls] == [False, True]
    assert llm_services.draft_retry_countdown(LLMRateLimited(retry_after_s=3600), 0) == 600


@pytest.mark.django_db
def test_a_500_every_time_ends_in_a_visible_failure(online, revision):
    """5xx is retried by the task, then the revision shows the message; the questionnaire answers are intact."""
    online.default = Status(500, "upstream exploded")
    revision = _run(revision)
    assert revision.status == TextRevision.Status.DRAFT_FAILED
    assert revision.draft_error.startswith("The text assistant is unavailable right now.")
    assert "answers are saved" in revision.draft_error
    assert len(online.chat_requests) == 1 + LLM_DRAFT_TASK_RETRIES
    assert LLMCall.objects.filter(ok=False).count() == 1 + LLM_DRAFT_TASK_RETRIES
    assert "HTTP 500" in LLMCall.objects.first().error_detail
    _answers_intact(revision)


@pytest.mark.django_db
def test_a_timeout_every_time_ends_in_a_visible_failure(online, settings, revision):
    settings.LOUPE_LLM_TIMEOUT_S = 0.3
    online.default = Slow(2.0)
    revision = _run(revision)
    assert revision.status == TextRevision.Status.DRAFT_FAILED
    assert revision.draft_error.startswith("The text assistant did not answer in time.")
    _answers_intact(revision)


@pytest.mark.django_db
def test_a_malformed_reply_is_not_retried(online, revision):
    """A 200 that is not a chat completion fails at once (retrying the same request cannot help)."""
    online.script(Malformed())
    revision = _run(revision)
    assert revision.status == TextRevision.Status.DRAFT_FAILED
    assert "could not be read" in revision.draft_error
    assert len(online.chat_requests) == 1
    _answers_intact(revision)


@pytest.mark.django_db
def test_output_that_breaks_the_rules_is_kept_with_its_problems(online, revision):
    """A readable reply that breaks the prompt's rules is stored as the draft, with every problem visible."""
    online.script(Ok("Quality score: 3 out of 5."))
    revision = _run(revision)
    assert revision.status == TextRevision.Status.DRAFT_READY
    problems = " | ".join(revision.draft_problems)
    assert "contains digits" in problems and "too short" in problems and "mild" in problems
    call = LLMCall.objects.get()
    assert call.ok and call.problems == revision.draft_problems and call.output == "Quality score: 3 out of 5."


@pytest.mark.django_db
def test_the_offline_drafter_writes_without_a_key(offline, revision):
    """No key: the template drafter's paragraph, labelled as such, following the prompt's rules; no network."""
    revision = _run(revision)
    assert revision.status == TextRevision.Status.DRAFT_READY
    assert revision.model == "loupe-template-drafter" and revision.draft_problems == []
    assert "severe noise" in revision.draft
    call = LLMCall.objects.get()
    assert call.model == "loupe-template-drafter" and call.cost == 0


@pytest.mark.django_db
def test_running_the_task_twice_drafts_once(online, revision):
    online.script(Ok(GOOD_PARAGRAPH))
    _run(revision)
    _run(revision)
    assert len(online.chat_requests) == 1 and LLMCall.objects.count() == 1


# ------------------------------------------------------------------------------------------ the endpoint policy


@pytest.fixture
def default_policy(settings):
    """What an administrator gets without setting anything: the configured LLM server is the only allowed host."""
    settings.LOUPE_ENDPOINT_CREDENTIALS = settings.LOUPE_ENDPOINT_ALLOWED_HOSTS = settings.LOUPE_ENDPOINT_PRIVATE_NETWORKS = ""


@pytest.fixture
def elsewhere():
    """A second loopback server on another port: a host the policy does not name unless a test allows it."""
    with FakeLLMServer() as server:
        yield server


def _redirect_to(server) -> Status:
    return Status(307, headers={"Location": f"{server.base_url}/chat/completions"})


@pytest.mark.django_db
def test_drafting_goes_through_the_endpoint_policy(online, default_policy, revision):
    """The configured server is allowed by the policy alone (on loopback too) and gets its own key."""
    online.script(Ok(GOOD_PARAGRAPH))
    assert _run(revision).status == TextRevision.Status.DRAFT_READY
    assert online.chat_requests[0].headers["authorization"] == "Bearer sk-test"


@pytest.mark.django_db
def test_a_redirect_to_a_host_not_allowed_is_refused_and_gets_nothing(online, default_policy, elsewhere, revision):
    """The server redirects the draft elsewhere: the transport refuses the host, the ledger says why in words an
    administrator can act on, the annotator sees the usual message, and the other host never gets a request."""
    online.default = _redirect_to(elsewhere)
    revision = _run(revision)
    assert revision.status == TextRevision.Status.DRAFT_FAILED
    assert revision.draft_error.startswith("The text assistant is unavailable right now.")
    port = elsewhere.base_url.split(":")[2].split("/")[0]
    detail = LLMCall.objects.order_by("id").first().error_detail
    assert f"127.0.0.1:{port} is not allowed for endpoints" in detail and "LOUPE_ENDPOINT_ALLOWED_HOSTS" in detail
    assert "sk-test" not in detail
    assert elsewhere.requests == []
    _answers_intact(revision)


@pytest.mark.django_db
def test_an_allowed_other_host_is_reached_without_the_key(online, settings, elsewhere, revision):
    """An administrator allows the other host: the redirect is followed, and the key stays with the configured server."""
    settings.LOUPE_ENDPOINT_ALLOWED_HOSTS = elsewhere.base_url.split("/")[2]
    settings.LOUPE_ENDPOINT_PRIVATE_NETWORKS = "127.0.0.1/32"
    online.script(_redirect_to(elsewhere))
    elsewhere.script(Ok(GOOD_PARAGRAPH))
    assert _run(revision).status == TextRevision.Status.DRAFT_READY
    assert online.chat_requests[0].headers["authorization"] == "Bearer sk-test"
    assert len(elsewhere.chat_requests) == 1 and "authorization" not in elsewhere.chat_requests[0].headers


@pytest.mark.django_db
def test_a_configured_url_the_policy_refuses_is_not_retried(online, settings, revision):
    """A base URL carrying a user and password is refused before any request: the draft fails at once, no retries."""
    settings.LOUPE_LLM_BASE_URL = online.base_url.replace("http://", "http://user:pw@")
    with pytest.raises(LLMRequestRejected, match="check the LLM settings"):
        llm_services.llm_client_for(revision.project)
    revision = _run(revision)
    assert revision.status == TextRevision.Status.DRAFT_FAILED and online.requests == []
    assert revision.draft_error.startswith("The endpoint policy refuses the configured LLM server")
    call = LLMCall.objects.get()
    assert (call.ok, call.purpose) == (False, "draft") and "refuses LOUPE_LLM_BASE_URL" in call.error_detail


@pytest.mark.django_db
def test_the_receiver_enqueues_the_draft_on_commit(project, annotator_member, monkeypatch, django_capture_on_commit_callbacks):
    """annotation's draft_requested reaches modeling, which enqueues llm_draft with the revision's id."""
    sent = []
    monkeypatch.setattr(llm_draft, "delay", lambda revision_id: sent.append(revision_id))
    work_project(project, kinds=["description"], images=1)
    lease = assignment_next(project=project, annotator=annotator_member).lease
    with django_capture_on_commit_callbacks(execute=True):
        judgement_submit(lease_id=lease.pk, annotator=annotator_member, client_id=uuid.uuid4(), answer=DESCRIPTION)
    assert sent == [TextRevision.objects.get().pk]


# ------------------------------------------------------------------------------------------ prompts


@pytest.mark.django_db
def test_a_new_prompt_version_drafts_the_next_paragraph(online, revision, researcher, project):
    """The project's active version is used and recorded; going back restores the built-in one."""
    row = llm_services.prompt_version_create(
        project=project, name="description_paragraph", changes={"instruction": "Describe briefly, please."}, created_by=researcher,
    )
    assert (row.version, row.active) == (2, True)
    online.script(Ok(GOOD_PARAGRAPH))
    revision = _run(revision)
    assert revision.prompt_version == 2
    assert online.chat_requests[0].messages[-1]["content"].startswith("Describe briefly, please.")
    llm_services.prompt_version_activate(project=project, name="description_paragraph", version_id=None)
    assert llm_services.prompt_active(project=project, name="description_paragraph").version == 1
    again = llm_services.prompt_version_create(project=project, name="description_paragraph", changes={}, created_by=researcher)
    assert again.version == 3


@pytest.mark.django_db
def test_an_invalid_prompt_version_is_refused(project, researcher):
    from django.core.exceptions import ValidationError

    with pytest.raises(ValidationError):
        llm_services.prompt_version_create(project=project, name="description_paragraph", changes={"instruction": " "}, created_by=researcher)
    with pytest.raises(ValidationError):
        llm_services.prompt_version_create(project=project, name="description_paragraph", changes={"rules": {"bogus": 1}}, created_by=researcher)
    assert not PromptVersion.objects.exists()


# ------------------------------------------------------------------------------------------ VQA


@pytest.fixture
def feedback_judgement(project, annotator_member):
    work_project(project, kinds=["pathway"], images=1)
    lease = assignment_next(project=project, annotator=annotator_member).lease
    return judgement_submit(lease_id=lease.pk, annotator=annotator_member, client_id=uuid.uuid4(), answer=FEEDBACK).judgement


@pytest.mark.django_db
def test_vqa_offline_makes_balanced_yes_no_questions(offline, project, feedback_judgement):
    """The template drafter asks about attribute words the feedback states, each "yes" paired with a "no"."""
    assert vqa_generate.apply(args=[project.pk, [feedback_judgement.pk]]).get() > 0
    items = list(VQAItem.objects.all())
    assert {item.kind for item in items} == {"yes_no"}
    assert {item.status for item in items} == {"proposed"}
    answers = [item.answer for item in items]
    assert answers.count("yes") == answers.count("no")
    assert any(item.question == "Is the image blurry?" and item.answer == "yes" for item in items)
    assert vqa_generate.apply(args=[project.pk, [feedback_judgement.pk]]).get() == 0  # idempotent


@pytest.mark.django_db
def test_vqa_online_makes_three_kinds_and_keeps_problems(online, project, feedback_judgement):
    yes_no = [{"question": "Is the image blurry?", "answer": "yes"}, {"question": "Is the image sharp?", "answer": "no"},
              {"question": "Is the sky noisy?", "answer": "yes"}]  # unbalanced: 2 yes, 1 no
    choice = [{"question": "What is the main problem?", "answer": "Blur", "options": ["Blur", "Noise", "Haze", "Color cast"]},
              {"question": "How is the exposure?", "answer": "Too dark", "options": ["Too dark", "Too bright", "Fine", "Uneven"]}]
    talk = [{"role": "user", "content": "How is this photo?"}, {"role": "assistant", "content": "Blurry and dark."},
            {"role": "user", "content": "Can it be fixed?"}, {"role": "assistant", "content": "Partly, with sharpening."}]
    online.script(Ok(json.dumps(yes_no)), Ok(json.dumps(choice)), Ok(json.dumps(talk)))
    llm_services.vqa_generate(project=project, judgement_ids=[feedback_judgement.pk])
    by_kind = {kind: list(VQAItem.objects.filter(kind=kind)) for kind in ("yes_no", "multiple_choice", "conversation")}
    assert len(by_kind["yes_no"]) == 3 and len(by_kind["multiple_choice"]) == 2 and len(by_kind["conversation"]) == 1
    assert any("balanced" in problem for problem in by_kind["yes_no"][0].problems)
    assert by_kind["multiple_choice"][0].options == ["Blur", "Noise", "Haze", "Color cast"]
    assert by_kind["conversation"][0].conversation[1] == {"role": "assistant", "content": "Blurry and dark."}
    assert LLMCall.objects.filter(ok=True).count() == 3


@pytest.mark.django_db
def test_vqa_failure_is_on_the_ledger(online, project, feedback_judgement):
    """A failed call makes no items and is visible; the other kinds go on."""
    online.script(Status(400, "bad model"), Malformed("not json"), Ok("[]"))
    llm_services.vqa_generate(project=project, judgement_ids=[feedback_judgement.pk])
    failed = LLMCall.objects.filter(ok=False)
    assert failed.count() == 2 and "refused the request" in failed.order_by("id").first().error
    assert not VQAItem.objects.exists()
    assert LLMCall.objects.get(purpose="vqa_conversation").problems  # an empty conversation breaks its rules


@pytest.mark.django_db
def test_vqa_with_a_configured_url_the_policy_refuses_is_on_the_ledger(online, settings, project, feedback_judgement):
    """The policy refuses the configured base URL: the task ends normally, one failed ledger row (shown on the VQA
    page) says why, no request is made and no items are proposed."""
    settings.LOUPE_LLM_BASE_URL = online.base_url.replace("http://", "http://user:pw@")
    assert vqa_generate.apply(args=[project.pk, [feedback_judgement.pk]]).get() == 0
    call = LLMCall.objects.get()
    assert (call.ok, call.purpose, call.prompt_name) == (False, "vqa_yes_no", "qsit_yes_no")
    assert call.error.startswith("The endpoint policy refuses the configured LLM server")
    assert "refuses LOUPE_LLM_BASE_URL" in call.error_detail and "pw" not in call.error_detail
    assert online.requests == [] and not VQAItem.objects.exists()


@pytest.mark.django_db
def test_vqa_review_and_export(offline, project, feedback_judgement, researcher):
    llm_services.vqa_generate(project=project, judgement_ids=[feedback_judgement.pk])
    first, second, *rest = VQAItem.objects.order_by("id")
    llm_services.vqa_review(project=project, item_id=first.pk, reviewer=researcher, action="accept")
    llm_services.vqa_review(project=project, item_id=second.pk, reviewer=researcher, action="edit",
                            question="Is the picture sharp?", answer="No")
    for item in rest:
        llm_services.vqa_review(project=project, item_id=item.pk, reviewer=researcher, action="reject")
    lines = [json.loads(line) for line in llm_services.vqa_export_lines(project=project)]
    assert [line["id"] for line in lines] == [first.pk, second.pk]
    assert lines[1]["question"] == "Is the picture sharp?" and lines[1]["status"] == "edited"
    assert lines[0]["image_id"] == feedback_judgement.item.image_id


# ------------------------------------------------------------------------------------------ statistics


def _saved_revisions(project, annotator, *, total: int, unchanged: int):
    """`total` saved description revisions by `annotator`, the first `unchanged` of them the draft as it was."""
    for number in range(total):
        lease = assignment_next(project=project, annotator=annotator).lease
        judgement = judgement_submit(lease_id=lease.pk, annotator=annotator, client_id=uuid.uuid4(), answer=DESCRIPTION).judgement
        revision = TextRevision.objects.get(judgement=judgement)
        revisions.revision_draft_store(revision_id=revision.pk, text="A draft.", model="m", prompt_name="p", prompt_version=1, problems=[])
        final = "A draft." if number < unchanged else "A corrected draft."
        revisions.revision_save(revision_id=revision.pk, annotator=annotator, final_text=final, time_spent_ms=1000 * (number + 1))


@pytest.mark.django_db
def test_the_flag_rule(project):
    """Flagged: ≥ 10 drafts, share unchanged > 0.5 and > peers' median + 2×MAD. Not flagged: few drafts or a low share."""
    work_project(project, kinds=["description"], images=12, overlap=5)
    users = {name: AnnotatorFactory(username=name) for name in ("copier", "peer1", "peer2", "careful", "newcomer")}
    for user in users.values():
        MembershipFactory(project=project, user=user)
    _saved_revisions(project, users["copier"], total=10, unchanged=9)
    _saved_revisions(project, users["peer1"], total=10, unchanged=1)
    _saved_revisions(project, users["peer2"], total=10, unchanged=2)
    _saved_revisions(project, users["careful"], total=10, unchanged=5)  # 0.5 is not above 0.5
    _saved_revisions(project, users["newcomer"], total=4, unchanged=4)  # too few to judge
    stats = {row.username: row for row in llm_selectors.revision_stats(project=project)}
    assert stats["copier"].flagged and "90%" in stats["copier"].flag_reason
    assert not any(stats[name].flagged for name in ("peer1", "peer2", "careful", "newcomer"))
    assert stats["copier"].share_unchanged == pytest.approx(0.9)
    assert stats["peer1"].mean_edit_distance == pytest.approx(0.9 * len(" corrected"))
    assert stats["newcomer"].median_time_ms == 2500


@pytest.mark.django_db
def test_nobody_is_flagged_without_peers(project, annotator_member):
    work_project(project, kinds=["description"], images=10)
    _saved_revisions(project, annotator_member, total=10, unchanged=10)
    (row,) = llm_selectors.revision_stats(project=project)
    assert row.share_unchanged == 1.0 and not row.flagged


@pytest.mark.django_db
def test_usage_summary_adds_up(online, revision):
    online.script(Ok(GOOD_PARAGRAPH, prompt_tokens=100, completion_tokens=50))
    _run(revision)
    summary = llm_selectors.usage_summary(project=revision.project)
    assert summary["totals"]["calls"] == 1 and summary["totals"]["prompt_tokens"] == 100
    assert summary["rows"][0]["model"] == "fake-vision-1" and summary["rows"][0]["purpose_label"] == "Paragraph draft"
