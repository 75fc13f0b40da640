"""`manage.py critic_init [--project demo]`: make sure a base critic exists (builds the tiny one if none is configured)."""
from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from annotation.models import Project
from modeling.critic.storage import TINY_BASE_NAME, critic_base_dir, critic_tiny_base_ensure, tiny_base_default


class Command(BaseCommand):
    help = (
        f"Build the tiny random base critic under $LOUPE_VAR_DIR/critic/{TINY_BASE_NAME} when LOUPE_CRITIC_BASE_DIR is empty "
        "(idempotent), or check that the configured checkpoint directory is there."
    )

    def add_arguments(self, parser):
        parser.add_argument("--project", default=None, help="Slug of a project to check exists (e.g. demo).")

    def handle(self, *args, **options):
        slug = options["project"]
        if slug and not Project.objects.filter(slug=slug).exists():
            raise CommandError(f"No project with slug {slug!r}; run seed_demo first.")
        base = critic_base_dir()
        if base == tiny_base_default():
            directory, built = critic_tiny_base_ensure(base)
            self.stdout.write(f"{'Built' if built else 'Found'} the tiny base critic at {directory}.")
        elif not (base / "config.json").is_file():
            raise CommandError(f"LOUPE_CRITIC_BASE_DIR={settings.LOUPE_CRITIC_BASE_DIR} has no config.json.")
        else:
            self.stdout.write(f"Using the checkpoint at {base}.")
        if slug:
            self.stdout.write(f"Project {slug!r}: press Retrain on its Critic tab to train a version.")
