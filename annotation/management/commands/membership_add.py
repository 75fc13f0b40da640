"""`manage.py membership_add PROJECT USERNAME --role annotator|researcher`: put an account on a project."""
from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError

from annotation.models import Membership, Project
from annotation.services.projects import membership_add
from config.parsing import parse_int


class Command(BaseCommand):
    help = "Make a user a member of a project (given by slug or id), or change their role in it."

    def add_arguments(self, parser):
        parser.add_argument("project", help="The project's slug or id.")
        parser.add_argument("username")
        parser.add_argument("--role", choices=Membership.Role.values, required=True)

    def handle(self, *args, project, username, role, **options):
        number = parse_int(project)
        lookup = {"pk": number} if number is not None else {"slug": project}
        found = Project.objects.filter(**lookup).first()
        if found is None:
            raise CommandError(f"No project {project!r}.")
        user = get_user_model().objects.filter(username=username).first()
        if user is None:
            raise CommandError(f"No user {username!r}.")
        try:
            membership_add(project=found, user=user, role=role)
        except ValidationError as exc:
            raise CommandError(" ".join(exc.messages)) from None
        self.stdout.write(f"{user.username} is a {role} member of {found.slug}.")
