"""App config for studies (blinded side-by-side comparisons of systems' answers)."""
from django.apps import AppConfig


class StudiesConfig(AppConfig):
    name = "studies"
    default_auto_field = "django.db.models.BigAutoField"
