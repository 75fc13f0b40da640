"""Fixtures shared by all tests: users, a project, an isolated media root."""
import pytest

from tests.factories import AnnotatorFactory, MembershipFactory, ProjectFactory, ResearcherFactory


@pytest.fixture(autouse=True)
def _media_root(settings, tmp_path):
    """Every test writes its files under its own temporary media root."""
    settings.MEDIA_ROOT = tmp_path / "media"


@pytest.fixture
def researcher(db):
    return ResearcherFactory()


@pytest.fixture
def annotator(db):
    return AnnotatorFactory()


@pytest.fixture
def project(db, researcher):
    return ProjectFactory(created_by=researcher)


@pytest.fixture
def annotator_member(project, annotator):
    MembershipFactory(project=project, user=annotator)
    return annotator
