"""The conversation exports read back by readers that follow each target trainer's documented data schema.

- LLaVA-1.5 / Q-Instruct (LLaVA's `LazySupervisedDataset` and `preprocess_multimodal`): `image` is one path joined to
  the image folder (a list raises), `conversations` alternate human/gpt from a human turn, and a record with an image
  has exactly one `<image>` token (none without one).
- LLaVA-OneVision (LLaVA-NeXT's loader): `image` a path or a list of paths, as many `<image>` tokens as images.
- LLaMA-Factory (data/README.md, `dataset_info.json` + ShareGPT converter and mm_plugin's check): the entry's
  `file_name`, `formatting: sharegpt`, `columns` and `tags` say where messages, images and system are; user turns at
  even positions, assistant at odd, an even count; `<image>` placeholders equal the images; image paths relative
  to the dataset folder.
"""
import json
import zipfile

import pytest
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage

from annotation.models import Image, Judgement
from annotation.vocabulary import TaskKind
from exports.filters import ExportFilters
from exports.writing import export_write
from modeling.conversations import Conversation
from modeling.llava_format import to_llava_single, to_sharegpt
from tests.exports.test_formats import _conversation_project
from tests.factories import AnnotatorFactory, MembershipFactory


class SchemaError(ValueError):
    """The record breaks the trainer's documented schema."""


def read_llava15(path, image_folder):
    """Records as LLaVA-1.5's loader reads them; raises SchemaError where it would fail."""
    records = json.loads(path.read_text(encoding="utf-8"))
    for record in records:
        turns = record["conversations"]
        if "image" in record:
            if not isinstance(record["image"], str):
                raise SchemaError(f"{record['id']}: 'image' must be one path, not {type(record['image']).__name__}")
            if not (image_folder / record["image"]).is_file():
                raise SchemaError(f"{record['id']}: no image file {record['image']}")
        tokens = sum(turn["value"].count("<image>") for turn in turns)
        if tokens != (1 if "image" in record else 0):
            raise SchemaError(f"{record['id']}: {tokens} <image> tokens")
        for index, turn in enumerate(turns):
            if turn["from"] != ("human", "gpt")[index % 2]:
                raise SchemaError(f"{record['id']}: turn {index} is from {turn['from']}")
    return records


