"""LLM-written training answers (modeling/assist/construction.py): VisualCritic's data-construction prompts feed the critic's data.

Against the loopback Chat Completions server (tests/llm_server.py) and with the offline template drafter.
"""
import json

import pytest

from annotation.models import Authenticity, Image
from annotation.vocabulary import TaskKind
from modeling.assist import construction
from modeling.assist.models import ConstructedText
from modeling.critic.data import CriticDataSettings, heldout_split, training_set_build
from modeling.assist.core.template_drafter import TEMPLATE_DRAFTER_MODEL
from modeling.assist.models import LLMCall
from tests.evaluation.judgement_builders import annotators_make, judgements_add
from tests.llm_server import Ok
from tests.work_data import project_images

FRACTION = 0.3
LLM_DATA = CriticDataSettings(heldout_fraction=FRACTION, answer_text="llm", curriculum=True)
GOOD = "Viewers would find this picture rather dull and soft, with muted colours and details that are hard to make out."
BROKEN = "This image has a MOS of 42 out of 100, so its quality is poor and it looks rather soft overall."
QUESTIONS = [f"How would viewers rate this picture, question {word}?" for word in
             ("one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten")]


@pytest.fixture
def split(project):
    images = project_images(project, 24)
    train_ids, heldout_ids = heldout_split(project=project, fraction=FRACTION)
    by_id = {image.pk: image for image in images}
    return [by_id[i] for i in train_ids], [by_id[i] for i in heldout_ids]


def _descriptions(training_set) -> set[str]:
    """The description answers (the curriculum may repeat a conversation in a later stage)."""
    return {c.answer for c in training_set.conversations if c.task == "description"}


def test_rule_breaking_output_is_rejected_and_training_falls_back(online, project, split):
    """Two images with MOS from different sources (no pairs): one good answer is used, one with numbers is rejected."""
    train, heldout = split
    first, second = sorted(train[:2], key=lambda image: image.pk)
    Image.objects.filter(pk=first.pk).update(mos_normalised=31.5, source_dataset="koniq")
    Image.objects.filter(pk=second.pk).update(mos_normalised=44.0, source_dataset="spaq")
    Image.objects.filter(pk=heldout[0].pk).update(mos_normalised=90.0, source_dataset="koniq")  # held out: never asked
    online.script(Ok(GOOD), Ok(BROKEN), Ok(json.dumps(QUESTIONS)))

    counts = construction.constructed_texts_write(project=project, data=LLM_DATA)

    assert counts == {"accepted": 2, "rejected": 1}
    assert len(online.chat_requests) == 3
    assert "MOS: 31.50" in online.chat_requests[0].messages[-1]["content"]
    good = ConstructedText.objects.get(input_key=f"image:{first.pk}")
    bad = ConstructedText.objects.get(input_key=f"image:{second.pk}")
    assert (good.status, good.text, good.model, good.prompt_name) == ("accepted", GOOD, "fake-vision-1", "visualcritic_scores_description")
    assert bad.status == "rejected" and bad.text == BROKEN and any("digit" in p or "number" in p for p in bad.problems)
    assert LLMCall.objects.filter(project=project, purpose=LLMCall.Purpose.CONSTRUCTION).count() == 3
    assert ConstructedText.objects.get(purpose="instruction_paraphrases").status == "accepted"

    training_set = training_set_build(project=project, last_judgement_id=0, data=LLM_DATA)
    assert _descriptions(training_set) == {GOOD}
    assert BROKEN not in [c.answer for c in training_set.conversations]
    assert training_set.answer_text["used"] == {"scores": 1, "instruction_paraphrases": 1}
    assert training_set.answer_text["fell_back"] == {"scores": 1}

    fixed = training_set_build(project=project, last_judgement_id=0, data=CriticDataSettings(heldout_fraction=FRACTION, curriculum=True))
    assert _descriptions(fixed) == set() and fixed.answer_text == {}

    # Written once: a second run asks for nothing that has a row already (the rejected one stays for review).
    assert construction.constructed_texts_write(project=project, data=LLM_DATA) == {"skipped": 3}
    assert len(online.chat_requests) == 3


