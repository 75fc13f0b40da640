"""Every model of Loupe's own apps is in the Django admin, and its pages open for an admin."""
import pytest
from django.apps import apps
from django.contrib import admin
from django.urls import reverse

from tests.factories import UserFactory

LOUPE_APPS = ("accounts", "annotation", "crowd", "modeling", "evaluation", "exports")


def loupe_models():
    return [model for label in LOUPE_APPS for model in apps.get_app_config(label).get_models()]


def test_every_model_is_registered():
    """No model of Loupe's apps is missing from the admin."""
    missing = [model.__name__ for model in loupe_models() if model not in admin.site._registry]
    assert missing == []


@pytest.mark.django_db
@pytest.mark.parametrize("model", loupe_models(), ids=lambda m: m._meta.label)
def test_admin_list_and_add_pages_open(client, model):
    """An admin opens each model's list and add pages."""
    client.force_login(UserFactory(is_staff=True, is_superuser=True))
    opts = model._meta
    assert client.get(reverse(f"admin:{opts.app_label}_{opts.model_name}_changelist")).status_code == 200
    assert client.get(reverse(f"admin:{opts.app_label}_{opts.model_name}_add")).status_code == 200


@pytest.mark.django_db
def test_annotator_cannot_enter_the_admin(client):
    """A non-staff annotator is sent to the admin login, not shown the admin."""
    client.force_login(UserFactory())
    response = client.get(reverse("admin:index"))
    assert response.status_code == 302 and "/admin/login/" in response["Location"]