def read_onevision(path, image_folder):
    """Records as LLaVA-OneVision's loader reads them (one path or a list); raises SchemaError where it would fail."""
    records = json.loads(path.read_text(encoding="utf-8"))
    for record in records:
        images = record.get("image", [])
        images = [images] if isinstance(images, str) else images
        if any(not (image_folder / image).is_file() for image in images):
            raise SchemaError(f"{record['id']}: an image file is missing")
        if sum(turn["value"].count("<image>") for turn in record["conversations"]) != len(images):
            raise SchemaError(f"{record['id']}: <image> tokens and images differ")
        if [turn["from"] for turn in record["conversations"]] != ["human", "gpt"] * (len(record["conversations"]) // 2):
            raise SchemaError(f"{record['id']}: turns do not alternate")
    return records


def read_llamafactory(dataset_dir, dataset_name):
    """(system, messages, images) per record as LLaMA-Factory's ShareGPT converter reads them through dataset_info.json."""
    entry = json.loads((dataset_dir / "dataset_info.json").read_text(encoding="utf-8"))[dataset_name]
    if entry.get("formatting") != "sharegpt":
        raise SchemaError("not a sharegpt dataset")
    columns, tags = entry["columns"], entry["tags"]
    examples = []
    for record in json.loads((dataset_dir / entry["file_name"]).read_text(encoding="utf-8")):
        messages, system = record[columns["messages"]], record.get(columns.get("system", ""), "") or ""
        accepted = (tags["user_tag"], tags["assistant_tag"])
        for index, message in enumerate(messages):
            if message[tags["role_tag"]] != accepted[index % 2]:
                raise SchemaError(f"{record.get('id')}: message {index} has role {message[tags['role_tag']]}")
        if len(messages) % 2:
            raise SchemaError(f"{record.get('id')}: an odd number of messages")
        images = record[columns["images"]]
        if sum(message[tags["content_tag"]].count("<image>") for message in messages) != len(images):
            raise SchemaError(f"{record.get('id')}: the number of images does not match the number of <image> tokens")
        if any(not (dataset_dir / image).is_file() for image in images):
            raise SchemaError(f"{record.get('id')}: an image file is missing")
        examples.append((system, [(m[tags["role_tag"]], m[tags["content_tag"]]) for m in messages], images, record))
    return examples


@pytest.fixture
def annotators(project):
    return [MembershipFactory(project=project, user=AnnotatorFactory()).user for _ in range(3)]


FORMATS = ["conversations", "conversations_llava15", "conversations_sharegpt"]


@pytest.mark.django_db
def test_each_variant_loads_in_its_trainers_reader(project, annotators, tmp_path):
    """One zip with the three variants and the images: each reads back under its trainer's schema, with the same answers."""
    for image in _conversation_project(project, annotators):  # the factory's rows have no files: store some bytes
        default_storage.save(image.file.name, ContentFile(b"\x89PNG\r\n\x1a\n" + image.content_hash.encode()))
    result = export_write(project=project, formats=FORMATS, filters=ExportFilters(), include_images=True, path=tmp_path / "out.zip")
    folder = tmp_path / "unzipped"
    with zipfile.ZipFile(tmp_path / "out.zip") as archive:
        archive.extractall(folder)
        manifest = json.loads(archive.read("manifest.json"))
    onevision = read_onevision(folder / "conversations.json", folder)
    single = read_llava15(folder / "conversations_llava15.json", folder)
    shared = read_llamafactory(folder, "loupe_" + project.slug.replace("-", "_"))
    multi = [record for record in onevision if isinstance(record.get("image"), list)]
    assert multi and single and len(single) == len(onevision) - len(multi)
    assert result.row_counts == {"conversations": len(onevision), "conversations_llava15": len(single), "conversations_sharegpt": len(shared)}
    assert f"{len(multi)} multi-image conversations left out (relativity: {len(multi)})" in manifest["notes"]["conversations_llava15"]
    assert "dataset_info.json" in manifest["members"]
    assert [record["id"] for record in single] == [record["id"] for record in onevision if not isinstance(record.get("image"), list)]
    for (system, messages, images, record), original in zip(shared, onevision, strict=True):
        assert record["id"] == original["id"] and messages[-1][1] == original["conversations"][-1]["value"]
        assert images == (original["image"] if isinstance(original["image"], list) else [original["image"]])
    with pytest.raises(SchemaError, match="must be one path"):
        read_llava15(folder / "conversations.json", folder)  # the OneVision form is what LLaVA-1.5 cannot read


@pytest.mark.django_db
def test_records_trace_back_to_their_judgements_and_image_hashes(project, annotators, tmp_path):
    """A relativity record names its pair judgement; the description names its pathway judgement; hashes are the files'."""
    _conversation_project(project, annotators)
    path = tmp_path / "conversations.json"
    export_write(project=project, formats=["conversations"], filters=ExportFilters(), include_images=False, path=path)
    records = json.loads(path.read_text())
    hashes = dict(Image.objects.filter(project=project).values_list("id", "content_hash"))
    for record in records:
        source = record["source"]
        assert source["image_sha256"] == [hashes[i] for i in source["image_ids"]]
    pairs = {
        frozenset((a, b)): judgement_id for judgement_id, a, b in
        Judgement.objects.filter(project=project, kind=TaskKind.PAIR).values_list("id", "item__image_id", "item__image_b_id")
    }
    from_pairs = [r for r in records if r["task"] == "relativity" and r["source"]["judgement_ids"]]
    assert from_pairs
    for record in from_pairs:
        assert record["source"]["judgement_ids"] == [pairs[frozenset(record["source"]["image_ids"])]]
    pathway = Judgement.objects.get(project=project, kind=TaskKind.PATHWAY)
    descriptions = [r for r in records if r["task"] == "description"]
    assert descriptions and all(r["source"]["judgement_ids"] == [pathway.pk] for r in descriptions)
    scoring = [r for r in records if r["task"] == "scoring" and r["source"]["judgement_ids"]]
    assert scoring
    for record in scoring:
        (image_id,) = record["source"]["image_ids"]
        rated = set(Judgement.objects.filter(project=project, item__image_id=image_id, kind__in=(TaskKind.RATING, TaskKind.PATHWAY)).values_list("id", flat=True))
        assert set(record["source"]["judgement_ids"]) == rated


@pytest.mark.django_db
def test_sharegpt_alone_downloads_as_a_zip_with_its_dataset_info(project, annotators, tmp_path):
    """One ShareGPT export without images is still a zip: LLaMA-Factory needs dataset_info.json beside the data."""
    _conversation_project(project, annotators)
    export_write(project=project, formats=["conversations_sharegpt"], filters=ExportFilters(), include_images=False, path=tmp_path / "x")
    with zipfile.ZipFile(tmp_path / "x") as archive:
        info = json.loads(archive.read("dataset_info.json"))
        assert set(archive.namelist()) == {"conversations_sharegpt.json", "dataset_info.json", "manifest.json"}
    (entry,) = info.values()
    assert entry["file_name"] == "conversations_sharegpt.json" and entry["columns"]["system"] == "system"


SCORING = Conversation("scoring", ("7",), (
    {"role": "system", "content": [{"type": "text", "text": "Assume you are an image quality evaluator."}]},
    {"role": "user", "content": [{"type": "image", "index": 0}, {"type": "text", "text": "Rate the quality."}]},
    {"role": "assistant", "content": [{"type": "text", "text": "The quality of the image is good."}]},
))
PAIR = Conversation("relativity", ("1", "2"), (
    {"role": "user", "content": [{"type": "image", "index": 0}, {"type": "image", "index": 1}, {"type": "text", "text": "Which?"}]},
    {"role": "assistant", "content": [{"type": "text", "text": "The first image has better quality."}]},
))


def test_system_prompt_goes_where_each_format_has_a_place_for_it():
    """ShareGPT keeps it in `system`; LLaVA-1.5 has none, so it opens the first human turn after the image token."""
    single = to_llava_single(SCORING, record_id="s", image_paths={"7": "images/7.png"})
    assert single["conversations"][0]["value"] == "<image>\nAssume you are an image quality evaluator.\nRate the quality."
    assert "system" not in single and single["image"] == "images/7.png"
    shared = to_sharegpt(SCORING, record_id="s", image_paths={"7": "images/7.png"})
    assert shared["system"] == "Assume you are an image quality evaluator."
    assert shared["messages"] == [
        {"role": "user", "content": "<image>\nRate the quality."},
        {"role": "assistant", "content": "The quality of the image is good."},
    ]
    assert to_sharegpt(PAIR, record_id="p")["images"] == ["1", "2"] and to_sharegpt(PAIR, record_id="p")["system"] == ""


def test_llava15_refuses_a_multi_image_conversation():
    """LLaVA-1.5 reads one image a record: a two-image conversation raises a clear ValueError."""
    with pytest.raises(ValueError, match="one image a record; this conversation has 2"):
        to_llava_single(PAIR, record_id="p")


@pytest.mark.django_db
def test_variants_are_offered_by_the_form_the_api_and_the_command(client, project, researcher, annotators, tmp_path, django_capture_on_commit_callbacks):
    """The form lists the three variants, the API queues one (a ShareGPT job downloads as a zip), the command writes one."""
    from django.core.management import call_command
    from django.urls import reverse

    from exports.forms import ExportForm
    from exports.models import ExportJob
    from exports.services import export_file_name

    offered = dict(ExportForm().fields["formats"].choices)
    assert {"conversations", "conversations_llava15", "conversations_sharegpt"} <= set(offered)
    client.force_login(researcher)
    with django_capture_on_commit_callbacks():
        response = client.post(reverse("api:export_list", kwargs={"project_id": project.pk}), {"formats": ["conversations_sharegpt"]}, content_type="application/json")
    assert response.status_code == 202
    job = ExportJob.objects.get()
    assert job.is_bundle and export_file_name(job).endswith(".zip")
    _conversation_project(project, annotators)
    out = tmp_path / "single.json"
    call_command("export_dataset", project.slug, "--format", "conversations_llava15", "--out", str(out))
    assert all(isinstance(record.get("image", ""), str) for record in json.loads(out.read_text()))
