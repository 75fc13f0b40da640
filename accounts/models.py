"""The user model: a Django user with a role."""
from django.contrib.auth.models import AbstractUser
from django.db import models


class Role(models.TextChoices):
    RESEARCHER = "researcher", "Researcher"
    ANNOTATOR = "annotator", "Annotator"


class User(AbstractUser):
    """A person who logs in. Researchers run projects; annotators only do (and see) their own work.

    Admins are superusers, whatever their role.
    """

    role = models.CharField(max_length=16, choices=Role.choices, default=Role.ANNOTATOR)

    @property
    def is_researcher(self) -> bool:
        return self.is_active and (self.role == Role.RESEARCHER or self.is_superuser)
