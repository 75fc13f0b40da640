"""The GPT4-score judge (paper 002): its prompt and reading, and a study's answers scored through the loopback server."""
import pytest
from django.urls import reverse

from annotation.vocabulary import TaskKind
from studies.gpt4_score import (
    JUDGE_INSTRUCTION,
    JudgeReplyError,
    gpt4_score_messages,
    gpt4_score_parse,
    gpt4_score_relative,
    questionnaire_context,
)
from studies.models import AnswerScore
from studies.selectors import study_results
from studies.services.judge import NO_REFERENCE, JudgeEndpoint, study_answers_judge
from tests.exports.data import judge, revision
from tests.factories import WorkItemFactory
from tests.llm_server import Malformed, Ok, Status
from tests.studies.builders import study_with_systems

PATHWAY = {"description": "The sky shows banding and the shadows are noisy.", "conclusion": "Overall the quality is poor.", "level": 2}
QUESTIONNAIRE = {"texture_category": "sky", "overall": "moderate", "distortions": {"noise": "moderate", "color": "undistorted"}}
PARAGRAPH = "The image has moderate noise in the sky; colours are faithful."


def test_the_prompt_carries_context_question_both_answers_and_the_rubric():
    """Paper 002 A4: context, question, answer_1 (human) then answer_2 (system), and the 0-10 rubric instruction."""
    system, user = gpt4_score_messages(context="noise: moderate", question="Describe the quality.", reference="Human says noisy.", answer="Model says sharp.")
    assert system["role"] == "system" and user["role"] == "user"
    text = user["content"]
    assert text.index("noise: moderate") < text.index("Describe the quality.") < text.index("Human says noisy.") < text.index("Model says sharp.")
    assert JUDGE_INSTRUCTION in text and "scale of 0 to 10" in text
    assert "helpfulness, relevance, accuracy, and level of detail" in text
    with pytest.raises(ValueError, match="answer must not be empty"):
        gpt4_score_messages(context="", question="q", reference="r", answer="  ")


@pytest.mark.parametrize("reply, expected", [
    ("8 6\nThe second misses the banding.", (8.0, 6.0, "The second misses the banding.")),
    ("9.5, 7\n", (9.5, 7.0, "")),
    ("**7 10**\nBoth fine.", (7.0, 10.0, "Both fine.")),
])
def test_replies_are_read_as_human_then_system_scores(reply, expected):
    """The first line holds Assistant 1's (human) then Assistant 2's (system) score; the rest is the explanation."""
    score = gpt4_score_parse(reply)
    assert (score.reference, score.answer, score.explanation) == expected


@pytest.mark.parametrize("reply", ["I think both are good.", "11 3\n", "7\n", ""])
def test_unreadable_or_out_of_scale_replies_raise(reply):
    """No two scores, or one outside 0-10, is a JudgeReplyError with the reply's opening."""
    with pytest.raises(JudgeReplyError):
        gpt4_score_parse(reply)


def test_relative_score_is_the_ratio_of_means_in_percent():
    """(8, 6) and (10, 9): 100 · 7.5 / 9 = 83.33; nothing or a zero human mean has no score."""
    assert gpt4_score_relative([(8, 6), (10, 9)]) == pytest.approx(100 * 7.5 / 9)
    assert gpt4_score_relative([]) is None and gpt4_score_relative([(0, 5)]) is None


def test_questionnaire_context_lists_answers_and_nested_choices():
    """Every answer becomes a line; nested distortions are flattened; empty ones are left out."""
    assert questionnaire_context({**QUESTIONNAIRE, "note": ""}).splitlines() == [
        "texture_category: sky", "overall: moderate", "distortions / noise: moderate", "distortions / color: undistorted",
    ]


def _references(project, study, annotator):
    """Image 0: a saved description paragraph (and pathway feedback); image 1: pathway feedback; image 2: nothing."""
    images = [item.image for item in study.items.order_by("image_id")]
    pathway = WorkItemFactory(project=project, kind=TaskKind.PATHWAY, image=images[0])
    judge(pathway, annotator, answer=PATHWAY, level=2)
    judge(WorkItemFactory(project=project, kind=TaskKind.PATHWAY, image=images[1]), annotator, answer=PATHWAY, level=2)
    described = judge(WorkItemFactory(project=project, kind=TaskKind.DESCRIPTION, image=images[0]), annotator, answer=QUESTIONNAIRE)
    revision(described, draft="draft", final=PARAGRAPH)
    return images