def test_changed_scores_make_the_cached_text_stale(online, project, split):
    """A text written for an old MOS is not used once the MOS changed: the input hash no longer matches."""
    train, _ = split
    Image.objects.filter(pk=train[0].pk).update(mos_normalised=31.5)
    online.script(Ok(GOOD), Ok(json.dumps(QUESTIONS)))
    construction.constructed_texts_write(project=project, data=LLM_DATA)
    Image.objects.filter(pk=train[0].pk).update(mos_normalised=77.0)

    training_set = training_set_build(project=project, last_judgement_id=0, data=LLM_DATA)

    assert _descriptions(training_set) == set()
    assert training_set.answer_text["fell_back"] == {"scores": 1}


def test_a_configured_url_the_policy_refuses_is_on_the_ledger(online, settings, project, split):
    """The policy refuses the configured base URL: the task ends normally, one failed construction call on the ledger
    says why, no request is made and nothing is stored, so the next run (settings fixed) writes everything."""
    from modeling.assist.tasks import llm_construct

    train, _ = split
    Image.objects.filter(pk=train[0].pk).update(mos_normalised=31.5)
    settings.LOUPE_LLM_BASE_URL = online.base_url.replace("http://", "http://user:pw@")

    assert llm_construct.apply(args=[project.pk]).get() == {"refused": 1}

    call = LLMCall.objects.get(project=project)
    assert (call.ok, call.purpose) == (False, LLMCall.Purpose.CONSTRUCTION)
    assert call.error.startswith("The endpoint policy refuses the configured LLM server")
    assert "refuses LOUPE_LLM_BASE_URL" in call.error_detail
    assert online.requests == [] and not ConstructedText.objects.exists()

    settings.LOUPE_LLM_BASE_URL = online.base_url
    online.script(Ok(GOOD), Ok(json.dumps(QUESTIONS)))
    assert construction.constructed_texts_write(project=project, data=LLM_DATA) == {"accepted": 2}


def test_offline_drafter_writes_labelled_answers_that_enter_training(offline, project, split):
    """No key: the template drafter writes every purpose, labelled; the conversations carry its sentences."""
    train, _ = split
    annotators = annotators_make(project, 2)
    judgements_add(project, [(image, 1 + i % 5) for i, image in enumerate(train[:4])], annotators, kind=TaskKind.RATING)
    for index, image in enumerate(train[4:8]):
        Image.objects.filter(pk=image.pk).update(mos_normalised=20.0 + 20 * index, source_dataset="koniq")
    Image.objects.filter(pk=train[8].pk).update(authenticity=Authenticity.AI_GENERATED)
    Image.objects.filter(pk=train[9].pk).update(authenticity=Authenticity.PHOTOGRAPHIC)

    counts = construction.constructed_texts_write(project=project, data=LLM_DATA)

    rows = ConstructedText.objects.filter(project=project)
    assert counts["accepted"] == rows.count() and "rejected" not in counts
    assert counts["needs_a_model"] == 1  # the paraphrases have no offline version
    assert set(rows.values_list("model", flat=True)) == {TEMPLATE_DRAFTER_MODEL}
    assert set(rows.values_list("purpose", flat=True)) == {"scores", "authenticity", "mos_pair"}

    last = max(j for j in project.judgements.values_list("id", flat=True))
    training_set = training_set_build(project=project, last_judgement_id=last, data=LLM_DATA)
    report = training_set.answer_text
    assert report["used"]["scores"] == 8 and report["used"]["authenticity"] == 2 and report["used"]["mos_pair"] >= 1
    assert report["fell_back"] == {"instruction_paraphrases": 1}
    described = {c.images[0] for c in training_set.conversations if c.task == "description"}
    assert described <= {str(image.pk) for image in train[:8]} and len(described) >= 6  # drawn into the stages
    descriptions = _descriptions(training_set)
    assert descriptions and all(not any(ch.isdigit() for ch in text) for text in descriptions)
    authenticity = {c.images[0]: c.answer for c in training_set.conversations if c.task == "authenticity"}
    assert authenticity[str(train[8].pk)] == "It looks very much like an AI-created image."
    assert authenticity[str(train[9].pk)] == "It appears to be a real photograph rather than an AI-generated image."
    relativity = [c.answer for c in training_set.conversations if c.task == "relativity"]
    # The drafter's pair sentence only restates the verdict ("The latter image has superior quality."): said once, not twice.
    assert relativity and all(a.count("quality.") == 1 and "superior" not in a for a in relativity)


