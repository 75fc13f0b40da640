"""A researcher in headless Chromium picks a paper's recipe on the Critic tab and retrains; the version keeps the recipe."""
import pytest

from modeling.critic.models import CriticVersion
from tests.factories import ProjectFactory, ResearcherFactory

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_researcher_picks_the_qsit_recipe_with_its_ratios_and_retrains(page, live_server, login, settings, tmp_path):
    """Critic tab → Q-SiT recipe, ratios changed → Retrain (outside the form, in the live part) → the version stores them."""
    settings.LOUPE_CRITIC_DIR = tmp_path
    researcher = ResearcherFactory()
    project = ProjectFactory(created_by=researcher)
    login(page, live_server, researcher)
    page.goto(f"{live_server.url}/projects/{project.pk}/critic/")
    page.get_by_test_id("critic-recipe-qsit").check()
    page.get_by_text("Options (Q-SiT ratios").click()
    page.get_by_label("Perception (D2: descriptions, VQA)").fill("3")
    page.get_by_test_id("critic-retrain").click()
    page.wait_for_selector("[data-testid=critic-status]", timeout=30_000)  # htmx swaps the versions table in
    version = CriticVersion.objects.get(project=project)
    assert version.training_settings["recipe"] == "qsit"
    assert version.training_settings["data"]["groups"] == {"assessment": 1.0, "perception": 3.0, "general": 1.04}
    assert page.get_by_test_id("critic-recipe-qsit").is_checked()  # the form outside the live part keeps the choice
