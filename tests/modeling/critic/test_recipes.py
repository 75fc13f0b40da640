"""The papers' recipes on real rows: VQA items, general data, level bounds, FR references, the mix, the Retrain form, the page."""
import json
from collections import Counter

import pytest
from django.urls import reverse
from PIL import Image as PILImage

from annotation.models import Image, Judgement, TextRevision
from annotation.vocabulary import TaskKind
from modeling.assist.models import VQAItem
from modeling.conversation_kinds import GROUP_TASKS, QSIT_GROUP_RATIOS
from modeling.conversation_prompts import BRIEF_ANSWERS, SCORING_SYSTEM_PROMPT
from modeling.critic import services as critic_services
from modeling.critic.data import CriticDataError, CriticDataSettings, heldout_split, scorer_config, training_set_build
from modeling.critic.models import CriticVersion
from modeling.critic.recipes import RecipeError, recipe_overrides
from tests.evaluation.judgement_builders import annotators_make, images_make, judgements_add
from tests.modeling.critic.test_views import no_enqueue  # noqa: F401 -- the fixture: tasks recorded, not sent


@pytest.fixture
def rows(project):
    """40 file-less images with MOS in two sources, pathway feedback with accepted VQA items, pair paragraphs, labels."""
    images = images_make(project, 40)
    for k, image in enumerate(images):
        image.mos_normalised = 21.0 + k * 1.5  # spaq 21-49.5, koniq 51-79.5
        image.source_dataset = "spaq" if k < 20 else "koniq"
        image.authenticity = "photographic"
        image.attributes = {"brightness": 40 + k, "sharpness": "60"}
    Image.objects.bulk_update(images, ["mos_normalised", "source_dataset", "authenticity", "attributes"])
    train_ids, heldout_ids = heldout_split(project=project, fraction=0.2)
    by_id = {image.pk: image for image in images}
    train = [by_id[i] for i in train_ids]
    annotators = annotators_make(project, 2)
    pathway = judgements_add(project, [(image, 3) for image in train[:12]], annotators, kind=TaskKind.PATHWAY)
    for judgement in pathway:
        judgement.answer = {"description": "Slight noise in the shadows.", "conclusion": "Fair quality.", "level": 3}
    Judgement.objects.bulk_update(pathway, ["answer"])
    for k, judgement in enumerate(pathway):
        status = VQAItem.Status.ACCEPTED if k % 3 else VQAItem.Status.PROPOSED  # proposed ones never train
        VQAItem.objects.create(project=project, source_judgement=judgement, kind=VQAItem.Kind.YES_NO, question="Is there noise?",
                               answer="Yes", status=status)
        VQAItem.objects.create(project=project, source_judgement=judgement, kind=VQAItem.Kind.MULTIPLE_CHOICE, question="What is noisy?",
                               answer="the shadows", options=["the shadows", "the sky", "the face"], status=VQAItem.Status.EDITED)
        VQAItem.objects.create(project=project, source_judgement=judgement, kind=VQAItem.Kind.CONVERSATION, status=VQAItem.Status.ACCEPTED,
                               conversation=[{"role": "user", "content": "Is it noisy?"}, {"role": "assistant", "content": "A little."}])
    pairs = judgements_add(project, [(a, b, "a") for a, b in zip(train[12:20], train[13:21])], annotators)
    for judgement in pairs:
        TextRevision.objects.create(judgement=judgement, annotator=judgement.annotator, project=project,
                                    status=TextRevision.Status.SAVED, final_text="A is sharper than B.")
    return images, train, pathway


def _build(project, **data):
    return training_set_build(project=project, last_judgement_id=10**9, data=CriticDataSettings(**{"heldout_fraction": 0.2, **data}))


def test_accepted_vqa_items_become_perception_conversations(project, rows):
    """Accepted and edited VQA items (never proposed ones) train as perception conversations of training images."""
    result = _build(project, curriculum=False, mix={"perception": 1.0, "scoring": 1.0})
    perception = [c for c in result.conversations if c.task == "perception"]
    assert result.composition["available"]["perception"] == 8 + 12 + 12  # yes/no accepted on 8 of 12, MC and conversations on all
    assert perception and {c.images[0] for c in perception} <= {str(j.item.image_id) for j in rows[2]}
    assert any(len(c.messages) == 2 and c.answer == "A little." for c in perception)
    off = _build(project, curriculum=False, mix={"perception": 1.0, "scoring": 1.0}, perception=False)
    assert off.counts.get("perception", 0) == 0


