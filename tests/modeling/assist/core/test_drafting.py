"""Drafting and VQA generation end to end: template, client over real sockets (or the offline drafter), validation."""
from __future__ import annotations

import json

import pytest

from modeling.assist.core.client import LLMUnavailable
from modeling.assist.core.default_prompts import default_template
from modeling.assist.core.drafting import (
    LLMNotConfigured,
    VQAItem,
    construct_text,
    draft_paragraph,
    generate_conversation,
    generate_vqa,
)
from tests.llm_server import Ok, Status
from tests.modeling.assist.core.test_prompts import DESCRIPTION_ANSWER, PAIR_ANSWER

GOOD_PARAGRAPH = (
    "The overall quality of this image is severely compromised by severe color distortion and severe noise. "
    "Brightness, artifacts and blurriness are undistorted. The texture of the plants is barely identifiable, "
    "because the color shift and the noise hide its fine structure, so the image has severe distortion overall."
)
FEEDBACK = {"description": "The image is blurry and underexposed.", "conclusion": "Poor quality.", "level": 2}
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 8


def test_offline_draft_is_labelled_and_passes(labels):
    """Without a client the template drafter writes the draft, labelled as such, with no problems."""
    draft = draft_paragraph(None, default_template("description_paragraph"), DESCRIPTION_ANSWER, labels)
    assert draft.is_template_output and draft.model == "loupe-template-drafter"
    assert draft.ok and (draft.template_name, draft.prompt_version) == ("description_paragraph", 1)
    assert draft.usage.requests == 0


def test_model_draft_passes_and_records_usage(llm_server, make_client, labels):
    """A good model paragraph comes back with no problems, the model name, and its usage; the image was sent."""
    llm_server.script(Ok(GOOD_PARAGRAPH, prompt_tokens=900, completion_tokens=80))
    draft = draft_paragraph(make_client(), default_template("description_paragraph"), DESCRIPTION_ANSWER, labels,
                            images=[PNG])
    assert draft.ok and draft.text == GOOD_PARAGRAPH and not draft.is_template_output
    assert (draft.model, draft.usage.prompt_tokens, draft.attempts) == ("fake-vision-1", 900, 1)
    request = llm_server.chat_requests[0]
    assert len(request.image_urls()) == 1 and request.body["messages"][0]["role"] == "system"


def test_model_output_that_breaks_the_rules_is_returned_with_problems(llm_server, make_client, labels):
    """Digits, a missing verdict word and a missing severe aspect are reported, not raised."""
    llm_server.script(Ok("This image scores 2 out of 10 for quality because the colours are off."))
    draft = draft_paragraph(make_client(), default_template("description_paragraph"), DESCRIPTION_ANSWER, labels)
    assert not draft.ok
    assert draft.problems == [
        "contains digits (0, 1, 2), which this prompt forbids",
        "does not mention “severe”",
        "does not mention “nois” or “grain”",
        "too short: 14 words, at least 30 expected",
    ]
    assert draft.text.startswith("This image scores")  # kept, so the app can show the rejected output


def test_transport_failure_raises_and_leaves_nothing_half_done(llm_server, make_client, labels):
    """A server that keeps failing raises LLMUnavailable; the caller still has the answer it passed in."""
    llm_server.script(*[Status(502)] * 3)
    with pytest.raises(LLMUnavailable):
        draft_paragraph(make_client(), default_template("comparison_paragraph"), PAIR_ANSWER, labels)


def test_contradictory_pair_answer_is_flagged(labels):
    """A forced choice that contradicts the overall comparison is listed as a problem of the draft."""
    draft = draft_paragraph(None, default_template("comparison_paragraph"), {**PAIR_ANSWER, "choice": "b"}, labels)
    assert draft.problems == ["the forced choice ('b') contradicts the overall comparison ('a_better')"]


def test_yes_no_generation_parses_fenced_json(llm_server, make_client, labels):
    """Balanced yes/no items in a code fence are parsed into VQAItems with no problems."""
    items = [{"question": "Is the image blurry?", "answer": "yes"}, {"question": "Is it sharp?", "answer": "no"}]
    llm_server.script(Ok("```json\n" + json.dumps(items) + "\n```"))
    result = generate_vqa(make_client(), default_template("qsit_yes_no"), FEEDBACK, labels)
    assert result.problems == []
    assert result.items == [VQAItem("Is the image blurry?", "yes"), VQAItem("Is it sharp?", "no")]
    assert [item.kind for item in result.items] == ["yes_no", "yes_no"]
    assert "Quality level: Poor" in llm_server.chat_requests[0].body["messages"][-1]["content"]


def test_unbalanced_yes_no_generation_reports_the_imbalance(llm_server, make_client):
    """Three yes and one no: the items are kept for review and the imbalance is a problem."""
    items = [{"question": f"Q{n}?", "answer": answer} for n, answer in enumerate(["yes", "yes", "yes", "no"])]
    llm_server.script(Ok(json.dumps(items)))
    result = generate_vqa(make_client(), default_template("qsit_yes_no"), FEEDBACK)
    assert len(result.items) == 4
    assert result.problems == ["yes and no answers must be balanced 1:1; got 3 yes and 1 no"]


