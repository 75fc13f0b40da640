"""`manage.py user_create USERNAME --role annotator|researcher [--password-stdin]`: a new account."""
import sys

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError

from accounts.users import user_create
from accounts.models import Role


class Command(BaseCommand):
    help = "Create an account. Without --password-stdin it cannot log in until a password is set (a reset link, or the admin)."

    def add_arguments(self, parser):
        parser.add_argument("username")
        parser.add_argument("--role", choices=Role.values, required=True)
        parser.add_argument("--password-stdin", action="store_true", help="Read the password from the first line of standard input.")

    def handle(self, *args, username, role, password_stdin, **options):
        password = sys.stdin.readline().rstrip("\r\n") if password_stdin else None
        if password_stdin and not password:
            raise CommandError("No password on standard input.")
        try:
            user = user_create(username=username, role=role, password=password)
        except ValidationError as exc:
            raise CommandError(" ".join(exc.messages)) from None
        self.stdout.write(f"Created {role} {user.username}" + ("" if password else " (no password yet)") + ".")