def test_qsit_groups_mix_within_five_percent_and_recorded(project, rows, settings, tmp_path):
    """The built set's assessment : perception : general shares are within ±5% of the configured 1 : 2.5 : 1.04."""
    settings.LOUPE_GENERAL_DATA_DIR = str(_general_folder(tmp_path))
    result = _build(project, groups=dict(QSIT_GROUP_RATIOS), general_data="llava/general.json")
    group_of = {task: group for group, tasks in GROUP_TASKS.items() for task in tasks}
    built = Counter(group_of[c.task] for c in result.conversations)
    total = sum(QSIT_GROUP_RATIOS.values())
    for group, ratio in QSIT_GROUP_RATIOS.items():
        assert abs(built[group] / len(result.conversations) - ratio / total) <= 0.05
    mix = result.composition["mix"]
    assert mix["by"] == "groups" and mix["missing"] == [] and mix["counts"] == dict(built)
    assert result.composition["by_task_source"]["general"] == {"general data": built["general"]}
    assert set(result.image_files) == {"general:llava/images/a.png"}


def _general_folder(tmp_path):
    root = tmp_path / "general"
    (root / "llava" / "images").mkdir(parents=True)
    PILImage.new("RGB", (8, 8), (200, 10, 10)).save(root / "llava" / "images" / "a.png")
    records = [{"image": "images/a.png", "conversations": [{"from": "human", "value": "<image>\nWhat colour is it?"},
                                                           {"from": "gpt", "value": "Red."}]},
               {"conversations": [{"from": "human", "value": "Say hello."}, {"from": "gpt", "value": "Hello."}]}]
    (root / "llava" / "general.json").write_text(json.dumps(records))
    (root / "llava" / "broken.json").write_text(json.dumps([{"image": "images/missing.png", "conversations": records[0]["conversations"]}]))
    (tmp_path / "outside.json").write_text(json.dumps(records))
    return root


@pytest.mark.parametrize("name, message", [
    ("../outside.json", "not inside the general-data folder"),
    ("llava/nothing.json", "No file"),
    ("llava/broken.json", "image 'images/missing.png' is missing"),
])
def test_unusable_general_data_fails_with_a_reason(project, rows, settings, tmp_path, name, message):
    """A general file outside the folder, missing, or with a missing image is refused with a clear message."""
    settings.LOUPE_GENERAL_DATA_DIR = str(_general_folder(tmp_path))
    with pytest.raises(CriticDataError, match=message):
        _build(project, groups=dict(QSIT_GROUP_RATIOS), general_data=name)


def test_general_data_is_off_without_the_folder_setting(project, rows, settings):
    """No LOUPE_GENERAL_DATA_DIR: naming a file is refused, nothing is read."""
    settings.LOUPE_GENERAL_DATA_DIR = ""
    with pytest.raises(CriticDataError, match="LOUPE_GENERAL_DATA_DIR"):
        _build(project, general_data="x.json")


def test_level_bounds_observed_by_default_and_scale_as_option(project, rows):
    """Eq. 1: by default each source's lowest score is 'bad' and its highest 'excellent'; 'scale' uses 0-100."""
    observed = _build(project, curriculum=False, mix={"scoring": 1.0})
    scale = _build(project, curriculum=False, mix={"scoring": 1.0}, level_bounds="scale")
    words = lambda result: Counter(c.answer.rstrip(".").split()[-1] for c in result.conversations)  # noqa: E731
    assert words(observed)["bad"] >= 2 and words(observed)["excellent"] >= 2  # each source's ends
    assert words(scale)["bad"] == 0 and words(scale)["excellent"] == 0  # MOS 21-79.5 never reaches 0-20 or 80-100
    assert all(c.messages[0]["content"][0]["text"] == SCORING_SYSTEM_PROMPT for c in observed.conversations)