def test_the_page_queues_the_writer_and_shows_rejected_outputs(client, project, researcher, offline, monkeypatch, django_capture_on_commit_callbacks, split):
    """The Critic page's button queues modeling.llm_construct; rejected outputs and their problems are listed there."""
    from modeling.assist.tasks import llm_construct

    train_ids, _ = heldout_split(project=project, fraction=CriticDataSettings().heldout_fraction)  # no version yet: the default split
    Image.objects.filter(pk=int(train_ids[0])).update(mos_normalised=50.0)
    ConstructedText.objects.create(
        project=project, purpose="scores", input_key="image:0", input_text="MOS: 12.00", input_hash="x", prompt_name="p",
        prompt_version=1, model="m", text="It scores 12.", problems=["contains digits"], status="rejected",
    )
    queued = []
    monkeypatch.setattr(llm_construct, "delay", lambda *args: queued.append(args))
    client.force_login(researcher)

    page = client.get(f"/projects/{project.pk}/critic/")
    assert b"Write answers with the LLM" in page.content and b"offline template drafter" in page.content
    assert b"It scores 12." in page.content and b"contains digits" in page.content

    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(f"/projects/{project.pk}/critic/construct/")
    assert response.status_code == 302 and queued == [(project.pk,)]
    assert b'name="numeric"' in page.content
    with django_capture_on_commit_callbacks(execute=True):
        client.post(f"/projects/{project.pk}/critic/construct/", {"numeric": "on"})
    assert queued[-1] == (project.pk, True)  # "numeric answers too"
    assert llm_construct.apply(args=[project.pk]).get() == {"accepted": 1, "needs_a_model": 1}
    row = ConstructedText.objects.get(project=project, input_key=f"image:{int(train_ids[0])}")
    assert (row.status, row.model) == ("accepted", TEMPLATE_DRAFTER_MODEL)
    page = client.get(f"/projects/{project.pk}/critic/")
    assert b"Scores \xe2\x86\x92 description" in page.content


def test_retrain_form_asks_for_llm_answers_and_rejects_unknown_ones(client, project, researcher, settings, tmp_path, monkeypatch, django_capture_on_commit_callbacks):
    """Retrain with the box ticked stores answer_text "llm" on the version; an unknown value is refused with a message."""
    from modeling.critic import tasks as tasks_critic

    settings.LOUPE_CRITIC_DIR = tmp_path
    queued = []
    monkeypatch.setattr(tasks_critic.critic_retrain, "delay", lambda *args: queued.append(args))
    client.force_login(researcher)
    response = client.post(f"/projects/{project.pk}/critic/retrain/", {"answer_text": "poetry"}, follow=True)
    assert b"Unknown answer text" in response.content
    assert not project.critic_versions.exists()

    with django_capture_on_commit_callbacks(execute=True):
        client.post(f"/projects/{project.pk}/critic/retrain/", {"answer_text": "llm"})
    version = project.critic_versions.get()
    assert version.training_settings["data"]["answer_text"] == "llm" and queued == [(version.pk,)]
    page = client.get(f"/projects/{project.pk}/critic/versions/{version.pk}/").content.decode()
    assert "LLM-written where accepted" in page


