"""The `critic_training_table` command: conversations per task and source, configured vs built mix, distinct images."""
from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from modeling.critic.models import CriticVersion
from tests.modeling.critic.test_recipes import rows  # noqa: F401 -- the fixture: images with MOS, VQA items, paragraphs


def test_table_of_the_qsit_recipe_prints_tasks_sources_and_the_mix(project, rows, settings, tmp_path):  # noqa: F811
    """The Q-SiT recipe's set: a row per task with its sources, the three groups configured vs built, the notes."""
    settings.LOUPE_CRITIC_DIR = tmp_path
    out = StringIO()
    call_command("critic_training_table", str(project.pk), "--recipe", "qsit", stdout=out)
    text = out.getvalue()
    assert "recipe qsit" in text and "distinct images" in text
    lines = {line.split()[0]: line for line in text.splitlines() if line.strip()}
    # The Q-SiT mix draws a share of the scoring conversations, seeded but over database ids (which differ between
    # databases and test orders), so the row may list one source or both; it lists only the fixture's sources.
    scoring_sources = set(lines["scoring"].replace(",", " ").split()) & {"koniq", "spaq"}
    assert scoring_sources and "perception" in lines
    configured, built = (float(value.rstrip("%")) for value in lines["assessment"].split()[1:3])
    assert configured == 22.0  # 1 / (1 + 2.5 + 1.04)
    assert abs(built - 100 / 3.5) <= 5  # general data missing: 1 / (1 + 2.5) of the set, within the ±5% of the mix
    assert "no data for: general" in text and "every labelled training image is a photograph" in text


def test_table_of_a_recorded_version_and_refusals(project, settings, tmp_path):
    """A version's recorded set prints as it was; unknown projects and versions are refused."""
    settings.LOUPE_CRITIC_DIR = tmp_path
    CriticVersion.objects.create(project=project, number=1, base_model_dir="/x", training_settings={"recipe": "depictqa"},
                                 conversation_counts={"description": 3},
                                 training_composition={"by_task_source": {"description": {"koniq": 3}}, "distinct_images": 3, "mix": {}})
    out = StringIO()
    call_command("critic_training_table", str(project.pk), "--critic-version", "1", stdout=out)
    assert "critic v1 (depictqa)" in out.getvalue() and "koniq 3" in out.getvalue()
    with pytest.raises(CommandError, match="no critic v2"):
        call_command("critic_training_table", str(project.pk), "--critic-version", "2")
    with pytest.raises(CommandError, match="No project"):
        call_command("critic_training_table", "999999")