def test_numeric_answers_and_joint_scale_options(project, rows):
    """answer_format 'both' adds numeric MOS answers with the image's attributes; 'joint' puts all sources on one scale."""
    result = _build(project, curriculum=False, mix={"numeric": 1.0, "scoring": 1.0}, answer_format="both")
    numeric = [c for c in result.conversations if c.task == "numeric"]
    assert numeric and all(c.answer.startswith("The MOS of the image is ") and "brightness is" in c.answer and "sharpness is 60.00" in c.answer
                           for c in numeric)
    spaq = {str(image.pk) for image in rows[0][:20]}
    per_source = _build(project, curriculum=False, mix={"scoring": 1.0})
    joint = _build(project, curriculum=False, mix={"scoring": 1.0}, absolute_scores="joint")
    level = lambda result: {c.images[0]: c.answer.rstrip(".").split()[-1] for c in result.conversations if c.images[0] in spaq}  # noqa: E731
    assert "excellent" in level(per_source).values()  # spaq's best is excellent on spaq's own scale
    assert set(level(joint).values()) <= {"bad", "poor", "fair"}  # on one scale with koniq it never is


def test_one_class_authenticity_builds_nothing_and_says_so(project, rows):
    """Every training image a photograph: no authenticity conversations, and a note for the version page."""
    result = _build(project, curriculum=False, mix={"authenticity": 1.0, "scoring": 1.0})
    assert result.counts.get("authenticity", 0) == 0
    assert any("every labelled training image is a photograph" in note for note in result.composition["notes"])
    Image.objects.filter(project=project, pk__in=[i.pk for i in rows[1][:5]]).update(authenticity="ai_generated")
    both = _build(project, curriculum=False, mix={"authenticity": 1.0, "scoring": 1.0})
    assert both.counts["authenticity"] > 0 and not both.composition["notes"]


def test_full_reference_descriptions_keep_the_reference_and_brief_answers(project, rows):
    """A description of a full-reference image carries its reference and tag; brief answers join each chosen comparison."""
    images, train, pathway = rows
    reference = train[-1]
    Image.objects.filter(pk__in=[j.item.image_id for j in pathway]).update(reference=reference)
    result = _build(project, curriculum=False, mix={"description": 1.0, "comparison_reasoning": 1.0}, brief_answers=True)
    described = [c for c in result.conversations if c.task == "description"]
    assert described and all(c.images[0] == str(reference.pk) and c.messages[0]["content"][0]["text"] == "<Img-Reference>" for c in described)
    reasoning = [c for c in result.conversations if c.task == "comparison_reasoning"]
    brief = [c for c in reasoning if "single word or phrase" in c.messages[0]["content"][-1]["text"]]
    assert brief and all(c.answer in BRIEF_ANSWERS["a"] for c in brief)  # every pair was won by A
    assert result.composition["available"]["comparison_reasoning"] == 2 * 8  # a brief question beside each of the 8 paragraphs


def test_recipes_set_their_options_and_visualcritic_emits_stages():
    """Each recipe's overrides: Q-SiT's groups and prefix, VisualCritic's three stages in order, DepictQA's brief answers."""
    defaults = critic_services.training_settings_default(tiny=True)
    qsit = recipe_overrides("qsit", defaults=defaults)
    assert qsit["data"]["groups"] == QSIT_GROUP_RATIOS and qsit["data"]["scoring_system_prompt"] is True
    visual = recipe_overrides("visualcritic", defaults=defaults)
    assert [s["name"] for s in visual["stages"]] == ["relativity", "absolute scores", "descriptions and authenticity"]
    assert visual["stages"][0]["tasks"] == ["relativity"] and visual["stages"][0]["max_steps"] == 100
    assert all(isinstance(s["learning_rate"], float) for s in visual["stages"])
    assert recipe_overrides("depictqa", defaults=defaults)["data"]["brief_answers"] is True
    composed = recipe_overrides("compose", defaults=defaults, options={"groups": {"assessment": 1.0, "perception": 1.0}, "stagewise": True})
    assert composed["data"]["curriculum"] is False and len(composed["stages"]) == 3
    with pytest.raises(RecipeError):
        recipe_overrides("qalign", defaults=defaults)


