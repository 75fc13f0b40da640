"""The LLaVA-style serialiser of the critic's conversations, checked against the builders' golden files."""
import json
import os
from pathlib import Path

import pytest

from modeling.conversations import Conversation
from modeling.llava_format import to_llava

BUILDER_GOLDEN = Path(__file__).resolve().parent.parent / "modeling" / "golden"
GOLDEN = Path(__file__).parent / "golden"
# Set LOUPE_UPDATE_GOLDEN=1 to rewrite the LLaVA golden files after a deliberate format change.
UPDATE = os.environ.get("LOUPE_UPDATE_GOLDEN") == "1"
NAMES = sorted(path.stem for path in BUILDER_GOLDEN.glob("*.json"))
# Exact LLaVA goldens for the builder goldens that have one (UPDATE writes one for each); every builder golden,
# new ones included, gets the structural check below.
LLAVA_NAMES = NAMES if UPDATE else sorted(path.stem.removeprefix("llava_") for path in GOLDEN.glob("llava_*.json"))


def _llava(name: str) -> list[dict]:
    conversations = [Conversation.from_dict(item) for item in json.loads((BUILDER_GOLDEN / f"{name}.json").read_text())]
    return [to_llava(c, record_id=f"{c.task}-{i}") for i, c in enumerate(conversations)]


@pytest.mark.parametrize("name", LLAVA_NAMES)
def test_builder_golden_files_serialise_to_the_llava_golden_files(name):
    """Each builder golden file becomes exactly its LLaVA golden file (read back with a plain json.load)."""
    records = _llava(name)
    path = GOLDEN / f"llava_{name}.json"
    if UPDATE:
        path.write_text(json.dumps(records, indent=2, ensure_ascii=False) + "\n")
    with path.open() as handle:
        assert records == json.load(handle)


@pytest.mark.parametrize("name", NAMES)
def test_llava_records_keep_every_image_answer_and_instruction(name):
    """One <image> per image, human then gpt, the builder's answer and instruction text unchanged."""
    conversations = [Conversation.from_dict(item) for item in json.loads((BUILDER_GOLDEN / f"{name}.json").read_text())]
    for conversation, record in zip(conversations, _llava(name), strict=True):
        turns = record["conversations"]  # multi-turn for perception conversations and general data
        human, gpt = turns[0], turns[-1]
        assert [t["from"] for t in turns] == ["human", "gpt"] * (len(turns) // 2)
        assert sum(t["value"].count("<image>") for t in turns) == len(conversation.images)
        images = record.get("image", [])
        images = images if isinstance(images, list) else [images]
        assert images == list(conversation.images)
        assert gpt["value"] == conversation.answer
        user = next(m for m in conversation.messages if m["role"] == "user")
        for segment in user["content"]:
            if segment["type"] == "text":
                assert segment["text"] in human["value"]
        system = [m for m in conversation.messages if m["role"] == "system"]
        assert record.get("system") == (system[0]["content"][0]["text"] if system else None)


def test_single_images_lead_with_a_newline_and_tagged_images_stay_in_place():
    """A leading image is '<image>\\n' (LLaVA's layout); paper 002's tags wrap theirs in place."""
    single = Conversation("scoring", ("x.png",), (
        {"role": "user", "content": [{"type": "image", "index": 0}, {"type": "text", "text": "Rate it."}]},
        {"role": "assistant", "content": [{"type": "text", "text": "The quality of the image is good."}]},
    ))
    assert to_llava(single, record_id="s", image_paths={"x.png": "images/x.png"}) == {
        "id": "s", "task": "scoring", "image": "images/x.png",
        "conversations": [{"from": "human", "value": "<image>\nRate it."}, {"from": "gpt", "value": "The quality of the image is good."}],
    }
    tagged = Conversation("comparison_reasoning", ("a", "b"), (
        {"role": "user", "content": [
            {"type": "text", "text": "<Img-A>"}, {"type": "image", "index": 0}, {"type": "text", "text": "</Img-A>"},
            {"type": "text", "text": "<Img-B>"}, {"type": "image", "index": 1}, {"type": "text", "text": "</Img-B>"},
            {"type": "text", "text": "Compare."},
        ]},
        {"role": "assistant", "content": [{"type": "text", "text": "A is sharper."}]},
    ))
    record = to_llava(tagged, record_id="t")
    assert record["conversations"][0]["value"] == "<Img-A><image></Img-A><Img-B><image></Img-B>Compare."
    assert record["image"] == ["a", "b"]


def test_a_conversation_without_an_answer_is_refused():
    """LLaVA trainers need human/gpt turns ending with gpt: anything else raises a clear ValueError."""
    unanswered = Conversation("scoring", ("x",), (
        {"role": "user", "content": [{"type": "image", "index": 0}, {"type": "text", "text": "Rate it."}]},
    ))
    with pytest.raises(ValueError, match="alternate human, gpt"):
        to_llava(unanswered, record_id="u")
