"""A researcher in headless Chromium uploads a zip of general-purpose data on the Critic tab, sees a broken one refused
line by line, picks the stored one in the Retrain options, and removes it."""
import json

import pytest

from modeling.critic.models import CriticVersion, GeneralDataUpload
from tests.factories import ProjectFactory, ResearcherFactory
from tests.modeling.critic.test_general_uploads import ASK, good_zip, make_zip

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_researcher_uploads_picks_and_removes_general_data(page, live_server, login, settings, tmp_path):
    settings.LOUPE_CRITIC_DIR = tmp_path / "critic"
    researcher = ResearcherFactory()
    project = ProjectFactory(created_by=researcher)
    login(page, live_server, researcher)
    page.goto(f"{live_server.url}/projects/{project.pk}/critic/")

    broken = tmp_path / "broken.zip"
    broken.write_bytes(make_zip({"data.json": json.dumps([{"conversations": [ASK, {"from": "gpt", "value": "?"}]}])}))
    page.get_by_test_id("general-upload-file").set_input_files(str(broken))
    page.get_by_test_id("general-upload-form").get_by_role("button", name="Upload").click()
    errors = page.get_by_test_id("general-upload-errors")
    errors.wait_for(timeout=30_000)
    assert "data.json, line 1 (record 1): 1 <image> tokens for 0 images" in errors.inner_text()
    assert not GeneralDataUpload.objects.exists()

    good = tmp_path / "colours.zip"
    good.write_bytes(good_zip())
    page.get_by_test_id("general-upload-file").set_input_files(str(good))
    page.get_by_test_id("general-upload-form").get_by_role("button", name="Upload").click()
    page.get_by_test_id("general-uploads").wait_for(timeout=30_000)
    stored = GeneralDataUpload.objects.get(project=project)
    assert "colours.zip" in page.get_by_test_id("general-uploads").inner_text()

    page.get_by_test_id("critic-recipe-qsit").check()
    page.get_by_text("Options (Q-SiT ratios").click()
    page.get_by_label("General-purpose data").select_option(stored.option)
    page.get_by_test_id("critic-retrain").click()
    page.wait_for_selector("[data-testid=critic-status]", timeout=30_000)
    version = CriticVersion.objects.get(project=project)
    assert version.training_settings["data"]["general_data"] == stored.option

    CriticVersion.objects.filter(pk=version.pk).update(status=CriticVersion.Status.CANCELLED)
    page.reload()
    page.get_by_test_id(f"general-delete-{stored.pk}").click()
    page.get_by_text("Removed colours.zip.").wait_for(timeout=30_000)
    assert not GeneralDataUpload.objects.exists()