def test_scorer_asks_with_the_prefix_only_when_the_version_trained_with_it():
    """New versions store scoring_system_prompt; versions stored before the option have none and scored without it."""
    assert scorer_config({"data": CriticDataSettings().to_dict()}).scoring_system_prompt is True
    assert scorer_config({"data": {"heldout_fraction": 0.2}}).scoring_system_prompt is False


def test_retrain_form_saves_the_recipe_and_the_version_page_shows_the_set(client, project, researcher, settings, tmp_path, no_enqueue,
                                                                          django_capture_on_commit_callbacks):
    """Picking the Q-SiT recipe with other ratios stores them; the version page shows the recipe, the mix and the notes."""
    settings.LOUPE_CRITIC_DIR = tmp_path
    client.force_login(researcher)
    page = client.get(reverse("critic:index", kwargs={"project_id": project.pk})).content.decode()
    assert 'data-testid="critic-recipe-qsit"' in page and 'form="critic-retrain"' in page
    url = reverse("critic:retrain", kwargs={"project_id": project.pk})
    with django_capture_on_commit_callbacks(execute=True):
        client.post(url, {"recipe": "qsit", "ratio_assessment": "1", "ratio_perception": "2", "ratio_general": "0"})
    version = CriticVersion.objects.get(project=project)
    assert version.training_settings["recipe"] == "qsit"
    assert version.training_settings["data"]["groups"] == {"assessment": 1.0, "perception": 2.0, "general": 0.0}
    version.training_composition = {"mix": {"by": "groups", "configured": {"assessment": 0.3333, "perception": 0.6667},
                                            "actual": {"assessment": 0.34, "perception": 0.66}, "counts": {"assessment": 34, "perception": 66},
                                            "missing": []},
                                    "by_task_source": {"scoring": {"koniq": 34}}, "distinct_images": 30,
                                    "notes": ["No authenticity conversations: every labelled training image is a photograph."]}
    version.save(update_fields=["training_composition"])
    shown = client.get(reverse("critic:version", kwargs={"project_id": project.pk, "version_id": version.pk})).content.decode()
    assert "Q-SiT recipe" in shown and 'data-testid="critic-mix"' in shown and "66%" in shown and "koniq 34" in shown
    assert "every labelled training image is a photograph" in shown


def test_retrain_form_refuses_bad_options_with_a_message(client, project, researcher, settings, tmp_path, no_enqueue):
    """All-zero ratios or an unknown recipe queue nothing and say why."""
    settings.LOUPE_CRITIC_DIR = tmp_path
    client.force_login(researcher)
    url = reverse("critic:retrain", kwargs={"project_id": project.pk})
    response = client.post(url, {"recipe": "qsit", "ratio_assessment": "0", "ratio_perception": "0", "ratio_general": "0"}, follow=True)
    assert "must not all be 0" in response.content.decode()
    response = client.post(url, {"recipe": "nonsense"}, follow=True)
    assert "not valid" in response.content.decode()
    assert not CriticVersion.objects.filter(project=project).exists()


def test_api_retrains_with_a_recipe_and_refuses_bad_options(client, project, researcher, settings, tmp_path, no_enqueue):
    """POST retrain {"recipe": "visualcritic"} stores the recipe and its stages; unknown options and a path outside the folder are 400."""
    settings.LOUPE_CRITIC_DIR = tmp_path
    settings.LOUPE_GENERAL_DATA_DIR = str(_general_folder(tmp_path))
    client.force_login(researcher)
    url = reverse("critic_api:critic_retrain", kwargs={"project_id": project.pk})
    bad = client.post(url, {"recipe": "compose", "options": {"colour": "blue"}}, content_type="application/json")
    assert bad.status_code == 400 and "colour" in json.dumps(bad.json())
    outside = client.post(url, {"recipe": "qsit", "options": {"general_data": "../outside.json"}}, content_type="application/json")
    assert outside.status_code == 400 and "not inside the general-data folder" in json.dumps(outside.json())
    assert not CriticVersion.objects.filter(project=project).exists()
    response = client.post(url, {"recipe": "visualcritic"}, content_type="application/json")
    assert response.status_code == 202
    version = CriticVersion.objects.get(pk=response.json()["id"])
    assert version.training_settings["recipe"] == "visualcritic" and len(version.training_settings["stages"]) == 3
    assert version.trigger == CriticVersion.Trigger.API
