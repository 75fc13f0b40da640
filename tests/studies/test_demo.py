"""The demo study: two offline systems on the demo images, for annotator1 and annotator2, made once."""
import pytest
from django.core.management import CommandError, call_command

from studies.demo import DEMO_STUDY_NAME, detailed_answer, terse_answer
from studies.models import Study, Trial

pytestmark = pytest.mark.django_db


def test_seed_demo_study_makes_one_study_with_two_systems_and_trials():
    """seed_demo_study after seed_demo makes the study with both systems' answers and one trial per image; a rerun adds nothing."""
    call_command("seed_demo", "--small")
    call_command("seed_demo_study")
    study = Study.objects.get(name=DEMO_STUDY_NAME)
    assert sorted(study.annotators.values_list("username", flat=True)) == ["annotator1", "annotator2"]
    assert [s.answered_count for s in study.systems.all()] == [study.items.count()] * 2
    assert Trial.objects.filter(study=study).count() == study.items.count() >= 2
    call_command("seed_demo_study", "demo")
    assert Study.objects.filter(name=DEMO_STUDY_NAME).count() == 1


def test_seed_demo_study_needs_the_demo_project():
    """Without seed_demo first there is no project to build the study in: a clear error."""
    with pytest.raises(CommandError, match="run seed_demo first"):
        call_command("seed_demo_study")


def test_demo_answers_follow_the_ground_truth():
    """The detailed answer names the distortion and strength; the terse one misnames it on every third image."""
    truth = {"distortion": "motion_blur", "severity": 4}
    assert "strong motion blur" in detailed_answer(truth) and "poor" in detailed_answer(truth)
    assert "motion blur" in terse_answer(truth, 0) and "motion blur" not in terse_answer(truth, 2)