def test_bad_answer_text_setting_is_refused():
    """CriticDataSettings validates answer_text."""
    with pytest.raises(ValueError, match="answer_text"):
        CriticDataSettings(answer_text="poetry")


NUMERIC_DATA = CriticDataSettings(heldout_fraction=FRACTION, answer_text="llm", answer_format="numbers")


def _numeric_answers(training_set) -> dict[str, str]:
    return {c.images[0]: c.answer for c in training_set.conversations if c.task == "numeric"}


def test_numeric_answers_use_the_quantitative_prompt_and_keep_the_labels_numbers(online, project, split):
    """Paper 000, Fig. 3: the LLM puts the MOS and attribute numbers into a sentence; one that changed a number is
    rejected and that image keeps the template answer; a stored answer whose numbers no longer match is not trained."""
    train, _ = split
    first, second, third = sorted(train[:3], key=lambda image: image.pk)
    Image.objects.filter(pk=first.pk).update(mos_normalised=31.5, source_dataset="koniq", attributes={"sharpness": "42.57", "brightness": 60})
    Image.objects.filter(pk=second.pk).update(mos_normalised=44.0, source_dataset="spaq")
    Image.objects.filter(pk=third.pk).update(mos_normalised=70.25, source_dataset="live")
    written = "For this image, the MOS score is 31.50; its brightness is 60.00 and its sharpness is 42.57."
    changed = "For this image, the MOS score is 44.5."
    online.script(Ok(written), Ok(changed), Ok("The MOS score of this image is 70.25."), Ok(GOOD), Ok(GOOD), Ok(GOOD), Ok(json.dumps(QUESTIONS)))

    counts = construction.constructed_texts_write(project=project, data=NUMERIC_DATA)

    assert counts == {"accepted": 6, "rejected": 1}
    asked = online.chat_requests[0].messages
    assert "insert these numerical indicators into a natural language description" in " ".join(m["content"] for m in asked)
    assert asked[-1]["content"].endswith("MOS: 31.50\nBrightness: 60.00\nSharpness: 42.57")
    bad = ConstructedText.objects.get(purpose="quantitative", input_key=f"image:{second.pk}")
    assert bad.status == "rejected" and "gives MOS as 44.50, not 44.00" in bad.problems
    # An accepted row edited by hand (the admin) to a wrong number: training checks the numbers again.
    ConstructedText.objects.filter(purpose="quantitative", input_key=f"image:{third.pk}").update(text="The MOS score of this image is 90.00.")

    training_set = training_set_build(project=project, last_judgement_id=0, data=NUMERIC_DATA)

    answers = _numeric_answers(training_set)
    assert answers[str(first.pk)] == written
    assert answers[str(second.pk)] == "The MOS of the image is 44.00."  # the template answer, numbers from the labels
    assert answers[str(third.pk)] == "The MOS of the image is 70.25."
    assert training_set.answer_text["used"]["quantitative"] == 1
    assert training_set.answer_text["fell_back"]["quantitative"] == 2
    assert changed not in answers.values() and all("90.00" not in a for a in answers.values())


def test_numeric_answers_are_asked_for_only_with_a_numeric_format_or_the_box(offline, project, split):
    """Levels only: no quantitative calls; the box on the button (numeric=True) writes them with the offline drafter."""
    train, _ = split
    Image.objects.filter(pk=train[0].pk).update(mos_normalised=55.0)
    assert not any(i.purpose == "quantitative" for i in construction.construction_inputs(project=project, data=LLM_DATA))

    construction.constructed_texts_write(project=project, data=LLM_DATA, numeric=True)

    row = ConstructedText.objects.get(purpose="quantitative")
    assert (row.status, row.model, row.text) == ("accepted", TEMPLATE_DRAFTER_MODEL, "The MOS score of this image is 55.00.")
    training_set = training_set_build(project=project, last_judgement_id=0, data=NUMERIC_DATA)
    assert _numeric_answers(training_set) == {str(train[0].pk): "The MOS score of this image is 55.00."}
