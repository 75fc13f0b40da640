"""`manage.py seed_demo`: build the demo project, its images and its accounts, offline and reproducibly."""
import time

from django.core.management.base import BaseCommand, CommandError

from annotation.services.demo import DEMO_PASSWORD, demo_seed


class Command(BaseCommand):
    help = (
        "Create the demo project (slug 'demo'): scikit-image's bundled photographs with ImageNet-C style "
        "distortions at severities 1-5, and the accounts researcher, annotator1 and annotator2. "
        "Needs no network; running it again changes nothing."
    )

    def add_arguments(self, parser):
        parser.add_argument("--small", action="store_true", help="Only 2 photographs and 3 distortions (32 images), for tests.")
        parser.add_argument("--password", default=DEMO_PASSWORD, help=f"Password of newly created demo accounts (default {DEMO_PASSWORD!r}).")

    def handle(self, *args, small: bool, password: str, **options):
        started = time.perf_counter()
        try:
            summary = demo_seed(small=small, password=password)
        except ValueError as exc:
            raise CommandError(str(exc)) from exc
        elapsed = time.perf_counter() - started

        project = summary.project
        self.stdout.write(f"Project '{project.name}' (slug {project.slug}): {'created' if summary.project_created else 'already existed'}")
        batch = f" in import batch #{summary.batch.pk}" if summary.batch else ""
        self.stdout.write(
            f"Images: {summary.imported} imported{batch}, {summary.already_present} already present, "
            f"{len(summary.errors)} errors ({elapsed:.1f} s)"
        )
        for error in summary.errors:
            self.stderr.write(f"  {error}")
        self.stdout.write(f"Memberships: {summary.memberships_created} created")
        self.stdout.write("Logins:")
        for account in summary.accounts:
            secret = f"password {summary.password}" if account.created else "already existed, password unchanged"
            self.stdout.write(f"  {account.username:<12} {account.role:<11} {secret}")
        if summary.errors:
            raise CommandError(f"{len(summary.errors)} demo images could not be imported")
        self.stdout.write(self.style.SUCCESS("Demo ready."))