@pytest.mark.django_db
def test_a_studys_answers_are_scored_against_the_human_description(llm_server, project, researcher, annotator_member):
    """Each answer with a human description is one request; the score per system is the ratio of means; a retry fills gaps."""
    study = study_with_systems(project=project, researcher=researcher, annotators=[annotator_member], n_images=3)
    images = _references(project, study, annotator_member)
    first, second = study.systems.order_by("pk")
    # Answers are judged in id order: system 1's three, then system 2's three; image 2 has no reference (no request).
    llm_server.script(Ok("8 6\nMisses the banding."), Malformed(), Ok("9 9\nBoth right."), Ok("10 5\nVague."))
    outcome = study_answers_judge(study_id=study.pk, endpoint=JudgeEndpoint(llm_server.base_url, "judge-model"))
    assert outcome == {"scored": 3, "failed": 3, "stopped": ""}
    assert len(llm_server.chat_requests) == 4
    request = llm_server.chat_requests[0]
    assert request.body["model"] == "judge-model" and request.body["temperature"] == pytest.approx(0.2)
    sent = str(request.messages)
    answer_text = first.answers.get(item__image=images[0]).text
    assert PARAGRAPH in sent and answer_text in sent and "distortions / noise: moderate" in sent and study.instruction in sent
    assert PATHWAY["description"] in str(llm_server.chat_requests[3].messages)  # image 1: pathway feedback is the reference
    missing = AnswerScore.objects.filter(answer__item__image=images[2])
    assert missing.count() == 2 and {row.error for row in missing} == {NO_REFERENCE}
    results = {row["id"]: row for row in study_results(study=study)["systems"]}
    assert results[first.pk]["gpt4_scored"] == 1 and results[first.pk]["gpt4_failed"] == 2
    assert results[first.pk]["gpt4_score"] == pytest.approx(100 * 6 / 8)
    assert results[second.pk]["gpt4_score"] == pytest.approx(100 * (9 + 5) / (9 + 10))

    llm_server.script(Ok("7 7\nSame."))
    again = study_answers_judge(study_id=study.pk, endpoint=JudgeEndpoint(llm_server.base_url, "judge-model"))
    assert again == {"scored": 1, "failed": 2, "stopped": ""} and len(llm_server.chat_requests) == 5  # only the unreadable one
    assert study_results(study=study)["systems"][0]["gpt4_score"] == pytest.approx(100 * (6 + 7) / (8 + 7))


@pytest.mark.django_db
def test_a_refusing_judge_stops_with_the_reason(llm_server, project, researcher, annotator_member):
    """A 401 stops judging at the first answer (not retried answer after answer); its row says why."""
    study = study_with_systems(project=project, researcher=researcher, annotators=[annotator_member], n_images=2)
    _references(project, study, annotator_member)
    llm_server.script(Status(401, "Invalid API key"))
    outcome = study_answers_judge(study_id=study.pk, endpoint=JudgeEndpoint(llm_server.base_url, "judge-model"))
    assert "HTTP 401" in outcome["stopped"] and len(llm_server.chat_requests) == 1
    assert "Invalid API key" in AnswerScore.objects.get(answer_score__isnull=True, error__contains="401").error


@pytest.mark.django_db
def test_api_queues_the_judge_for_researchers_only_and_refuses_unlisted_hosts(client, llm_server, project, researcher, annotator_member, django_capture_on_commit_callbacks):
    """POST is 202 for the study's researcher (queued on commit), 403 for its annotator, 400 for a host off the allow-list."""
    study = study_with_systems(project=project, researcher=researcher, annotators=[annotator_member], n_images=1)
    url = reverse("api:study_judge", kwargs={"study_id": study.pk})
    client.force_login(annotator_member)
    assert client.post(url, {}, content_type="application/json").status_code == 403  # a study annotator: not theirs to run
    client.force_login(researcher)
    with django_capture_on_commit_callbacks() as callbacks:
        response = client.post(url, {"base_url": llm_server.base_url, "model": "judge-model"}, content_type="application/json")
    assert response.status_code == 202 and len(callbacks) == 1
    refused = client.post(url, {"base_url": "http://judge.example.invalid/v1", "model": "m"}, content_type="application/json")
    assert refused.status_code == 400 and "base_url" in refused.json()["errors"]
    assert client.post(url, {"api_key": "sk-x"}, content_type="application/json").status_code == 400


@pytest.mark.django_db
def test_results_page_button_queues_the_configured_judge_and_shows_the_scores(client, llm_server, settings, project, researcher, annotator_member, django_capture_on_commit_callbacks):
    """The results page's button queues the judge at the configured LLM server; the page lists each system's GPT4-score."""
    settings.LOUPE_LLM_BASE_URL, settings.LOUPE_LLM_MODEL = llm_server.base_url, "judge-model"
    study = study_with_systems(project=project, researcher=researcher, annotators=[annotator_member], n_images=2)
    _references(project, study, annotator_member)
    client.force_login(researcher)
    with django_capture_on_commit_callbacks() as callbacks:
        response = client.post(reverse("studies:study_judge", kwargs={"study_id": study.pk}))
    assert response.status_code == 302 and len(callbacks) == 1
    llm_server.default = Ok("8 4\nHalf as good.")
    study_answers_judge(study_id=study.pk, endpoint=JudgeEndpoint(llm_server.base_url, "judge-model"))
    page = client.get(reverse("studies:study_results", kwargs={"study_id": study.pk})).content.decode()
    assert 'data-testid="gpt4-table"' in page and "50.0%" in page