def test_multiple_choice_generation_and_malformed_output(llm_server, make_client):
    """Good multiple-choice JSON gives items with options; prose instead of JSON is a problem, not a crash."""
    items = [{"question": "What distortion is visible?", "answer": "Blur", "options": ["Noise", "Blur", "Haze", "Banding"]},
             {"question": "How is the exposure?", "answer": "Underexposed",
              "options": ["Underexposed", "Overexposed", "Well exposed", "Flat"]}]
    llm_server.script(Ok(json.dumps(items)), Ok("Sure! Here are some questions about the image."))
    template = default_template("qsit_multiple_choice")
    good = generate_vqa(make_client(), template, FEEDBACK)
    assert good.problems == [] and good.items[0].options == ("Noise", "Blur", "Haze", "Banding")
    assert good.items[0].to_dict()["options"] == ["Noise", "Blur", "Haze", "Banding"]
    bad = generate_vqa(make_client(), template, FEEDBACK)
    assert bad.items == [] and bad.problems[0].startswith("is not valid JSON")


def test_offline_vqa_and_conversation(labels):
    """Offline yes/no comes from attribute words; multiple choice and conversations need a model."""
    result = generate_vqa(None, default_template("qsit_yes_no"), FEEDBACK, labels)
    assert result.problems == [] and result.draft.is_template_output
    assert [item.answer for item in result.items] == ["yes", "no", "yes", "no"]
    with pytest.raises(LLMNotConfigured):
        generate_vqa(None, default_template("qsit_multiple_choice"), FEEDBACK)
    with pytest.raises(LLMNotConfigured):
        generate_conversation(None, default_template("qsit_conversation"), FEEDBACK)


def test_conversation_generation(llm_server, make_client):
    """A well-formed conversation becomes turns; the user speaks first and the assistant last."""
    turns = [{"role": "user", "content": "Why is it blurry?"}, {"role": "assistant", "content": "Camera shake."},
             {"role": "user", "content": "How to fix it?"}, {"role": "assistant", "content": "Use a tripod."}]
    llm_server.script(Ok(json.dumps(turns)))
    result = generate_conversation(make_client(), default_template("qsit_conversation"), FEEDBACK)
    assert result.problems == [] and [t.role for t in result.turns] == ["user", "assistant"] * 2


def test_visualcritic_construction_online_and_offline(llm_server, make_client):
    """Score descriptions need a model; MOS comparisons fall back to the drafter; numbers are rejected."""
    llm_server.script(Ok("The image has moderate quality with a MOS of 48.86."))
    draft = construct_text(make_client(), default_template("visualcritic_scores_description"), {"MOS": 48.86})
    assert draft.problems[0].startswith("contains digits")
    offline = construct_text(None, default_template("visualcritic_mos_comparison"), (40.0, 70.0))
    assert offline.ok and offline.text == "The latter image has superior quality."
    with pytest.raises(LLMNotConfigured):
        construct_text(None, default_template("visualcritic_instruction_paraphrases"), "Sharpness")


def test_quantitative_prompt_is_the_papers_and_its_numbers_are_checked(llm_server, make_client):
    """Fig. 3's quantitative prompt with its examples; a reply that changes a number is rejected, offline states them all."""
    template = default_template("visualcritic_quantitative")
    payload = {"MOS": 72.35, "Sharpness": 40.0}
    llm_server.script(Ok("For this image, the MOS score is 72.35 and its sharpness is 40.00."), Ok("The MOS score is 72 and its sharpness is 40."))
    good = construct_text(make_client(), template, payload)
    assert good.ok and good.text == "For this image, the MOS score is 72.35 and its sharpness is 40.00."
    sent = llm_server.chat_requests[0].messages
    assert "insert these numerical indicators into a natural language description" in sent[1]["content"] + sent[-1]["content"]
    assert sent[-1]["content"].endswith("MOS: 72.35\nSharpness: 40.00")
    assert {"MOS: 48.86", "MOS: 76.33"} <= {m["content"].rsplit("\n", 1)[-1] for m in sent if m["role"] == "user"}
    changed = construct_text(make_client(), template, payload)
    assert not changed.ok and "gives MOS as 72.00, not 72.35" in changed.problems
    offline = construct_text(None, template, payload)
    assert offline.ok and offline.text == "The MOS score of this image is 72.35; its sharpness is 40.00."


def test_template_for_the_wrong_task_is_refused(labels):
    """Passing a VQA template to draft_paragraph is a programming error (ValueError)."""
    with pytest.raises(ValueError, match="feedback_yes_no"):
        draft_paragraph(None, default_template("qsit_yes_no"), DESCRIPTION_ANSWER, labels)
