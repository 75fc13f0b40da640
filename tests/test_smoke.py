"""The factories make a project whose creator manages it."""
from annotation.permissions import can_annotate_project, can_manage_project


def test_creator_manages_project_and_annotator_does_not(project, annotator_member):
    """The project's creator manages it; an annotator member may annotate but not manage."""
    assert can_manage_project(project.created_by, project)
    assert not can_manage_project(annotator_member, project)
    assert can_annotate_project(annotator_member, project)


def test_settings_are_the_test_ones(settings):
    """The suite runs with LOUPE_ENV=test (fast password hashing, no DEBUG)."""
    assert settings.PASSWORD_HASHERS == ["django.contrib.auth.hashers.MD5PasswordHasher"]
    assert settings.DEBUG is False
